"""analytics(): constant queries, caching with invalidation by the api, CSV rows and their download views."""
import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.figures import exports
from activation_plugin.models import ActivationDefinition, ActivationWindow, MetricSource
from tests.conftest import NOW, PROJECT, committed
from tests.factories import UserFactory
from tests.figures_data import CLOSED_AT, add_deliveries, add_evidence, make_windows, observe, source

PROMPTED_PROJECT = {**PROJECT, "prompts": [{"send_after_days": 1, "subject": "How?", "body": "Tell us."}]}
METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


def populate(definition, other_run, scale):
    """Every kind of row a figure reads, ``scale`` times over."""
    for arm, cohort in (("prompted", "A"), ("holdout", "B")):
        activated = make_windows(definition, 3 * scale, state="activated", arm=arm, cohort=cohort)
        expired = make_windows(definition, 4 * scale, state="expired", arm=arm, course_run=other_run,
                               opened_at=CLOSED_AT - timedelta(days=5), enrollment_mode="audit")
        make_windows(definition, 2 * scale, state="open", arm=arm, opened_at=NOW - timedelta(days=3))
        add_evidence(activated, copies=2)
        add_evidence(expired[:scale], status="submitted")
        add_deliveries(activated + expired)
        for window in activated + expired:
            observe(window.user, "csat", window.opened_at - timedelta(days=2), 3.0)
            observe(window.user, "csat", window.opened_at + timedelta(days=2), 3.5)
    observe(None, "csat", NOW, 1.0)


def queries_of(function, *args, **kwargs):
    with CaptureQueriesContext(connection) as captured:
        function(*args, **kwargs)
    return len(captured)


