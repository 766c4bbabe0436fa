"""
The course's effect on a KPI (issue 26 §2): completers against colleagues in the same source who
never took the course, over the completers' calendar periods; against scipy's Welch test on the
per-person changes worked out by hand.
"""
import statistics
from datetime import timedelta

import pytest
from scipy import stats as sps

from activation_plugin import api
from activation_plugin.figures.course_effect import course_effect
from tests.conftest import NOW, PROJECT
from tests.figures_data import CLOSED_AT, make_users, make_windows, observe

METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}
EARLIER = CLOSED_AT - timedelta(days=40)  # a second cohort, its window ended before the first opened
COMPLETERS = {CLOSED_AT: [(10, 14), (12, 17), (11, 15), (9, 14)], EARLIER: [(10, 13), (14, 18), (12, 16)]}
# Untrained colleagues: (baseline, change over the later cohort's periods, over the earlier one's).
COLLEAGUES = [(10, 1, 0), (11, 0, 2), (13, 2, 1), (9, -1, 0), (12, 1, 1), (10, 0, -1)]


@pytest.fixture
def definition(make_definition):
    return make_definition(requirements=[PROJECT, METRIC], rule="any", holdout_percent=20)


def seed(definition, trend=0.0):
    """The completers and their colleagues; ``trend`` is what every colleague gains besides their change."""
    for opened_at, pairs in COMPLETERS.items():
        windows = make_windows(definition, len(pairs), state="expired", opened_at=opened_at)
        for window, (pre, post) in zip(windows, pairs, strict=True):
            observe(window.user, "csat", opened_at - timedelta(days=5), pre)
            observe(window.user, "csat", opened_at + timedelta(days=5), post)
    for number, (pre, later, earlier) in enumerate(COLLEAGUES):
        for opened_at, change in ((CLOSED_AT, later), (EARLIER, earlier)):
            observe(None, "csat", opened_at - timedelta(days=5), pre, external_id=f"EMP-{number}")
            observe(None, "csat", opened_at + timedelta(days=5), pre + change + trend, external_id=f"EMP-{number}")


def by_hand(trend=0.0):
    """Per-person changes: a colleague's is weighted 4:3 by the two cohorts' sizes."""
    completers = [post - pre for pairs in COMPLETERS.values() for pre, post in pairs]
    colleagues = [(4 * later + 3 * earlier) / 7 + trend for _pre, later, earlier in COLLEAGUES]
    return completers, colleagues


def test_course_effect_against_scipy_on_changes_worked_by_hand(definition):
    seed(definition)
    # Not untrained: a learner with a window in the course (still running), and another source's ids.
    [running] = make_windows(definition, 1, state="open", opened_at=NOW - timedelta(days=3))
    observe(running.user, "csat", CLOSED_AT - timedelta(days=5), 0.0, external_id="running@example.com")
    observe(running.user, "csat", CLOSED_AT + timedelta(days=5), 100.0, external_id="running@example.com")
    observe(None, "csat", CLOSED_AT - timedelta(days=5), 0.0, source_name="hr", external_id="HR-1")
    observe(None, "csat", CLOSED_AT + timedelta(days=5), 100.0, source_name="hr", external_id="HR-1")
    # Untrained though matched: a colleague with an account and no window in the course.
    [colleague] = make_users(1)
    observe(colleague, "csat", CLOSED_AT - timedelta(days=5), 10.0, external_id="colleague@example.com")
    observe(colleague, "csat", CLOSED_AT + timedelta(days=5), 13.0, external_id="colleague@example.com")

    result = course_effect(definition, "csat", NOW)
    completers, colleagues = by_hand()
    colleagues.append(3.0)  # measured over the later cohort's periods only: weight 4 of 4
    reference = sps.ttest_ind(completers, colleagues, equal_var=False)
    assert (result["effect_of"], result["design"], result["suppressed"]) == ("course", "observational", False)
    assert (result["completers"]["n"], result["untrained"]["n"]) == (7, 7)
    assert result["estimate"] == pytest.approx(statistics.mean(completers) - statistics.mean(colleagues))
    assert result["ci"] == pytest.approx(tuple(reference.confidence_interval(0.95)))
    assert result["p_value"] == pytest.approx(reference.pvalue)


