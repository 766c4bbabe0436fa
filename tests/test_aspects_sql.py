"""
The dbt models for Aspects (activation_plugin/aspects/dbt) on the real ClickHouse engine (chdb):
statements made by the real ERB transformers from the plugin's events, loaded into Aspects' xAPI
table, give the figures of ``summarize`` and ``funnel_counts`` on the same data, as of one instant.
"""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from activation_plugin import api
from activation_plugin.figures.headline import funnel_counts
from activation_plugin.models import ActivationDefinition, Review
from activation_plugin.test_utils.factories import UserFactory
from tests.aspects_support import chart_queries, statements, superset_assets
from tests.conftest import PROJECT

STAFF_PROJECT = {**PROJECT, "verification": "staff",
                 "prompts": [{"send_after_days": 0, "subject": "Hi", "body": "Show us: {link}"}]}


def assert_same_figures(warehouse, definition, as_of):
    summary = api.summarize(definition, now=as_of)
    [rate] = warehouse.rows(f"SELECT * FROM reporting.activation_rates WHERE definition_id = {definition.pk} "
                            "AND breakdown = 'all'")
    assert (rate["completers"], rate["eligible"], rate["activated"], rate["open"], rate["open_activated"]) == (
        summary["completers"], summary["eligible"], summary["activated"], summary["open"], summary["open_activated"])
    assert rate["rate"] == pytest.approx(summary["rate"])
    assert (rate["rate_low"], rate["rate_high"]) == pytest.approx(summary["rate_ci"])
    curve = warehouse.rows(f"SELECT * FROM reporting.activation_km WHERE definition_id = {definition.pk} ORDER BY day")
    assert [(row["day"], row["at_risk"], row["events"], row["censored"]) for row in curve] == [
        (point.day, point.at_risk, point.events, point.censored) for point in summary["km_curve"]]
    for row, point in zip(curve, summary["km_curve"]):
        assert (row["survival"], row["low"], row["high"]) == pytest.approx((point.survival, point.low, point.high))
    assert curve[0]["activated_by_window_end"] == pytest.approx(summary["km_rate"])
    funnel = {row["arm"]: row for row in warehouse.rows(
        f"SELECT * FROM reporting.activation_funnel WHERE definition_id = {definition.pk}")}
    for arm, counts in funnel_counts(definition, as_of).items():
        if counts["completed"]:
            assert {stage: funnel[arm][stage] for stage in ("completed", "prompted", "activated")} == {
                stage: counts[stage] for stage in ("completed", "prompted", "activated")}, arm
            # Evidence rejected later still responded, or was verified, in the statements.
            assert funnel[arm]["responded"] >= counts["responded"] and funnel[arm]["verified"] >= counts["verified"]
    runs = warehouse.rows(f"SELECT * FROM reporting.activation_rates WHERE definition_id = {definition.pk} "
                          "AND breakdown = 'run' ORDER BY value")
    assert sum(row["eligible"] for row in runs) == summary["eligible"]
    return summary, rate, curve


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # ids from 1: the holdout is drawn from them
def test_the_models_give_the_page_s_figures_through_reversal_withdrawal_and_retirement(
        erb, events, aspects, make_definition, course_key, staff_user, settings, mailoutbox):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # the page's figures unsuppressed, as the warehouse has them
    definition = make_definition(requirements=[STAFF_PROJECT], window_days=30, holdout_percent=30)
    [project] = definition.requirements.all()
    now = timezone.now()
    learners = UserFactory.create_batch(16)
    windows = []
    for number, learner in enumerate(learners):
        # Half the cohort's windows have ended; some opened at another time of day than now.
        opened = now - timedelta(days=45 - 3 * number, hours=number % 5)
        windows += api.open_windows(learner.pk, course_key, "passing", opened)
    api.tick(now=now)
    for number, window in enumerate(windows):
        if number % 3 == 0:
            evidence = api.record_evidence(
                window=window, requirement=project, source="learner", payload={"text": "Used it."},
                idempotency_key=f"p{number}", submitted_at=window.opened_at + timedelta(days=number % 7))
            api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=staff_user)
    reversed_window = windows[12]  # running, activated: the staff reversal reopens it
    api.review_evidence(reversed_window.evidence.get(), verdict="rejected", role=Review.Role.STAFF,
                        reviewer=UserFactory(is_staff=True))
    api.withdraw_window(learners[3], course_key, windows[3].pk)
    api.retire_user(learners[6].pk)
    erb.retire(learners[6])

    as_of = timezone.now()
    warehouse = aspects(as_of)
    warehouse.load(statements(events()))
    summary, rate, curve = assert_same_figures(warehouse, definition, as_of)
    assert 0 < summary["activated"] < summary["eligible"] and summary["open"] and len(curve) > 3
    arms = {row["value"]: row for row in warehouse.rows("SELECT * FROM reporting.activation_rates "
                                                        "WHERE breakdown = 'arm'")}
    assert sum(row["completers"] for row in arms.values()) == rate["completers"]

    # The dashboard's charts run on the same models, and agree with them.
    charts = {title: warehouse.rows(sql) for title, sql in chart_queries(superset_assets()).items()}
    assert set(charts) == {"Activation rate by run", "Activation rate over time", "Prompted vs holdout",
                           "Activation funnel", "Time to activation", "Activation by segment"}
    assert all(charts.values())
    [run] = charts["Activation rate by run"]
    assert (run["Ended windows"], run["Activated"]) == (summary["eligible"], summary["activated"])
    assert (run["95% low"], run["95% high"]) == pytest.approx(summary["rate_ci"])
    assert {row["arm"] for row in charts["Activation funnel"]} == {"prompted", "holdout"}
    assert [row["day"] for row in charts["Time to activation"]] == [point.day for point in summary["km_curve"]]
    assert sum(row["Completers"] for row in charts["Activation by segment"]) == summary["completers"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_models_give_the_page_s_figures_on_the_demo_course(erb, events, aspects, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    with open("/dev/null", "w", encoding="utf-8") as quiet:
        call_command("seed_demo", stdout=quiet)
    [definition] = ActivationDefinition.objects.all()
    activated = definition.windows.filter(state="activated").order_by("pk")[0]
    api.review_evidence(activated.evidence.filter(status="verified")[0], verdict="rejected",
                        role=Review.Role.STAFF, reviewer=UserFactory(is_staff=True))
    leaving = definition.windows.filter(state="activated").order_by("-pk")[0]
    api.withdraw_window(leaving.user, leaving.course_run, leaving.pk)
    as_of = timezone.now()
    warehouse = aspects(as_of)
    warehouse.load(statements(events()))
    summary, _rate, _curve = assert_same_figures(warehouse, definition, as_of)
    assert summary["completers"] > 150