def test_analytics_runs_a_fixed_number_of_queries_whatever_the_size(
        make_definition, course_key, other_run, django_assert_max_num_queries, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # every figure computed, none hidden
    small = make_definition(requirements=[PROMPTED_PROJECT, METRIC], holdout_percent=20, name="small")
    large = make_definition(requirements=[PROMPTED_PROJECT, METRIC], holdout_percent=20, name="large",
                            supersede=True)
    populate(small, other_run, 1)
    populate(large, other_run, 4)
    # 17: the course effect reads the completers' periods and their untrained colleagues (issue 26).
    # 18: the windows closing today are read in two parts (issue 34): which side of now is smaller,
    # and the running ones' opening times, from the index alone; then that side's rows.
    # 19: the cells as their totals (one row per cell) minus their rows closing from today on (issue 33).
    with django_assert_max_num_queries(19):
        figures = api.analytics(large, now=NOW)
    assert queries_of(api.analytics, small, now=NOW) == queries_of(api.analytics, large, now=NOW + timedelta(1))
    assert figures["summary"]["completers"] == 72
    assert [run["completers"] for run in figures["runs"]["runs"]] == [32, 40]  # the older run first
    assert figures["arms"]["difference"] == pytest.approx(0)
    assert figures["kpi"][0]["activated"]["n"] == 24
    assert figures["did"][0]["treated"]["n"] == 28
    assert set(figures["segments"]) == {"enrollment_mode", "org", "cohort"}


def test_a_slow_definition_shows_its_last_figures_while_a_refresh_runs(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    opened = timezone.now() - timedelta(days=2)
    windows = [api.open_windows(user.pk, course_key, "passing", opened)[0] for user in UserFactory.create_batch(6)]
    scheduled = []

    def refresh(definition_id, _visible_runs):
        scheduled.append(definition_id)

    settings.ACTIVATION_FIGURES_SYNC_SECONDS = 3600  # fast enough: computed during the request
    assert "stale" not in api.page_figures(definition, refresh)
    settings.ACTIVATION_FIGURES_SYNC_SECONDS = -1  # every computation now counts as slow
    with committed():
        api.record_evidence(window=windows[0], requirement=definition.requirements.get(), source="learner",
                            payload={"text": "did it"}, idempotency_key="slow-1")
    shown = api.page_figures(definition, refresh)
    assert shown["stale"] is True and shown["summary"]["open_activated"] == 0 and scheduled == [definition.pk]
    assert api.page_figures(definition, refresh)["stale"] and scheduled == [definition.pk]  # one refresh
    api.analytics(definition)  # what the refresh_figures task runs
    fresh = api.page_figures(definition, refresh)
    assert "stale" not in fresh and fresh["summary"]["open_activated"] == 1
    with committed():
        api.record_evidence(window=windows[1], requirement=definition.requirements.get(), source="learner",
                            payload={"text": "me too"}, idempotency_key="slow-2")
    assert api.page_figures(definition, refresh)["stale"] and scheduled == [definition.pk] * 2


def test_analytics_is_served_from_the_cache_until_the_api_changes_something(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    opened = timezone.now() - timedelta(days=2)
    windows = [api.open_windows(user.pk, course_key, "passing", opened)[0] for user in UserFactory.create_batch(6)]
    assert api.analytics(definition)["summary"]["open_activated"] == 0
    with CaptureQueriesContext(connection) as captured:
        cached = api.analytics(definition)
    assert len(captured) == 0 and cached["summary"]["open_activated"] == 0

    with committed():
        api.record_evidence(window=windows[0], requirement=definition.requirements.get(), source="learner",
                            payload={"text": "did it"}, idempotency_key="cache-test")
    assert api.analytics(definition)["summary"]["open_activated"] == 1  # at once, not after the cache expires

    api.open_windows(UserFactory().pk, course_key, "passing", opened)
    assert api.analytics(definition)["summary"]["completers"] == 7

    api.opt_out(windows[1].user_id)  # from every definition
    assert api.analytics(definition)["summary"]["opted_out"] == 1

    api.update_definition(definition, name="Renamed")
    assert queries_of(api.analytics, definition) > 0


def test_a_kpi_observation_refreshes_every_definitions_figures(make_definition):
    definition = make_definition(requirements=[PROJECT, METRIC])
    assert api.analytics(definition)["data_quality"]["unmatched_identities"] == 0
    api.ingest_observations(source(), [{"metric": "csat", "external_id": "nobody@example.com",
                                        "observed_at": timezone.now(), "value": 3.0}])
    assert api.analytics(definition)["data_quality"]["unmatched_identities"] == 1
    # Linking that id to a learner matches the stored observation: the figures say so at once.
    api.link_identities(MetricSource.objects.get(), [("nobody@example.com", UserFactory())])
    assert api.analytics(definition)["data_quality"]["unmatched_identities"] == 0


def test_the_refresh_is_repeated_after_commit(make_definition, django_capture_on_commit_callbacks):
    definition = make_definition()
    with django_capture_on_commit_callbacks() as callbacks:
        api.update_definition(definition, name="Renamed")
    assert callbacks  # what replaces the version again once the writer's transaction is visible to readers
    api.analytics(definition)  # a reader caches figures under the version replaced inside the transaction
    for callback in callbacks:
        callback()
    assert queries_of(api.analytics, definition) > 0


def test_an_explicit_moment_is_cached_under_its_own_key(make_definition, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    make_windows(definition, 6, state="open", opened_at=NOW - timedelta(days=29))
    assert api.analytics(definition, now=NOW)["summary"]["open"] == 6
    assert api.analytics(definition, now=NOW + timedelta(days=2))["summary"]["open"] == 0


def test_windows_csv_is_read_page_by_page(make_definition, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(exports, "PAGE_SIZE", 2)
    definition = make_definition()
    windows = make_windows(definition, 5, state="expired", cohort="=HYPERLINK(\"http://evil\")")
    add_evidence(windows[:1], status="submitted")
    add_evidence(windows[:1], copies=2)
    add_evidence(windows[:1], status="rejected")
    make_windows(definition, 1, state="withdrawn")
    rows = api.windows_csv_rows(definition, definition.course_key)
    with django_assert_num_queries(1):
        header, first = next(rows), next(rows)
    rest = list(rows)
    assert header == [name for name, _field in exports.WINDOW_COLUMNS]
    assert [row[0] for row in [first, *rest]] == [window.pk for window in windows]
    by_name = dict(zip(header, first))
    assert (by_name["evidence_submitted"], by_name["evidence_verified"]) == (1, 2)
    assert by_name["cohort"].startswith("'=")  # a spreadsheet shows it as text instead of running it
    assert by_name["opened_at"] == CLOSED_AT.isoformat()


def test_evidence_csv_leaves_out_rejected_and_withdrawn(make_definition):
    definition = make_definition()
    windows = make_windows(definition, 2, state="expired")
    add_evidence(windows[:1], status="submitted")
    add_evidence(windows[1:], status="rejected")
    add_evidence(make_windows(definition, 1, state="withdrawn"))
    header, *rows = list(api.evidence_csv_rows(definition, definition.course_key))
    assert [dict(zip(header, row))["window_id"] for row in rows] == [windows[0].pk]
    assert dict(zip(header, rows[0]))["payload"] == "{}"


def test_figures_csv_flattens_every_figure_and_keeps_suppression(make_definition, course_key):
    definition = make_definition()
    make_windows(definition, 8, state="activated", cohort="big")
    make_windows(definition, 12, state="expired", cohort="big")
    make_windows(definition, 2, state="expired", cohort="tiny")
    figures = api.analytics(definition, now=NOW)
    header, *rows = list(api.figures_csv_rows(figures))
    assert header == ["figure", "group", "value"]
    values = {(figure, group): value for figure, group, value in rows}
    assert values[("summary.rate", "")] == pytest.approx(8 / 22)
    assert values[("summary.rate_ci.low", "")] < values[("summary.rate_ci.high", "")]
    assert values[("segments.cohort.rate", "value=tiny")] == ""
    assert values[("segments.cohort.suppressed", "value=tiny")] is True
    assert values[("funnel.prompted.count", "stage=completed")] == 22
    assert values[("summary.km_band.low", "day=3")] == figures["summary"]["km_band"][0]["low"]
    assert values[("summary.km_curve.survival", "day=30")] == pytest.approx(14 / 22)


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


@pytest.mark.parametrize("name", ["export_windows", "export_evidence", "export_figures"])
def test_download_views_stream_csv_to_course_staff_only(make_definition, course_key, staff_client, name):
    definition = make_definition()
    add_evidence(make_windows(definition, 6, state="activated"))
    url = reverse(f"activation_plugin:{name}", kwargs={"course_id": str(course_key), "definition_id": definition.pk})
    response = staff_client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) > 6
    staff_client.force_login(UserFactory())
    assert staff_client.get(url).status_code == 403


def test_download_of_another_courses_definition_is_not_found(make_definition, course_key, staff_client):
    elsewhere = ActivationDefinition.objects.create(course_key="course-v1:Other+X+1", catalog_course="Other+X",
                                                    name="x", behavior="x", window_days=5, holdout_seed="s")
    url = reverse("activation_plugin:export_figures", kwargs={"course_id": str(course_key),
                                                              "definition_id": elsewhere.pk})
    assert staff_client.get(url).status_code == 404


@pytest.mark.slow
def test_the_seeded_demo_shows_the_run_improvement_with_its_uncertainty(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=io.StringIO())
    definition = ActivationDefinition.objects.get()
    # As the demo's instructor, staff of both runs, sees it: for a viewer who sees neither, a run whose
    # last windows ended a few at a time is held hidden (issue 27: figures.release).
    runs = ActivationWindow.objects.filter(definition=definition).values_list("course_run", flat=True)
    figures = api.analytics(definition, visible_runs={str(run) for run in runs})
    [difference] = figures["runs"]["differences"]
    first, second = figures["runs"]["runs"]
    assert first["rate"] < second["rate"] and difference["difference"] > 0.05
    assert difference["ci"][0] < difference["difference"] < difference["ci"][1]
    assert 0 < difference["p_value"] < 1 and difference["suppressed"] is False
    assert figures["arms"]["arms"][0]["arm"] == "holdout"
    assert figures["funnel"]["holdout"][1]["count"] in (0, None)  # the holdout is never prompted
