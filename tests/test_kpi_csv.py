"""CSV uploads from staff: preview first, then everything or nothing; and the data-quality pages."""
import io
from datetime import timedelta

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import csv_import
from activation_plugin.models import Evidence, IdentityLink, MetricObservation, MetricSource
from demo.models import DemoCourse
from tests.factories import UserFactory

KPI = {"kind": "metric", "title": "Handle time", "config": {"metric": "aht", "threshold": 300, "direction": "lower"}}


@pytest.fixture(autouse=True)
def csv_source(settings, course_key, tmp_path):
    settings.ACTIVATION_METRIC_SOURCES = {
        "hr-upload": {"kind": "csv", "courses": [f"{course_key.org}+{course_key.course}"]},
        "other-upload": {"kind": "csv", "courses": ["Else+X"]},
    }
    settings.MEDIA_ROOT = str(tmp_path)


def csv_text(rows, header="external_id,metric,value,observed_at"):
    return "\n".join([header, *rows]) + "\n"


def upload(client, course_key, text, source="hr-upload", kind="observations"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(reverse("activation_plugin:kpi_preview", kwargs={"course_id": str(course_key)}), {
        "source": source, "kind": kind, "file": SimpleUploadedFile("kpi.csv", data, content_type="text/csv")})


def commit(client, course_key, response):
    return client.post(reverse("activation_plugin:kpi_commit", kwargs={"course_id": str(course_key)}),
                       {"token": response.context["token"]}, follow=True)


def when(days):
    return (timezone.now() - timedelta(days=days)).isoformat()


@pytest.fixture
def completer(learner, course_key, make_definition):
    """A learner of the course run: course staff upload observations about their own learners only."""
    make_definition(requirements=[KPI])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=5))
    return learner


def test_preview_shows_rows_matches_and_errors_and_writes_nothing(client, course_staff, course_key, completer):
    learner = completer
    client.force_login(course_staff)
    response = upload(client, course_key, csv_text([
        f"{learner.email},aht,280,{when(1)}", f"EMP-9,aht,290,{when(1)}", f"{learner.email},aht,fast,{when(1)}",
        f"{learner.email},aht,1,not-a-date"]))
    report = response.context["preview"]
    assert (report["rows"], report["valid"], report["error_count"]) == (4, 2, 2)
    assert [error["line"] for error in report["errors"]] == [4, 5]
    assert [row["match"] for row in report["shown"]] == ["matched", "unmatched"]
    assert report["unmatched_ids"] == ["EMP-9"] and response.context["token"] == ""
    assert b"Store all rows" not in response.content and not MetricObservation.objects.exists()


def test_commit_stores_every_row_and_evaluates_evidence(client, course_staff, course_key, completer):
    client.force_login(course_staff)
    response = upload(client, course_key, csv_text([f"{completer.email},aht,280,{when(1)}",
                                                    f"{completer.email},aht,290,{when(2)}"]))
    done = commit(client, course_key, response)
    assert "2 observations stored" in done.content.decode()
    assert MetricObservation.objects.count() == 2 and Evidence.objects.get().source == "metric"
    again = commit(client, course_key, response)  # the stored file is gone after a commit
    assert "expired" in again.content.decode() and MetricObservation.objects.count() == 2


def test_global_staff_store_ids_that_match_nobody_yet(client, staff_user, course_key, completer):
    client.force_login(staff_user)
    rows = [f"{completer.email},aht,280,{when(1)}", f"EMP-9,aht,290,{when(1)}"]
    response = upload(client, course_key, csv_text(rows))
    assert "2 observations stored" in commit(client, course_key, response).content.decode()
    assert MetricObservation.objects.filter(user__isnull=True).count() == 1


@pytest.fixture
def shared_source(settings, course_key):
    """One HR export source both courses may upload to, as operators share them."""
    settings.ACTIVATION_METRIC_SOURCES = {"hr-upload": {"kind": "csv", "courses": [
        f"{course_key.org}+{course_key.course}", "TestX+OTHERCOURSE"]}}


def test_course_staff_cannot_store_observations_about_another_courses_learner(client, course_staff, course_key,
                                                                              shared_source, make_definition):
    """Staff of course A used to store KPI values for a learner of course B and activate B's window."""
    other_course = CourseKey.from_string("course-v1:TestX+OTHERCOURSE+2026")
    DemoCourse.objects.create(course_key=other_course, display_name="Another course")
    other_definition = make_definition(course_key=other_course, requirements=[KPI])
    outsider = UserFactory(username="bea", email="bea@example.com")
    [other_window] = api.open_windows(outsider.pk, other_course, "passing", timezone.now() - timedelta(days=5))
    client.force_login(course_staff)
    response = upload(client, course_key, csv_text([f"{outsider.email},aht,100,{when(1)}"]))
    report = response.context["preview"]
    assert report["matched_ids"] == 0 and report["unmatched_ids"] == [outsider.email] and report["blocked"]
    assert response.context["token"] == "" and b'data-blocked="outsiders"' in response.content
    source = MetricSource.objects.get(name="hr-upload")
    records = csv_import.observation_records(io.BytesIO(csv_text([f"{outsider.email},aht,100,{when(1)}"]).encode()))
    with pytest.raises(ActivationRequestError, match="not a learner of this course"):
        api.ingest_observations(source, records, strict=True, learners=set())
    other_window.refresh_from_db()
    assert other_window.definition == other_definition
    assert other_window.state == "open" and not MetricObservation.objects.exists()