def test_baseline_comparability_of_the_two_groups(definition):
    seed(definition)
    result = course_effect(definition, "csat", NOW)
    trained_pre = [pre for pairs in COMPLETERS.values() for pre, _post in pairs]
    untrained_pre = [pre for pre, _later, _earlier in COLLEAGUES]
    assert result["completers"]["pre_mean"] == pytest.approx(statistics.mean(trained_pre))
    assert result["completers"]["pre_sd"] == pytest.approx(statistics.stdev(trained_pre))
    assert result["untrained"]["pre_sd"] == pytest.approx(statistics.stdev(untrained_pre))
    pooled = ((statistics.variance(trained_pre) + statistics.variance(untrained_pre)) / 2) ** 0.5
    assert result["standardised_difference"] == pytest.approx(
        (statistics.mean(trained_pre) - statistics.mean(untrained_pre)) / pooled)


def test_a_secular_trend_shrinks_the_course_effect(definition):
    """Issue 26: when the untrained improve too, the course is credited only with the difference."""
    seed(definition, trend=2.0)
    completers, flat = by_hand()
    without_trend = statistics.mean(completers) - statistics.mean(flat)
    _completers, colleagues = by_hand(trend=2.0)
    result = course_effect(definition, "csat", NOW)
    assert result["untrained"]["mean_delta"] == pytest.approx(statistics.mean(colleagues))
    assert result["estimate"] == pytest.approx(without_trend - 2.0)
    assert result["estimate"] < result["completers"]["mean_delta"]


def test_course_effect_is_hidden_below_the_cell_size(definition):
    seed(definition)
    result = course_effect(definition, "csat", NOW - timedelta(days=31))  # only the earlier cohort (3) has ended
    assert result["completers"]["n"] is None and result["suppressed"] is True
    assert (result["estimate"], result["ci"], result["standardised_difference"]) == (None, None, None)


def test_the_registered_plan_says_which_design_the_result_comes_from(definition):
    seed(definition)
    api.register_plan(definition, hypothesis="The course cuts handle time.", primary_figure="course_effect",
                      sample_size=40, end_date=NOW.date() + timedelta(days=400), design="course_waitlist")
    definition.refresh_from_db()
    assert course_effect(definition, "csat", NOW)["design"] == "randomised"
    assert api.analytics(definition, now=NOW)["course_effect"][0]["design"] == "randomised"


def test_the_figures_export_says_what_each_effect_is_of(definition):
    seed(definition)
    make_windows(definition, 1, arm="holdout")  # a holdout arm, so the page has a difference-in-differences
    rows = {(figure, group): value for figure, group, value in api.figures_csv_rows(api.analytics(definition, now=NOW))}
    assert rows[("course_effect.effect_of", "metric=csat")] == "course"
    assert rows[("course_effect.design", "metric=csat")] == "observational"
    assert rows[("course_effect.estimate", "metric=csat")] == pytest.approx(
        course_effect(definition, "csat", NOW)["estimate"])
    assert rows[("did.effect_of", "metric=csat")] == "follow_up"
    assert rows[("did.estimator", "metric=csat")] == "mean_over_complete_pairs"


def test_colleagues_enrolled_in_the_course_are_not_untrained(definition):
    """An account enrolled in a run of the course (the platform says so) is not a colleague who never took it."""
    from demo.models import DemoEnrollment  # pylint: disable=import-outside-toplevel
    seed(definition)
    enrolled, elsewhere = make_users(2)
    DemoEnrollment.objects.create(user=enrolled, course_key=definition.course_key)
    DemoEnrollment.objects.create(user=elsewhere, course_key="course-v1:Other+COURSE+2026")
    for user in (enrolled, elsewhere):
        observe(user, "csat", CLOSED_AT - timedelta(days=5), 10.0, external_id=user.username)
        observe(user, "csat", CLOSED_AT + timedelta(days=5), 40.0, external_id=user.username)
    result = course_effect(definition, "csat", NOW)
    completers, colleagues = by_hand()
    colleagues.append(30.0)  # only the one enrolled elsewhere counts
    assert result["untrained"]["n"] == 7
    assert result["estimate"] == pytest.approx(statistics.mean(completers) - statistics.mean(colleagues))
