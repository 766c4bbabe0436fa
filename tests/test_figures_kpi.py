"""KPI deltas, difference-in-differences and ROI against scipy on the same per-learner deltas."""
import random
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats as sps

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from tests.conftest import NOW, PROJECT
from tests.figures_data import make_windows, observe, source

METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


@pytest.fixture
def definition(make_definition):
    return make_definition(requirements=[PROJECT, METRIC], rule="any", holdout_percent=20)


def with_deltas(windows, deltas, metric="csat", pre=10.0):
    """One baseline observation and one in-window observation per learner, ``post - pre = delta``."""
    for window, delta in zip(windows, deltas, strict=True):
        observe(window.user, metric, window.opened_at - timedelta(days=5), pre)
        observe(window.user, metric, window.opened_at + timedelta(days=5), pre + delta)


def welch(first, second):
    result = sps.ttest_ind(first, second, equal_var=False)
    low, high = result.confidence_interval(0.95)
    return np.mean(first) - np.mean(second), (low, high), result.pvalue


def test_kpi_deltas_of_activated_vs_not_activated(definition):
    activated = make_windows(definition, 5, state="activated")
    expired = make_windows(definition, 6, state="expired")
    with_deltas(activated, [1, 2, 3, 4, 5])
    with_deltas(expired, [0, 0, 1, -1, 0.5, 0])
    user = activated[0].user
    opened = activated[0].opened_at
    observe(user, "csat", opened + timedelta(days=6), 13.0)  # post mean (11 + 13) / 2 = 12: delta 2, not 1
    observe(user, "csat", opened - timedelta(days=21), 100.0)  # before the 20-day baseline: ignored
    observe(user, "csat", opened + timedelta(days=31), 100.0)  # after the window: ignored
    observe(user, "other", opened + timedelta(days=1), 100.0)  # another metric: ignored
    with_deltas(make_windows(definition, 3, state="open", opened_at=NOW - timedelta(days=7)), [9, 9, 9])
    with_deltas(make_windows(definition, 2, state="withdrawn"), [9, 9])

    [row] = api.kpi_deltas(definition, now=NOW)
    estimate, ci, p_value = welch([2, 2, 3, 4, 5], [0, 0, 1, -1, 0.5, 0])
    assert (row["metric"], row["baseline_days"], row["suppressed"]) == ("csat", 20, False)
    assert row["activated"] == {"n": 5, "mean_delta": pytest.approx(3.2), "pre_mean": pytest.approx(10.0),
                                "post_mean": pytest.approx(13.2)}
    assert (row["not_activated"]["n"], row["not_activated"]["mean_delta"]) == (6, pytest.approx(0.5 / 6))
    assert (row["difference"], row["ci"], row["p_value"]) == (
        pytest.approx(estimate), pytest.approx(ci), pytest.approx(p_value))


@pytest.mark.parametrize("seed", range(4))
def test_kpi_deltas_match_scipy_on_random_observations(definition, seed):
    rng = random.Random(seed)
    groups = {"activated": [rng.gauss(1.0, 2.0) for _ in range(rng.randint(5, 12))],
              "expired": [rng.gauss(0.0, 1.0) for _ in range(rng.randint(5, 12))]}
    for state, deltas in groups.items():
        with_deltas(make_windows(definition, len(deltas), state=state), deltas, pre=rng.uniform(0, 50))
    [row] = api.kpi_deltas(definition, metric="csat", now=NOW)
    estimate, ci, p_value = welch(groups["activated"], groups["expired"])
    assert row["difference"] == pytest.approx(estimate)
    assert row["ci"] == pytest.approx(ci)
    assert row["p_value"] == pytest.approx(p_value)


def test_kpi_groups_below_the_cell_size_hide_both(definition):
    with_deltas(make_windows(definition, 4, state="activated"), [1, 2, 3, 4])
    with_deltas(make_windows(definition, 8, state="expired"), [0] * 8)
    [row] = api.kpi_deltas(definition, now=NOW)
    assert row["suppressed"] is True
    assert (row["difference"], row["ci"], row["p_value"]) == (None, None, None)
    assert set(row["activated"].values()) == set(row["not_activated"].values()) == {None}


