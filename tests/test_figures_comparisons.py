"""Run vs run, prompted vs holdout and segments: exact figures, statsmodels references, suppression."""
import random
from datetime import timedelta

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from tests.conftest import NOW
from tests.figures_data import CLOSED_AT, make_windows


def reference_difference(s_other, n_other, s_base, n_base):
    """
    The interval by statsmodels (Newcombe), and the p-value at which statsmodels' Newcombe
    interval reaches 0: the test the interval inverts, so the two never disagree.
    """
    low, high = confint_proportions_2indep(s_other, n_other, s_base, n_base, method="newcomb", compare="diff")
    return s_other / n_other - s_base / n_base, (low, high)


def assert_agrees_with_its_interval(difference, s_other, n_other, s_base, n_base):
    """At the p-value's own level, statsmodels' Newcombe interval just reaches 0."""
    p_value = difference["p_value"]
    low, high = confint_proportions_2indep(s_other, n_other, s_base, n_base, method="newcomb", compare="diff",
                                           alpha=p_value)
    assert min(abs(low), abs(high)) == pytest.approx(0, abs=1e-7)
    assert (p_value < 0.05) == (difference["ci"][0] > 0 or difference["ci"][1] < 0)


def run_of(definition, run, activated, expired, opened_at=CLOSED_AT, **fields):
    make_windows(definition, activated, state="activated", course_run=run, opened_at=opened_at, **fields)
    make_windows(definition, expired, state="expired", course_run=run, opened_at=opened_at, **fields)


def test_runs_are_ordered_by_first_window_and_compared_with_the_first(make_definition, course_key, other_run):
    definition = make_definition()
    run_of(definition, other_run, 5, 15, opened_at=CLOSED_AT - timedelta(days=100))  # the earlier run
    make_windows(definition, 5, state="open", course_run=other_run, opened_at=NOW - timedelta(days=2))
    run_of(definition, course_key, 12, 18)
    result = api.compare_runs(definition, now=NOW)
    first, second = result["runs"]
    assert first == {"course_run": str(other_run), "completers": 25, "eligible": 20, "activated": 5, "rate": 0.25,
                     "rate_ci": pytest.approx(proportion_confint(5, 20, method="wilson")), "suppressed": False}
    assert (second["course_run"], second["eligible"], second["rate"]) == (str(course_key), 30, 0.4)
    [difference] = result["differences"]
    estimate, ci = reference_difference(12, 30, 5, 20)
    assert difference == {"baseline": str(other_run), "other": str(course_key), "difference": pytest.approx(estimate),
                          "ci": pytest.approx(ci), "p_value": pytest.approx(difference["p_value"]),
                          "p_adjusted": difference["p_value"], "verdict": "no_evidence", "suppressed": False,
                          "confidence": 0.95, "family": 1}
    assert_agrees_with_its_interval(difference, 12, 30, 5, 20)


@pytest.mark.parametrize("seed", range(6))
def test_run_difference_matches_statsmodels_on_random_counts(make_definition, course_key, other_run, seed):
    rng = random.Random(seed)
    definition = make_definition()
    counts = [(rng.randint(5, 30), rng.randint(5, 30)) for _run in range(2)]
    run_of(definition, other_run, *counts[0], opened_at=CLOSED_AT - timedelta(days=10))
    run_of(definition, course_key, *counts[1])
    [difference] = api.compare_runs(definition, now=NOW)["differences"]
    (s_base, f_base), (s_other, f_other) = counts
    estimate, ci = reference_difference(s_other, s_other + f_other, s_base, s_base + f_base)
    assert difference["difference"] == pytest.approx(estimate, abs=1e-12)
    assert difference["ci"] == pytest.approx(ci)
    assert_agrees_with_its_interval(difference, s_other, s_other + f_other, s_base, s_base + f_base)


@pytest.mark.parametrize("counts, reference", [
    ((1, 5, 6, 8), "an interval excluding 0 beside p = 0.053 (pooled z)"),
    ((3, 6, 0, 6), "p = 0.046 (pooled z) where Fisher's exact gives 0.18"),
    ((2, 9, 7, 10), "small cells"),
])
def test_small_counts_get_an_exact_test_and_the_interval_that_inverts_it(
        make_definition, course_key, other_run, settings, counts, reference):
    """Issue 16: the pooled z-test contradicted the interval beside it, worst at small counts."""
    from scipy.stats import barnard_exact  # pylint: disable=import-outside-toplevel
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # an operator's choice: the smallest cells the tab can show
    s_other, n_other, s_base, n_base = counts
    definition = make_definition()
    run_of(definition, other_run, s_base, n_base - s_base, opened_at=CLOSED_AT - timedelta(days=10))
    run_of(definition, course_key, s_other, n_other - s_other)
    [difference] = api.compare_runs(definition, now=NOW)["differences"]
    exact = barnard_exact([[s_other, s_base], [n_other - s_other, n_base - s_base]], pooled=True).pvalue
    assert difference["p_value"] == pytest.approx(exact, rel=1e-6), reference
    low, high = difference["ci"]
    assert (difference["p_value"] < 0.05) == (low > 0 or high < 0), reference
    assert difference["verdict"] == ("no_evidence" if difference["p_value"] >= 0.05 else "lower")