def test_the_preview_does_not_tell_whether_an_account_exists(client, course_staff, course_key, shared_source):
    UserFactory(username="somebody", email="somebody@example.com")
    client.force_login(course_staff)

    def answer(external_id):
        report = upload(client, course_key, csv_text([f"{external_id},aht,100,{when(1)}"])).context["preview"]
        return (report["matched_ids"], report["unmatched_count"], [row["match"] for row in report["shown"]],
                report["ambiguous_ids"])

    assert answer("somebody@example.com") == answer("nobody@example.com") == (0, 1, ["unmatched"], [])


def test_a_file_changed_between_preview_and_commit_is_refused(client, course_staff, course_key, completer):
    learner = completer
    client.force_login(course_staff)
    response = upload(client, course_key, csv_text([f"{learner.email},aht,280,{when(1)}"]))
    upload_info = signing.loads(response.context["token"], salt="activation_plugin.kpi.csv-upload")
    with default_storage.open(upload_info["path"], "wb") as stored:
        stored.write(csv_text([f"{learner.email},aht,1,{when(1)}"] * 2).encode())
    assert "expired" in commit(client, course_key, response).content.decode()
    assert not MetricObservation.objects.exists()


def test_strict_ingest_rolls_back_a_whole_file(db, settings):
    settings.ACTIVATION_METRIC_BATCH_SIZE = 2
    source = MetricSource.objects.create(name="hr-upload", kind="csv")
    rows = [f"E{n},aht,{n},{when(1)}" for n in range(5)] + ["E9,aht,x,2026-01-01"]
    with pytest.raises(ActivationRequestError, match="Record 6"), transaction.atomic():
        api.ingest_observations(source, csv_import.observation_records(io.BytesIO(csv_text(rows).encode())),
                                strict=True)
    assert not MetricObservation.objects.exists()


def test_staff_of_other_courses_and_other_sources_are_refused(client, course_key, course_staff, learner):
    client.force_login(learner)
    assert upload(client, course_key, csv_text([])).status_code == 403
    client.force_login(course_staff)
    assert upload(client, course_key, csv_text([]), source="other-upload").status_code == 404


def test_a_file_without_the_columns_or_not_utf8_gets_a_clear_message(client, course_staff, course_key):
    client.force_login(course_staff)
    response = upload(client, course_key, "id,value\n1,2\n")
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "lacks the column(s) external_id, metric, observed_at" in page
    page = client.get(upload(client, course_key, b"\xff\xfe\x00bad").url).content.decode()
    assert "not UTF-8" in page


def test_identity_links_from_a_csv_fix_old_observations(client, course_staff, course_key, learner, make_definition):
    make_definition(requirements=[KPI])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=5))
    source = MetricSource.objects.create(name="hr-upload", kind="csv")
    api.ingest_observations(source, [{"external_id": "EMP-1", "metric": "aht", "value": 200, "observed_at": when(1)}])
    outsider = UserFactory(username="outsider")
    client.force_login(course_staff)
    refused = upload(client, course_key, "external_id,user\nEMP-2,outsider\n", kind="links")
    assert refused.context["preview"]["error_count"] == 1  # not a learner of this course
    response = upload(client, course_key, f"external_id,user\nEMP-1,{learner.username}\n", kind="links")
    assert "1 ids linked; 1 observations re-matched" in commit(client, course_key, response).content.decode()
    assert IdentityLink.objects.get().user == learner and MetricObservation.objects.get().user == learner
    assert Evidence.objects.get().window.user == learner and outsider.pk


def test_the_data_quality_pages(client, course_staff, course_key, learner, staff_user):
    source = MetricSource.objects.create(name="hr-upload", kind="csv", last_error="HTTP 503 from api", failing=True)
    api.ingest_observations(source, [{"external_id": "ghost", "metric": "aht", "value": 1, "observed_at": when(1)}])
    client.force_login(course_staff)
    page = client.get(reverse("activation_plugin:kpi", kwargs={"course_id": str(course_key)})).content.decode()
    assert "hr-upload" in page and "failing" in page and "HTTP 503 from api" in page and "ghost" not in page
    assert client.get(reverse("activation_plugin:kpi_sources")).status_code == 403
    client.force_login(staff_user)
    response = client.get(reverse("activation_plugin:kpi_sources"))
    row = next(row for row in response.context["rows"] if row["source"].name == "hr-upload")
    assert (row["observations"], row["matched"], row["unmatched"]) == (1, 0, ["ghost"])