def test_a_metric_no_requirement_names_uses_a_30_day_baseline(definition):
    [row] = api.kpi_deltas(definition, metric="revenue", now=NOW)
    assert (row["metric"], row["baseline_days"], row["activated"]["n"]) == ("revenue", 30, None)


def test_difference_in_differences_prompted_vs_holdout(definition):
    prompted = make_windows(definition, 6, state="expired")
    holdout = make_windows(definition, 5, state="expired", arm="holdout")
    still_open = make_windows(definition, 2, state="open", opened_at=NOW - timedelta(days=10))
    with_deltas(prompted, [2, 3, 1, 2, 4, 2])
    with_deltas(holdout, [1, 0, 1, 2, 0], pre=20.0)
    with_deltas(still_open, [3, 3])  # the post period of an open window runs up to now
    # An observation dated after now has not happened: ingestion refuses it, so no figure counts it.
    refused = api.ingest_observations(source(), [{"metric": "csat", "external_id": still_open[0].user.email,
                                                  "value": 1000.0, "observed_at": NOW + timedelta(days=1)}], now=NOW)
    assert refused["future"] == 1

    result = api.difference_in_differences(definition, "csat", now=NOW)
    estimate, ci, p_value = welch([2, 3, 1, 2, 4, 2, 3, 3], [1, 0, 1, 2, 0])
    assert result["treated"] == {"arm": "prompted", "n": 8, "mean_delta": pytest.approx(2.5),
                                 "pre_mean": pytest.approx(10.0), "post_mean": pytest.approx(12.5)}
    assert result["comparison"]["pre_mean"] == pytest.approx(20.0)
    assert (result["estimate"], result["ci"], result["p_value"]) == (
        pytest.approx(estimate), pytest.approx(ci), pytest.approx(p_value))


def test_difference_in_differences_without_holdout_is_suppressed(make_definition):
    definition = make_definition(requirements=[PROJECT, METRIC])
    with_deltas(make_windows(definition, 6, state="expired"), [1] * 6)
    result = api.difference_in_differences(definition, "csat", now=NOW)
    assert (result["suppressed"], result["estimate"], result["comparison"]["n"]) == (True, None, None)


def test_roi_carries_the_holdout_interval_through(definition):
    make_windows(definition, 5, state="activated", arm="holdout")
    make_windows(definition, 20, state="expired", arm="holdout")
    make_windows(definition, 18, state="activated")
    make_windows(definition, 22, state="expired")
    arms = api.compare_arms(definition, now=NOW)
    result = api.roi(definition, 1000, 5000, of="follow_up", now=NOW)
    incremental = 0.25 * 40
    assert (result["basis"], result["upper_bound"], result["suppressed"]) == ("holdout", False, False)
    assert result["effect_of"] == "follow_up" and "not of the course" in result["note"]
    assert result["incremental_activations"] == pytest.approx(incremental)
    assert result["roi"] == pytest.approx((1000 * incremental - 5000) / 5000)
    assert result["roi_interval"] == pytest.approx(tuple((1000 * bound * 40 - 5000) / 5000 for bound in arms["ci"]))
    assert (result["amounts_exact"], result["interval_kind"]) == (True, "ci95")


def test_roi_carries_ranges_of_value_and_cost_through(definition):
    """Issue 16: the ROI interval carried only the rate's uncertainty."""
    make_windows(definition, 5, state="activated", arm="holdout")
    make_windows(definition, 20, state="expired", arm="holdout")
    make_windows(definition, 18, state="activated")
    make_windows(definition, 22, state="expired")
    exact = api.roi(definition, 1000, 5000, of="follow_up", now=NOW)
    ranged = api.roi(definition, (800, 1200), (4000, 6000), of="follow_up", now=NOW)
    low, high = exact["incremental_ci"]
    # Every corner of value × activations × cost; by hand, the extremes are (800·low/6000) and (1200·high/4000).
    assert ranged["roi_interval"] == pytest.approx((800 * low / 6000 - 1, 1200 * high / 4000 - 1))
    assert ranged["roi"] == pytest.approx(1000 * 10 / 5000 - 1)  # the middle of each range
    assert ranged["roi_interval"][0] < exact["roi_interval"][0] and ranged["roi_interval"][1] > exact["roi_interval"][1]
    assert ranged["interval_kind"] == "worst_case"  # not a 95 % interval: no distribution within the ranges
    assert (ranged["value_range"], ranged["cost_range"], ranged["amounts_exact"]) == ((800, 1200), (4000, 6000), False)
    with pytest.raises(ActivationRequestError, match="lower amount first"):
        api.roi(definition, (1200, 800), 5000, now=NOW)


