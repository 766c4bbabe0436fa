"""The headline rate and Kaplan-Meier curve of a definition, from its windows."""
import math
import random
from datetime import timedelta

import pytest
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

from activation_plugin import api
from tests.conftest import NOW, committed
from tests.factories import UserFactory


def open_for(definition, course_key, n, opened_at):
    return [api.open_windows(u.pk, course_key, "passing", opened_at)[0] for u in UserFactory.create_batch(n)]


def activate(window, day):
    """The learner's request: the running totals move after its commit."""
    with committed():
        api.record_evidence(window=window, requirement=window.definition.requirements.get(), source="learner",
                            payload={"text": "did it"}, idempotency_key=f"w{window.pk}",
                            submitted_at=window.opened_at + timedelta(days=day))


def test_empty_definition(make_definition):
    summary = api.summarize(make_definition(), now=NOW)
    assert summary["completers"] == summary["eligible"] == 0
    assert summary["rate"] is None and summary["rate_ci"] is None and summary["km_rate"] is None


def test_the_rate_counts_only_windows_that_have_ended(make_definition, course_key, settings):
    """
    Issue 16: a learner who activated on day 4 of a running window counted at once while a
    classmate who had not activated *yet* did not, so the rate ran high (4/11 here). Only windows
    whose whole window has elapsed count, activated or not; Kaplan–Meier uses everything.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    closed = open_for(definition, course_key, 10, NOW - timedelta(days=60))  # windows ended
    still_open = open_for(definition, course_key, 6, NOW - timedelta(days=10))
    for window, day in zip(closed[:3], (2, 5, 20)):
        activate(window, day)
    activate(still_open[0], 4)
    summary = api.summarize(definition, now=NOW)
    counts = (summary["completers"], summary["eligible"], summary["activated"], summary["not_activated"])
    assert counts == (16, 10, 3, 7)
    assert (summary["open"], summary["open_activated"]) == (6, 1)
    assert summary["rate"] == pytest.approx(3 / 10)
    low, high = proportion_confint(3, 10, alpha=0.05, method="wilson")
    assert summary["rate_ci"] == (pytest.approx(low), pytest.approx(high))

    # Kaplan–Meier from the same data as rows: open windows censored at 10 days observed.
    durations = [2, 5, 20] + [30] * 7 + [4] + [10] * 5
    status = [1, 1, 1] + [0] * 7 + [1] + [0] * 5
    reference = SurvfuncRight(durations, status)
    assert summary["km_rate"] == pytest.approx(1 - reference.surv_prob[-1])


def lifelines_reference(durations, observed):
    """Kaplan–Meier by lifelines: the curve's end by day 30, the median and its interval."""
    from lifelines import KaplanMeierFitter  # pylint: disable=import-outside-toplevel
    from lifelines.utils import median_survival_times  # pylint: disable=import-outside-toplevel
    fitter = KaplanMeierFitter().fit(durations, observed)
    interval = median_survival_times(fitter.confidence_interval_).iloc[0].tolist()
    return 1 - fitter.predict(30), fitter.median_survival_time_, interval


@pytest.mark.parametrize("seed", range(4))
def test_kaplan_meier_censors_running_windows_at_the_whole_days_observed(make_definition, course_key, seed, settings):
    """
    Issue 16: open windows were censored by calendar date, so one opened at 23:45 yesterday
    counted a day at risk. Windows open at every time of day; the reference is lifelines on the
    whole days each window was observed (activations by ``days_to_activation``, the same floor).
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    rng = random.Random(seed)
    definition = make_definition(window_days=30)
    durations, observed = [], []
    for _ in range(60):
        opened = NOW - timedelta(days=rng.randint(0, 45), minutes=rng.randint(0, 24 * 60 - 1))
        [window] = api.open_windows(UserFactory().pk, course_key, "passing", opened)
        elapsed = (NOW - opened) / timedelta(days=1)
        day = rng.randint(0, 29)
        if rng.random() < 0.45 and day <= elapsed:
            activate(window, day + rng.random() * min(1, elapsed - day))
            durations.append(day)
            observed.append(1)
        else:
            durations.append(min(math.floor(elapsed), 30))
            observed.append(0)
    summary = api.summarize(definition, now=NOW)
    km_rate, median, interval = lifelines_reference(durations, observed)
    assert summary["km_rate"] == pytest.approx(km_rate)
    assert summary["median_days"] == (None if math.isinf(median) else median)
    assert summary["median_ci"] == (None if math.isinf(interval[0]) else (
        interval[0], None if math.isinf(interval[1]) else interval[1]))


def test_a_window_opened_late_yesterday_has_been_observed_for_no_whole_day(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    late = NOW.replace(hour=0, minute=0) - timedelta(minutes=15)  # 23:45 yesterday, 12 h 15 min before NOW
    open_for(definition, course_key, 2, late)
    open_for(definition, course_key, 3, NOW - timedelta(days=1, minutes=1))
    curve = api.summarize(definition, now=NOW)["km_curve"]
    assert [(point.day, point.censored) for point in curve] == [(0, 2), (1, 3)]


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
    with committed():  # the learner's request
        api.withdraw_window(windows[0].user, course_key, windows[0].pk)
    assert api.summarize(definition, now=NOW)["completers"] == 2


def test_summary_query_count_does_not_grow_with_windows(make_definition, course_key, django_assert_max_num_queries):
    definition = make_definition()
    for window in open_for(definition, course_key, 40, NOW - timedelta(days=40))[:10]:
        activate(window, 3)
    open_for(definition, course_key, 20, NOW - timedelta(days=5))
    # The windows closing today on the smaller side of now (two: where now splits the day, then that
    # side), the cells' totals, the cell, day and censoring tallies, the running windows opened in now's
    # hour of the day, and the opted-out count; the closing days of the learners the viewer cannot see
    # and their tally rows closed since the figures last moved (issue 27: figures.release), the late
    # changes to windows ended before (issue 27: counted on the day they happened), and the
    # activations of the windows closing since, which the curve leaves out while they are running or
    # not released, with those whose tallies have yet to move (two: issue 27, the previous day).
    with django_assert_max_num_queries(13):
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
        with committed():
            api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    rows = {row["strength"]: row for row in api.summarize(definition, now=NOW)["by_strength"]}
    assert (rows["staff"]["activated"], rows["staff"]["rate"]) == (2, 0.5)
    assert (rows["peer"]["activated"], rows["self_report"]["rate"]) == (0, 0.0)