def test_the_data_quality_pages_write_nothing_on_a_get(client, course_staff, course_key, staff_user, settings):
    """A declared source that never delivered is listed, with no figures, and no row is created by looking."""
    settings.ACTIVATION_METRIC_SOURCES = {**settings.ACTIVATION_METRIC_SOURCES, "never-run": {"kind": "csv"}}
    before = MetricSource.objects.count()
    client.force_login(course_staff)
    page = client.get(reverse("activation_plugin:kpi", kwargs={"course_id": str(course_key)})).content.decode()
    client.force_login(staff_user)
    response = client.get(reverse("activation_plugin:kpi_sources"))
    row = next(row for row in response.context["rows"] if row["source"].name == "never-run")
    assert "never-run" in page and (row["observations"], row["unmatched"]) == (0, [])
    assert MetricSource.objects.count() == before


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.lists(st.lists(CELL, min_size=0, max_size=6), max_size=6).map(
    lambda rows: "\n".join(",".join(cells) for cells in [["external_id", "metric", "value", "observed_at"], *rows])
    .encode())))
def test_any_file_gets_a_preview_or_a_message_and_never_a_partial_write(client, course_staff, course_key, data):
    client.force_login(course_staff)
    response = upload(client, course_key, data)
    assert response.status_code in (200, 302)
    if response.status_code == 200 and response.context["token"]:
        before = MetricObservation.objects.count()
        done = commit(client, course_key, response).content.decode()
        stored = MetricObservation.objects.count() - before
        # a preview without errors commits (rows repeated in the file are stored once)
        valid = response.context["preview"]["valid"]
        assert "observations stored" in done and stored <= valid and (stored > 0) == (valid > 0)
    elif response.status_code == 200:
        assert response.context["preview"]["error_count"] > 0


@pytest.mark.parametrize("taken_by", ["explicit link", "email"])
def test_staff_of_one_run_cannot_repoint_another_run_s_external_id(client, course_staff, course_key, other_run,
                                                                   make_definition, taken_by):
    """T1's staff uploaded ``EMP-130,learner003`` where EMP-130 was a T2 learner's: T2's observations moved."""
    make_definition(requirements=[KPI])
    mine, theirs = UserFactory(username="learner003"), UserFactory(username="t2", email="t2@example.com")
    api.open_windows(mine.pk, course_key, "passing", timezone.now() - timedelta(days=5))
    api.open_windows(theirs.pk, other_run, "passing", timezone.now() - timedelta(days=5))
    source = MetricSource.objects.create(name="hr-upload", kind="csv")
    taken = "EMP-130" if taken_by == "explicit link" else theirs.email
    if taken_by == "explicit link":
        api.link_identities(source, [(taken, theirs)])  # by T2's staff, or an operator
    api.ingest_observations(source, [{"external_id": taken, "metric": "aht", "value": 200, "observed_at": when(1)},
                                     {"external_id": "EMP-9", "metric": "aht", "value": 250, "observed_at": when(1)}])
    client.force_login(course_staff)
    response = upload(client, course_key, f"external_id,user\n{taken},learner003\nEMP-9,learner003\n", kind="links")
    assert response.context["preview"]["error_count"] == 1 and not response.context["token"]
    with pytest.raises(ActivationRequestError, match="outside your course run"):  # the api refuses it too
        api.link_identities(source, [(taken, mine), ("EMP-9", mine)], allowed_users=[mine.pk])
    assert MetricObservation.objects.get(external_id=taken).user == theirs
    assert not IdentityLink.objects.filter(user=mine).exists()
    response = upload(client, course_key, "external_id,user\nEMP-9,learner003\n", kind="links")
    assert "1 ids linked; 1 observations re-matched" in commit(client, course_key, response).content.decode()


def test_the_links_preview_marks_an_id_of_another_run_s_learner(client, course_staff, course_key, other_run,
                                                                make_definition):
    make_definition(requirements=[KPI])
    mine, theirs = UserFactory(username="learner003"), UserFactory(username="t2")
    api.open_windows(mine.pk, course_key, "passing", timezone.now() - timedelta(days=5))
    api.open_windows(theirs.pk, other_run, "passing", timezone.now() - timedelta(days=5))
    source = MetricSource.objects.create(name="hr-upload", kind="csv")
    api.link_identities(source, [("EMP-130", theirs)])
    client.force_login(course_staff)
    report = upload(client, course_key, "external_id,user\nEMP-9,learner003\nEMP-130,learner003\n",
                    kind="links").context["preview"]
    assert report["error_count"] == 1
    assert (report["errors"][0]["line"], report["errors"][0]["field"]) == (3, "external_id")