def test_roi_without_holdout_is_an_upper_bound(make_definition):
    definition = make_definition()
    make_windows(definition, 4, state="activated")
    make_windows(definition, 6, state="expired")
    result = api.roi(definition, 100, 200, now=NOW)
    assert (result["basis"], result["upper_bound"], result["incremental_activations"]) == ("all_activations", True, 4)
    assert result["effect_of"] == "course"
    assert result["roi"] == pytest.approx((100 * 4 - 200) / 200)
    assert result["roi_interval"][0] < result["roi"] < result["roi_interval"][1]
    assert "upper bound" in result["note"]
    follow_up = api.roi(definition, 100, 200, of="follow_up", now=NOW)
    assert follow_up["suppressed"] is True and "No holdout" in follow_up["note"]


def test_roi_of_the_course_credits_the_share_the_course_caused(definition):
    """
    Issue 26 §2: the course's return counts the course's activations (both arms), less the share
    the instructor says would have happened anyway. By hand: 23 of 65 activated, 30 % anyway, so
    16.1 activations credited; the interval is Wilson's (statsmodels) times 65 × 0.7.
    """
    from statsmodels.stats.proportion import proportion_confint  # pylint: disable=import-outside-toplevel
    make_windows(definition, 5, state="activated", arm="holdout")
    make_windows(definition, 20, state="expired", arm="holdout")
    make_windows(definition, 18, state="activated")
    make_windows(definition, 22, state="expired")
    result = api.roi(definition, 1000, 5000, counterfactual_share=0.3, now=NOW)
    low, high = proportion_confint(23, 65, method="wilson")
    assert (result["effect_of"], result["basis"], result["upper_bound"]) == ("course", "counterfactual_share", False)
    assert result["incremental_activations"] == pytest.approx(16.1)
    assert result["roi"] == pytest.approx((1000 * 16.1 - 5000) / 5000)
    credited = (low * 65 * 0.7, high * 65 * 0.7)
    assert result["roi_interval"] == pytest.approx(tuple(1000 * bound / 5000 - 1 for bound in credited))
    assert "70 %" in result["note"]
    with pytest.raises(ActivationRequestError) as error:
        api.roi(definition, 1000, 5000, counterfactual_share=1.5, now=NOW)
    assert error.value.field == "counterfactual_share"
    with pytest.raises(ActivationRequestError) as error:
        api.roi(definition, 1000, 5000, of="reminders", now=NOW)
    assert error.value.field == "roi_of"


def test_roi_amounts_read_what_the_roi_is_of():
    assert api.roi_amounts({"value_per_activation": "100", "value_per_activation_high": "200",
                            "programme_cost": "1000", "roi_of": "follow_up", "counterfactual_share": "0.2"}) == (
        (100.0, 200.0), (1000.0, 1000.0), "follow_up", 0.2)
    assert api.roi_amounts({"value_per_activation": "100", "programme_cost": "1000"})[2:] == ("course", None)
    with pytest.raises(ActivationRequestError):
        api.roi_amounts({"value_per_activation": "100", "programme_cost": "1000", "counterfactual_share": "most"})


def test_roi_of_a_small_definition_is_suppressed(make_definition):
    definition = make_definition()
    make_windows(definition, 3, state="activated")
    assert api.roi(definition, 100, 200, now=NOW)["roi"] is None


