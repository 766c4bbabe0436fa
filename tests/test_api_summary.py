from datetime import timedelta

import pytest
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

from activation_plugin import api
from activation_plugin.test_utils.factories import UserFactory
from tests.conftest import NOW


def open_for(definition, course_key, n, opened_at):
    return [api.open_windows(u.pk, course_key, "passing", opened_at)[0] for u in UserFactory.create_batch(n)]


def activate(window, day):
    api.record_evidence(window=window, requirement=window.definition.requirements.get(), source="learner",
                        payload={"text": "did it"}, idempotency_key=f"w{window.pk}",
                        submitted_at=window.opened_at + timedelta(days=day))


def test_empty_definition(make_definition):
    summary = api.summarize(make_definition(), now=NOW)
    assert summary["completers"] == summary["eligible"] == 0
    assert summary["rate"] is None and summary["rate_ci"] is None and summary["km_rate"] is None


def test_open_windows_are_censored_not_failures(make_definition, course_key):
    definition = make_definition(window_days=30)
    closed = open_for(definition, course_key, 10, NOW - timedelta(days=60))  # windows ended
    still_open = open_for(definition, course_key, 6, NOW - timedelta(days=10))
    for window, day in zip(closed[:3], (2, 5, 20)):
        activate(window, day)
    activate(still_open[0], 4)
    summary = api.summarize(definition, now=NOW)
    assert summary["completers"] == 16
    assert summary["activated"] == 4
    assert summary["open"] == 5
    assert summary["eligible"] == 11  # 10 closed + 1 activated while open
    assert summary["rate"] == pytest.approx(4 / 11)
    low, high = proportion_confint(4, 11, alpha=0.05, method="wilson")
    assert summary["rate_ci"] == (pytest.approx(low), pytest.approx(high))

    # Kaplan–Meier from the same data as rows: open windows censored at 10 days observed.
    durations = [2, 5, 20] + [30] * 7 + [4] + [10] * 5
    status = [1, 1, 1] + [0] * 7 + [1] + [0] * 5
    reference = SurvfuncRight(durations, status)
    assert summary["km_rate"] == pytest.approx(1 - reference.surv_prob[-1])
    assert summary["km_rate"] > summary["rate"] * 0  # defined, and differs from the naive share of all completers
    assert summary["km_rate"] != pytest.approx(4 / 16)


def test_windows_past_their_end_count_as_eligible_before_the_tick_runs(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    open_for(definition, course_key, 4, NOW - timedelta(days=45))
    summary = api.summarize(definition, now=NOW)
    assert (summary["open"], summary["eligible"], summary["rate"]) == (0, 4, 0.0)


def test_withdrawn_windows_are_left_out(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    windows = open_for(definition, course_key, 3, NOW - timedelta(days=40))
    windows[0].state = "withdrawn"
    windows[0].save()
    assert api.summarize(definition, now=NOW)["completers"] == 2


def test_summary_query_count_does_not_grow_with_windows(make_definition, course_key, django_assert_max_num_queries):
    definition = make_definition()
    for window in open_for(definition, course_key, 40, NOW - timedelta(days=40))[:10]:
        activate(window, 3)
    open_for(definition, course_key, 20, NOW - timedelta(days=5))
    with django_assert_max_num_queries(4):
        api.summarize(definition, now=NOW)


def test_rate_by_evidence_strength(make_definition, course_key, staff_user, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[{"kind": "project", "title": "p", "config": {"instructions": "i"},
                                                "verification": "staff"}], window_days=30)
    windows = open_for(definition, course_key, 4, NOW - timedelta(days=60))
    for index, window in enumerate(windows[:2]):
        evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                       payload={"text": "t"}, idempotency_key=f"s{index}",
                                       submitted_at=window.opened_at + timedelta(days=1))
        api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    rows = {row["strength"]: row for row in api.summarize(definition, now=NOW)["by_strength"]}
    assert (rows["staff"]["activated"], rows["staff"]["rate"]) == (2, 0.5)
    assert (rows["peer"]["activated"], rows["self_report"]["rate"]) == (0, 0.0)