def test_several_runs_against_the_first_are_bonferroni_adjusted(make_definition, course_key, other_run, settings):
    from statsmodels.stats.multitest import multipletests  # pylint: disable=import-outside-toplevel
    definition = make_definition()
    run_of(definition, other_run, 10, 40, opened_at=CLOSED_AT - timedelta(days=30))
    for number, (activated, expired) in enumerate(((21, 19), (18, 22), (12, 38))):
        run_of(definition, f"course-v1:TestX+APPLY+{2030 + number}", activated, expired,
               opened_at=CLOSED_AT - timedelta(days=20 - number))
    differences = api.compare_runs(definition, now=NOW)["differences"]
    expected = multipletests([d["p_value"] for d in differences], method="bonferroni")[1]
    assert [d["p_adjusted"] for d in differences] == pytest.approx(list(expected))
    assert [d["verdict"] for d in differences] == [
        "higher" if adjusted < 0.05 else "no_evidence" for adjusted in expected]
    assert "higher" in [d["verdict"] for d in differences] and "no_evidence" in [d["verdict"] for d in differences]


def test_a_single_run_has_no_differences_and_no_windows_no_runs(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    assert api.compare_runs(definition, now=NOW) == {"runs": [], "differences": []}
    run_of(definition, course_key, 6, 0)  # everyone activated
    result = api.compare_runs(definition, now=NOW)
    assert result["differences"] == []
    assert (result["runs"][0]["rate"], result["runs"][0]["rate_ci"]) == (1.0, pytest.approx(
        proportion_confint(6, 6, method="wilson")))


def test_a_small_run_is_hidden_with_the_next_smallest(make_definition, course_key, other_run):
    definition = make_definition()
    third = "course-v1:TestX+APPLY+2028"
    run_of(definition, course_key, 10, 30, opened_at=CLOSED_AT - timedelta(days=20))
    run_of(definition, other_run, 2, 8, opened_at=CLOSED_AT - timedelta(days=10))
    run_of(definition, third, 1, 2)  # 3 learners: below the cell size of 5
    runs, differences = api.compare_runs(definition, now=NOW).values()
    assert [run["suppressed"] for run in runs] == [False, True, True]
    assert runs[1] == {"course_run": str(other_run), **dict.fromkeys(
        ("completers", "eligible", "activated", "rate", "rate_ci")), "suppressed": True}
    assert [(d["difference"], d["suppressed"]) for d in differences] == [(None, True), (None, True)]


def test_prompted_vs_holdout(make_definition, course_key):
    definition = make_definition(holdout_percent=20)
    run_of(definition, course_key, 5, 25, arm="holdout")
    run_of(definition, course_key, 20, 20)
    arms = api.compare_arms(definition, now=NOW)
    estimate, ci = reference_difference(20, 40, 5, 30)
    assert (arms["baseline"], arms["other"], arms["suppressed"]) == ("holdout", "prompted", False)
    assert (arms["difference"], arms["ci"]) == (pytest.approx(estimate), pytest.approx(ci))
    assert_agrees_with_its_interval(arms, 20, 40, 5, 30)
    assert (arms["p_adjusted"], arms["verdict"]) == (arms["p_value"], "higher")
    assert [(arm["arm"], arm["eligible"], arm["activated"]) for arm in arms["arms"]] == [
        ("holdout", 30, 5), ("prompted", 40, 20)]


def test_no_holdout_no_arm_comparison(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 3, 7)
    assert api.compare_arms(definition, now=NOW) is None


def test_a_small_segment_hides_its_whole_dimension(make_definition, course_key):
    """Complementary cells of two dimensions combined give a hidden one back (issue 27): none are shown."""
    definition = make_definition()
    run_of(definition, course_key, 5, 5, cohort="A")
    run_of(definition, course_key, 2, 6, cohort="B")
    run_of(definition, course_key, 1, 2, cohort="C")
    run_of(definition, course_key, 9, 11, cohort="")
    make_windows(definition, 4, state="withdrawn", cohort="D")  # never counted, so never a cell
    rows = api.segments(definition, "cohort", now=NOW)
    assert [(row["value"], row["completers"], row["rate"], row["suppressed"]) for row in rows] == [
        ("", None, None, True), ("A", None, None, True), ("B", None, None, True), ("C", None, None, True)]


def test_segments_without_a_small_cell_are_shown(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 5, 5, enrollment_mode="verified")
    run_of(definition, course_key, 6, 7, enrollment_mode="audit")
    run_of(definition, course_key, 9, 11, enrollment_mode="")
    rows = api.segments(definition, "enrollment_mode", now=NOW)
    assert [(row["value"], row["completers"], row["rate"], row["suppressed"]) for row in rows] == [
        ("", 20, 0.45, False), ("audit", 13, 6 / 13, False), ("verified", 10, 0.5, False)]
    assert rows[0]["rate_ci"] == pytest.approx(proportion_confint(9, 20, method="wilson"))


def test_all_segments_small_are_all_hidden(make_definition, course_key):
    definition = make_definition()
    for org in "ABC":
        run_of(definition, course_key, 1, 2, org=org)
    assert {row["suppressed"] for row in api.segments(definition, "org", now=NOW)} == {True}
    assert api.segments(definition, "org", now=NOW)[0]["value"] in "ABC"


def test_unknown_segment_is_a_request_error(make_definition):
    with pytest.raises(ActivationRequestError) as error:
        api.segments(make_definition(), "favourite_colour")
    assert error.value.field == "dimension"