@pytest.mark.parametrize("value,cost,field", [
    (-1, 100, "value_per_activation"), (10, 0, "programme_cost"), (10, -5, "programme_cost"),
    (float("nan"), 100, "value_per_activation"), (10, float("inf"), "programme_cost"),
    ("10", 100, "value_per_activation"), (True, 100, "value_per_activation"),
])
def test_roi_rejects_bad_input(make_definition, value, cost, field):
    with pytest.raises(ActivationRequestError) as error:
        api.roi(make_definition(), value, cost)
    assert error.value.field == field


def test_kpi_activated_group_leaves_out_windows_still_running(definition):
    """Issue 26 §3: an activated learner whose window is still running has no known outcome yet."""
    with_deltas(make_windows(definition, 5, state="activated"), [1, 2, 3, 4, 5])
    with_deltas(make_windows(definition, 5, state="expired"), [0, 0, 1, -1, 0])
    running = make_windows(definition, 3, state="activated", opened_at=NOW - timedelta(days=10))
    with_deltas(running, [50, 50, 50])
    [row] = api.kpi_deltas(definition, now=NOW)
    estimate, ci, _p = welch([1, 2, 3, 4, 5], [0, 0, 1, -1, 0])
    assert (row["activated"]["n"], row["difference"]) == (5, pytest.approx(estimate))
    assert row["ci"] == pytest.approx(ci)
    # Staff of the run: anyone who cannot see every learner row by row gets no split (issue 27).
    [shown] = api.analytics(definition, now=NOW, visible_runs=[definition.course_key])["kpi"]
    assert shown["activated"]["n"] == 5


def test_difference_in_differences_is_the_mean_over_complete_pairs(definition):
    """
    Issue 26 §3: with missing baselines the estimate is the mean over learners observed in both
    periods, which is statsmodels' OLS interaction on those learners' period means, not the 2×2
    difference of the four period means over everyone observed in a period.
    """
    import statsmodels.formula.api as smf  # pylint: disable=import-outside-toplevel
    prompted = make_windows(definition, 6, state="expired")
    holdout = make_windows(definition, 5, state="expired", arm="holdout")
    pre_prompted, post_prompted = [10, 11, 9, 10, 12, 10], [12, 14, 10, 12, 16, 12]
    pre_holdout, post_holdout = [20, 21, 19, 20, 22], [21, 21, 20, 22, 22]
    for windows, pres, posts in ((prompted, pre_prompted, post_prompted), (holdout, pre_holdout, post_holdout)):
        for window, pre, post in zip(windows, pres, posts):
            observe(window.user, "csat", window.opened_at - timedelta(days=5), pre)
            observe(window.user, "csat", window.opened_at + timedelta(days=5), post)
    # Two prompted learners with no baseline: observed after opening only.
    missing = make_windows(definition, 2, state="expired")
    for window in missing:
        observe(window.user, "csat", window.opened_at + timedelta(days=5), 30.0)

    result = api.difference_in_differences(definition, "csat", now=NOW)
    rows = [{"y": value, "post": post, "treated": treated}
            for pres, posts, treated in ((pre_prompted, post_prompted, 1), (pre_holdout, post_holdout, 0))
            for person in zip(pres, posts) for post, value in enumerate(person)]
    fit = smf.ols("y ~ post * treated", data={key: [row[key] for row in rows] for key in rows[0]}).fit()
    # By hand: prompted deltas 2,3,1,2,4,2 (mean 14/6), holdout 1,0,1,2,0 (mean 0.8).
    assert result["estimate"] == pytest.approx(14 / 6 - 0.8) == pytest.approx(fit.params["post:treated"])
    everyone_post = (sum(post_prompted) + 60.0) / 8
    four_means = (everyone_post - np.mean(pre_prompted)) - (np.mean(post_holdout) - np.mean(pre_holdout))
    assert result["estimate"] != pytest.approx(four_means)
    assert result["estimator"] == "mean_over_complete_pairs"
    treated = result["treated"]
    assert treated["post_mean"] - treated["pre_mean"] == pytest.approx(treated["mean_delta"])
