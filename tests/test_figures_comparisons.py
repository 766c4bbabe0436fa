"""Run vs run, prompted vs holdout and segments: exact figures, statsmodels references, suppression."""
import random
from datetime import timedelta

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from tests.conftest import NOW
from tests.figures_data import CLOSED_AT, make_windows


def reference_difference(s_other, n_other, s_base, n_base):
    low, high = confint_proportions_2indep(s_other, n_other, s_base, n_base, method="newcomb", compare="diff")
    _z, p_value = proportions_ztest([s_other, s_base], [n_other, n_base])
    return s_other / n_other - s_base / n_base, (low, high), p_value


def run_of(definition, run, activated, expired, opened_at=CLOSED_AT, **fields):
    make_windows(definition, activated, state="activated", course_run=run, opened_at=opened_at, **fields)
    make_windows(definition, expired, state="expired", course_run=run, opened_at=opened_at, **fields)


def test_runs_are_ordered_by_first_window_and_compared_with_the_first(make_definition, course_key, other_run):
    definition = make_definition()
    run_of(definition, other_run, 4, 16, opened_at=CLOSED_AT - timedelta(days=100))  # the earlier run
    make_windows(definition, 5, state="open", course_run=other_run, opened_at=NOW - timedelta(days=2))
    run_of(definition, course_key, 12, 18)
    result = api.compare_runs(definition, now=NOW)
    first, second = result["runs"]
    assert first == {"course_run": str(other_run), "completers": 25, "eligible": 20, "activated": 4, "rate": 0.2,
                     "rate_ci": pytest.approx(proportion_confint(4, 20, method="wilson")), "suppressed": False}
    assert (second["course_run"], second["eligible"], second["rate"]) == (str(course_key), 30, 0.4)
    [difference] = result["differences"]
    estimate, ci, p_value = reference_difference(12, 30, 4, 20)
    assert difference == {"baseline": str(other_run), "other": str(course_key), "difference": pytest.approx(estimate),
                          "ci": pytest.approx(ci), "p_value": pytest.approx(p_value), "suppressed": False}


@pytest.mark.parametrize("seed", range(6))
def test_run_difference_matches_statsmodels_on_random_counts(make_definition, course_key, other_run, seed):
    rng = random.Random(seed)
    definition = make_definition()
    counts = [(rng.randint(0, 25), rng.randint(5, 25)) for _run in range(2)]
    run_of(definition, other_run, *counts[0], opened_at=CLOSED_AT - timedelta(days=10))
    run_of(definition, course_key, *counts[1])
    [difference] = api.compare_runs(definition, now=NOW)["differences"]
    (s_base, f_base), (s_other, f_other) = counts
    estimate, ci, p_value = reference_difference(s_other, s_other + f_other, s_base, s_base + f_base)
    assert difference["difference"] == pytest.approx(estimate, abs=1e-12)
    assert difference["ci"] == pytest.approx(ci)
    assert difference["p_value"] == pytest.approx(p_value)


def test_a_single_run_has_no_differences_and_no_windows_no_runs(make_definition, course_key):
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
    run_of(definition, course_key, 2, 18, arm="holdout")
    run_of(definition, course_key, 14, 26)
    arms = api.compare_arms(definition, now=NOW)
    estimate, ci, p_value = reference_difference(14, 40, 2, 20)
    assert (arms["baseline"], arms["other"], arms["suppressed"]) == ("holdout", "prompted", False)
    assert (arms["difference"], arms["ci"], arms["p_value"]) == (
        pytest.approx(estimate), pytest.approx(ci), pytest.approx(p_value))
    assert [(arm["arm"], arm["eligible"], arm["activated"]) for arm in arms["arms"]] == [
        ("holdout", 20, 2), ("prompted", 40, 14)]


def test_no_holdout_no_arm_comparison(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 3, 7)
    assert api.compare_arms(definition, now=NOW) is None


def test_segments_hide_small_cells_and_one_more(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 5, 5, cohort="A")
    run_of(definition, course_key, 2, 6, cohort="B")
    run_of(definition, course_key, 1, 2, cohort="C")
    run_of(definition, course_key, 9, 11, cohort="")
    make_windows(definition, 4, state="withdrawn", cohort="D")  # never counted, so never a cell
    rows = api.segments(definition, "cohort", now=NOW)
    assert [(row["value"], row["completers"], row["rate"], row["suppressed"]) for row in rows] == [
        ("", 20, 0.45, False), ("A", 10, 0.5, False), ("B", None, None, True), ("C", None, None, True)]
    assert rows[0]["rate_ci"] == pytest.approx(proportion_confint(9, 20, method="wilson"))


def test_two_small_segments_only_reveal_their_sum(make_definition, course_key):
    definition = make_definition()
    run_of(definition, course_key, 5, 5, enrollment_mode="verified")
    run_of(definition, course_key, 1, 7, enrollment_mode="audit")
    run_of(definition, course_key, 1, 2, enrollment_mode="honor")
    run_of(definition, course_key, 0, 2, enrollment_mode="professional")
    rows = api.segments(definition, "enrollment_mode", now=NOW)
    assert [(row["value"], row["suppressed"]) for row in rows] == [
        ("verified", False), ("audit", False), ("honor", True), ("professional", True)]


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
