"""Tests for activation_plugin.stats against scipy/statsmodels reference values."""

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from activation_plugin.stats import (
    DifferenceResult,
    GroupStats,
    KMPoint,
    difference_in_differences,
    kaplan_meier,
    km_median,
    km_median_interval,
    km_reading,
    log_rank,
    newcombe_difference,
    newcombe_p_value,
    rate_difference,
    roi,
    student_t_cdf,
    student_t_ppf,
    suppress_small,
    welch_difference,
    wilson_interval,
)

REL = 1e-9
Z95 = 1.959963984540054

PROPORTION_CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (57, 200), (1, 1000), (999, 1000)]


def approx(value, rel=REL, abs=1e-12):  # pylint: disable=redefined-builtin  # pytest.approx's keyword
    return pytest.approx(value, rel=rel, abs=abs)


def expand(events_by_day):
    """Histogram day -> (events, censored) to per-learner (time, status) arrays."""
    times, status = [], []
    for day, (events, censored) in events_by_day.items():
        times += [day] * (events + censored)
        status += [1] * events + [0] * censored
    return np.array(times, dtype=float), np.array(status, dtype=float)


def random_histogram(seed, days=30, max_count=6):
    rng = random.Random(seed)
    return {
        day: (rng.randint(0, max_count), rng.randint(0, max_count // 2))
        for day in range(days)
        if rng.random() < 0.7
    }


# --- Wilson ---------------------------------------------------------------------------------


@pytest.mark.parametrize("successes,n", PROPORTION_CASES)
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_statsmodels(successes, n, confidence):
    expected = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(successes, n, confidence) == approx(tuple(expected))


def test_wilson_hand_value():
    # p = 0.3, n = 10, z = 1.96: centre 0.3 + 0.192..., from the closed form.
    low, high = wilson_interval(3, 10)
    assert low == approx(0.10779126740630104)
    assert high == approx(0.6032218525388546)


def test_wilson_empty_is_none():
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(
    "args", [(-1, 10), (11, 10), (0, -1), (1, 10, 0.0), (1, 10, 1.0), (1, 10, 1.5)]
)
def test_wilson_invalid(args):
    with pytest.raises(ValueError):
        wilson_interval(*args)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate(case):
    successes, n = case
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


# --- Newcombe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "s1,n1,s2,n2",
    [(30, 100, 20, 100), (0, 15, 4, 20), (12, 12, 3, 40), (5, 1000, 9, 800), (7, 7, 0, 3)],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_newcombe_matches_statsmodels(s1, n1, s2, n2, confidence):
    result = newcombe_difference(s1, n1, s2, n2, confidence)
    # statsmodels compare="diff" is p1 - p2, the same sign convention.
    low, high = confint_proportions_2indep(
        s1, n1, s2, n2, method="newcomb", compare="diff", alpha=1 - confidence
    )
    _, p_value = proportions_ztest([s1, s2], [n1, n2])
    assert isinstance(result, DifferenceResult)
    assert result.estimate == approx(s1 / n1 - s2 / n2)
    assert (result.low, result.high) == approx((low, high))
    assert result.p_value == approx(p_value)
    assert result.low <= result.estimate <= result.high


def test_newcombe_sign_convention():
    forward = newcombe_difference(30, 100, 20, 100)
    backward = newcombe_difference(20, 100, 30, 100)
    assert forward.estimate > 0
    assert (backward.estimate, backward.low, backward.high) == approx(
        (-forward.estimate, -forward.high, -forward.low)
    )
    assert backward.p_value == approx(forward.p_value)


def test_newcombe_empty_group_is_none():
    assert newcombe_difference(0, 0, 3, 10) is None
    assert newcombe_difference(3, 10, 0, 0) is None


def test_newcombe_degenerate_pooled_rate_has_p_one():
    assert newcombe_difference(0, 10, 0, 20).p_value == 1.0
    assert newcombe_difference(10, 10, 20, 20).p_value == 1.0


def test_newcombe_invalid():
    with pytest.raises(ValueError):
        newcombe_difference(11, 10, 3, 10)
    with pytest.raises(ValueError):
        newcombe_difference(1, 10, 3, 10, confidence=1.0)


# --- Kaplan-Meier ---------------------------------------------------------------------------

HAND_EXAMPLE = {1: (2, 1), 3: (1, 0), 5: (0, 2), 7: (0, 0)}


def loglog_band(survival, greenwood_sum, z=Z95):
    spread = math.exp(z * math.sqrt(greenwood_sum) / abs(math.log(survival)))
    return survival**spread, survival ** (1 / spread)


def test_kaplan_meier_hand_example():
    curve = kaplan_meier(HAND_EXAMPLE)
    # 6 learners; day 1: 2 of 6 activate, 1 censored; day 3: 1 of 3; day 5: 2 censored.
    low1, high1 = loglog_band(2 / 3, 2 / (6 * 4))
    low3, high3 = loglog_band(4 / 9, 2 / (6 * 4) + 1 / (3 * 2))
    expected = [
        KMPoint(1, 6, 2, 1, 2 / 3, low1, high1),
        KMPoint(3, 3, 1, 0, 4 / 9, low3, high3),
        KMPoint(5, 2, 0, 2, 4 / 9, low3, high3),
    ]
    assert [(p.day, p.at_risk, p.events, p.censored) for p in curve] == [
        (p.day, p.at_risk, p.events, p.censored) for p in expected
    ]
    for point, want in zip(curve, expected, strict=True):
        assert (point.survival, point.low, point.high) == approx(
            (want.survival, want.low, want.high)
        )


@pytest.mark.parametrize(
    "events_by_day",
    [HAND_EXAMPLE, {0: (3, 0), 2: (5, 4), 9: (1, 1), 10: (4, 0)}]
    + [random_histogram(seed) for seed in range(5)],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_kaplan_meier_matches_statsmodels(events_by_day, confidence):
    times, status = expand(events_by_day)
    reference = SurvfuncRight(times, status)
    at_events = {p.day: p for p in kaplan_meier(events_by_day, confidence) if p.events}
    assert sorted(at_events) == reference.surv_times.tolist()
    z = sps.norm.ppf(0.5 + confidence / 2)
    for day, surv, se, n_risk, n_events in zip(
        reference.surv_times,
        reference.surv_prob,
        reference.surv_prob_se,
        reference.n_risk,
        reference.n_events,
        strict=True,
    ):
        point = at_events[day]
        assert (point.at_risk, point.events) == (n_risk, n_events)
        assert point.survival == approx(surv)
        if 0 < surv < 1:
            # Greenwood: se(S) = S * sqrt(sum d/(n(n-d))), so the log(-log) band is
            # S ** exp(+-z * se / (S * |log S|)).
            spread = math.exp(z * se / (surv * abs(math.log(surv))))
            assert (point.low, point.high) == approx((surv**spread, surv ** (1 / spread)))
            assert point.low < point.survival < point.high


def test_kaplan_meier_edge_cases():
    assert kaplan_meier({}) == []
    assert kaplan_meier({3: (0, 0)}) == []
    assert kaplan_meier({1: (0, 4), 2: (0, 1)}) == [
        KMPoint(1, 5, 0, 4, 1.0, 1.0, 1.0),
        KMPoint(2, 1, 0, 1, 1.0, 1.0, 1.0),
    ]
    all_events = kaplan_meier({1: (1, 0), 2: (2, 0)})
    assert all_events[-1] == KMPoint(2, 2, 2, 0, 0.0, 0.0, 0.0)
    assert all_events[0].survival == approx(2 / 3)


@pytest.mark.parametrize(
    "events_by_day,confidence",
    [({1: (-1, 0)}, 0.95), ({1: (0, -1)}, 0.95), ({-1: (1, 0)}, 0.95), ({1: (1, 0)}, 0.0)],
)
def test_kaplan_meier_invalid(events_by_day, confidence):
    with pytest.raises(ValueError):
        kaplan_meier(events_by_day, confidence)


def test_km_reading_is_step_function_up_to_the_longest_follow_up():
    curve = kaplan_meier(HAND_EXAMPLE)
    assert [(reading.day, reading.cumulative) for reading in (km_reading(curve, day) for day in (0, 1, 2, 3))] == [
        (0, 0.0), (1, approx(1 / 3)), (2, approx(1 / 3)), (3, approx(5 / 9))]
    # Nobody was observed past day 5: "by day 100" is read, and said to be read, by day 5.
    assert (km_reading(curve, 100).day, km_reading(curve, 100).cumulative) == (5, approx(5 / 9))
    point = curve[1]
    assert (km_reading(curve, 4).low, km_reading(curve, 4).high) == (approx(1 - point.high), approx(1 - point.low))
    assert km_reading(curve, 0).low == km_reading(curve, 0).high == 0.0
    assert km_reading([], 5) is None


def test_km_median():
    assert km_median(kaplan_meier(HAND_EXAMPLE)) == 3
    assert km_median(kaplan_meier({1: (1, 0), 2: (1, 0)})) == 1  # S(1) == 0.5 exactly
    assert km_median(kaplan_meier({1: (1, 5)})) is None
    assert km_median([]) is None


# --- Log-rank -------------------------------------------------------------------------------

LOG_RANK_CASES = [
    (HAND_EXAMPLE, {2: (1, 3), 4: (0, 1)}),
    ({0: (5, 1), 1: (3, 2), 3: (2, 2)}, {0: (1, 0), 1: (1, 4), 2: (6, 0), 3: (0, 3)}),
    ({1: (1, 0)}, {1: (0, 1)}),
    ({1: (1, 0), 5: (1, 0)}, {1: (1, 0)}),  # last learner alone at risk on day 5
] + [(random_histogram(seed), random_histogram(seed + 100)) for seed in range(5)]


@pytest.mark.parametrize("group_a,group_b", LOG_RANK_CASES)
def test_log_rank_matches_statsmodels(group_a, group_b):
    times_a, status_a = expand(group_a)
    times_b, status_b = expand(group_b)
    chisq, p_value = survdiff(
        np.concatenate([times_a, times_b]),
        np.concatenate([status_a, status_b]),
        np.array([0] * len(times_a) + [1] * len(times_b)),
    )
    stat, p = log_rank(group_a, group_b)
    assert stat == approx(chisq)
    assert p == approx(sps.chi2.sf(chisq, 1))
    assert p == pytest.approx(p_value, abs=1e-12)  # statsmodels uses 1 - cdf
    assert log_rank(group_b, group_a) == approx((stat, p))


def test_log_rank_no_variance():
    assert log_rank({}, {}) == (0.0, 1.0)
    assert log_rank({1: (0, 3)}, {2: (0, 4)}) == (0.0, 1.0)
    assert log_rank({1: (2, 0)}, {}) == (0.0, 1.0)


def test_log_rank_invalid():
    with pytest.raises(ValueError):
        log_rank({1: (-1, 0)}, {1: (1, 0)})


# --- Student t ------------------------------------------------------------------------------

DFS = [0.5, 1, 2, 2.5, 7, 30, 1000, 1e5]


@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("t", [-60.0, -5.0, -2.0, -0.5, 0.0, 0.3, 1.96, 4.0, 40.0])
def test_student_t_cdf_matches_scipy(t, df):
    assert student_t_cdf(t, df) == approx(sps.t.cdf(t, df), abs=0)


@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("q", [1e-6, 0.001, 0.025, 0.1, 0.4, 0.5, 0.6, 0.9, 0.975, 0.999, 1 - 1e-6])
def test_student_t_ppf_matches_scipy(q, df):
    assert student_t_ppf(q, df) == approx(sps.t.ppf(q, df))


def test_student_t_infinite_argument():
    assert student_t_cdf(math.inf, 3) == 1.0
    assert student_t_cdf(-math.inf, 3) == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: student_t_cdf(1.0, 0),
        lambda: student_t_cdf(1.0, -2),
        lambda: student_t_cdf(1.0, math.inf),
        lambda: student_t_cdf(math.nan, 3),
        lambda: student_t_ppf(0.0, 3),
        lambda: student_t_ppf(1.0, 3),
        lambda: student_t_ppf(0.5, math.nan),
    ],
)
def test_student_t_invalid(call):
    with pytest.raises(ValueError):
        call()


@given(st.floats(1e-9, 1 - 1e-9), st.floats(0.2, 1e4))
def test_student_t_ppf_inverts_cdf(q, df):
    assert student_t_cdf(student_t_ppf(q, df), df) == pytest.approx(q, rel=1e-9)


# --- Welch ----------------------------------------------------------------------------------

WELCH_CASES = [
    (5.0, 4.0, 10, 3.0, 9.0, 12),
    (0.42, 0.0625, 250, 0.40, 0.09, 40),
    (-1.0, 100.0, 2, 2.0, 1.0, 3),
    (10.0, 1.0, 5000, 10.0, 1.0, 5000),
]


@pytest.mark.parametrize("mean1,var1,n1,mean2,var2,n2", WELCH_CASES)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_welch_matches_scipy(mean1, var1, n1, mean2, var2, n2, confidence):
    result = welch_difference(mean1, var1, n1, mean2, var2, n2, confidence)
    _, p_value = sps.ttest_ind_from_stats(
        mean1, math.sqrt(var1), n1, mean2, math.sqrt(var2), n2, equal_var=False
    )
    a, b = var1 / n1, var2 / n2
    df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    half = sps.t.ppf(0.5 + confidence / 2, df) * math.sqrt(a + b)
    assert result.estimate == approx(mean1 - mean2)
    assert (result.low, result.high) == approx((mean1 - mean2 - half, mean1 - mean2 + half))
    assert result.p_value == approx(p_value)


@pytest.mark.parametrize("seed", range(3))
def test_welch_matches_statsmodels_from_data(seed):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(1.0, 2.0, 17), rng.exponential(1.5, 40)
    result = welch_difference(x1.mean(), x1.var(ddof=1), 17, x2.mean(), x2.var(ddof=1), 40)
    compare = CompareMeans(DescrStatsW(x1), DescrStatsW(x2))
    _, p_value, _ = compare.ttest_ind(usevar="unequal")
    low, high = compare.tconfint_diff(usevar="unequal")
    assert (result.low, result.high, result.p_value) == approx((low, high, p_value))


def test_welch_edge_cases():
    assert welch_difference(1.0, 1.0, 1, 0.0, 1.0, 10) is None
    assert welch_difference(1.0, 1.0, 10, 0.0, 1.0, 0) is None
    assert welch_difference(2.0, 0.0, 5, 2.0, 0.0, 5) == DifferenceResult(0.0, 0.0, 0.0, 1.0)
    assert welch_difference(3.0, 0.0, 5, 2.0, 0.0, 5) == DifferenceResult(1.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        welch_difference(1.0, -1.0, 10, 0.0, 1.0, 10)
    with pytest.raises(ValueError):
        welch_difference(1.0, 1.0, 10, 0.0, 1.0, 10, confidence=0)


# --- Difference in differences --------------------------------------------------------------


def test_difference_in_differences_matches_reference():
    groups = [GroupStats(120, 2.0, 4.0), GroupStats(90, 3.5, 6.25)]
    groups += [GroupStats(200, 2.2, 3.0), GroupStats(150, 2.6, 5.0)]
    tpre, tpost, cpre, cpost = groups
    result = difference_in_differences(tpre, tpost, cpre, cpost)
    terms = [g.variance / g.n for g in groups]
    se = math.sqrt(sum(terms))
    df = sum(terms) ** 2 / sum(v**2 / (g.n - 1) for v, g in zip(terms, groups, strict=True))
    estimate = (3.5 - 2.0) - (2.6 - 2.2)
    half = sps.t.ppf(0.975, df) * se
    assert result.estimate == approx(estimate)
    assert (result.low, result.high) == approx((estimate - half, estimate + half))
    assert result.p_value == approx(2 * sps.t.sf(abs(estimate) / se, df))


def test_difference_in_differences_reduces_to_welch_with_constant_control():
    tpre, tpost = GroupStats(30, 1.0, 2.0), GroupStats(25, 1.8, 3.0)
    control = GroupStats(50, 0.7, 0.0)
    result = difference_in_differences(tpre, tpost, control, control, confidence=0.9)
    welch = welch_difference(1.8, 3.0, 25, 1.0, 2.0, 30, confidence=0.9)
    assert (result.estimate, result.low, result.high, result.p_value) == approx(
        (welch.estimate, welch.low, welch.high, welch.p_value)
    )


def test_difference_in_differences_small_group_is_none():
    ok = GroupStats(10, 1.0, 1.0)
    assert difference_in_differences(ok, ok, ok, GroupStats(1, 1.0, 0.0)) is None


# --- ROI and suppression --------------------------------------------------------------------


def test_roi_carries_interval():
    assert roi((50.0, 50.0), (10.0, 4.0, 16.0), (200.0, 200.0)) == approx((1.5, 0.0, 3.0))
    assert roi((0.0, 0.0), (10.0, 4.0, 16.0), (200.0, 200.0)) == (-1.0, -1.0, -1.0)
    assert roi((50.0, 50.0), (-2.0, -6.0, 2.0), (100.0, 100.0)) == approx((-2.0, -4.0, 0.0))


def test_roi_carries_ranges_by_their_corners():
    # value 40–60, activations 4–16 (estimate 10), cost 150–250: brute force over a fine grid.
    grid = [(v, a, c) for v in range(40, 61, 5) for a in range(4, 17, 3) for c in range(150, 251, 25)]
    values = [v * a / c - 1 for v, a, c in grid]
    estimate, low, high = roi((40.0, 60.0), (10.0, 4.0, 16.0), (150.0, 250.0))
    assert (low, high) == approx((min(values), max(values)))
    assert estimate == approx(50 * 10 / 200 - 1)
    # Negative incremental activations (a holdout doing better) flip which corner is lowest.
    assert roi((40.0, 60.0), (-2.0, -6.0, 2.0), (100.0, 200.0))[1:] == approx((60 * -6 / 100 - 1, 60 * 2 / 100 - 1))


@pytest.mark.parametrize("value,cost", [((50.0, 50.0), (0.0, 0.0)), ((50.0, 50.0), (-1.0, 10.0)),
                                        ((-1.0, 1.0), (100.0, 100.0)), ((60.0, 50.0), (100.0, 100.0)),
                                        ((50.0, 50.0), (200.0, 100.0))])
def test_roi_invalid(value, cost):
    with pytest.raises(ValueError):
        roi(value, (1.0, 0.0, 2.0), cost)


@pytest.mark.parametrize(
    "count,minimum,expected", [(0, 5, None), (4, 5, None), (5, 5, 5), (120, 5, 120), (0, 0, 0)]
)
def test_suppress_small(count, minimum, expected):
    assert suppress_small(count, minimum) == expected


# --- Tests that agree with their interval (issue 16) ---------------------------------------------


@given(st.integers(5, 60), st.integers(5, 60), st.integers(5, 60), st.integers(5, 60))
def test_newcombe_p_value_is_where_statsmodels_interval_reaches_zero(s1, f1, s2, f2):
    n1, n2 = s1 + f1, s2 + f2
    p_value = newcombe_p_value(s1, n1, s2, n2)
    if s1 * n2 == s2 * n1:
        assert p_value == 1.0
        return

    def includes_zero(alpha):
        low, high = confint_proportions_2indep(s1, n1, s2, n2, method="newcomb", compare="diff", alpha=alpha)
        return low <= 0 <= high

    if p_value > 1e-6:  # past that, the two implementations' normal quantiles part at the 1e-6 level
        assert includes_zero(p_value * (1 - 1e-6)) and not includes_zero(min(p_value * (1 + 1e-6), 1 - 1e-9))
    result = rate_difference(s1, n1, s2, n2)
    assert (result.p_value < 0.05) == (result.low > 0 or result.high < 0)


@pytest.mark.parametrize("s1, n1, s2, n2", [(3, 6, 0, 6), (1, 5, 6, 8), (0, 7, 4, 9), (2, 12, 9, 11), (4, 4, 1, 6)])
def test_small_counts_use_barnard_s_exact_test_and_its_inverted_interval(s1, n1, s2, n2):
    result = rate_difference(s1, n1, s2, n2)
    reference = sps.barnard_exact([[s1, s2], [n1 - s1, n2 - s2]], pooled=True).pvalue
    assert result.p_value == approx(reference, rel=1e-6)
    assert (result.p_value < 0.05) == (result.low > 0 or result.high < 0)
    assert result.low <= result.estimate <= result.high


@pytest.mark.parametrize("seed", range(5))
def test_median_interval_matches_lifelines(seed):
    from lifelines import KaplanMeierFitter  # pylint: disable=import-outside-toplevel
    from lifelines.utils import median_survival_times  # pylint: disable=import-outside-toplevel
    rng = random.Random(seed)
    durations = [rng.randint(0, 45) for _ in range(rng.randint(8, 80))]
    observed = [int(rng.random() < 0.6) for _ in durations]
    events = {}
    for day, event in zip(durations, observed):
        old = events.get(day, (0, 0))
        events[day] = (old[0] + event, old[1] + 1 - event)
    curve = kaplan_meier(events)
    fitter = KaplanMeierFitter().fit(durations, observed)
    low, high = median_survival_times(fitter.confidence_interval_).iloc[0].tolist()
    expected = None if math.isinf(low) else (low, None if math.isinf(high) else high)
    assert km_median_interval(curve) == expected
    median = fitter.median_survival_time_
    assert km_median(curve) == (None if math.isinf(median) else median)


def test_median_interval_unbounded_above_and_not_estimable():
    """Issue 16's example: median day 10, interval [3, ∞) by lifelines."""
    curve = kaplan_meier({3: (2, 0), 10: (3, 0), 40: (0, 5)})
    assert km_median(curve) == 10 and km_median_interval(curve) == (3, None)
    # Even the band's low edge stays above 0.5.
    assert km_median_interval(kaplan_meier({5: (1, 0), 40: (0, 19)})) is None


def test_a_table_tied_with_the_observed_one_counts_in_the_exact_p_value():
    """
    1/2 vs 1/3: only 0/2 vs 0/3 and 2/2 vs 3/3 are less extreme, so p = 1 - min over the common
    rate r of (1 - r)**5 + r**5 = 1 - 2 / 2**5 = 0.9375. scipy drops 1/2 vs 2/3, whose statistic ties
    with the observed one but is one ulp smaller, and says 0.774 (the reason stats/exact.py exists).
    """
    assert rate_difference(1, 2, 1, 3).p_value == approx(0.9375, rel=1e-9)
    assert sps.barnard_exact([[1, 1], [1, 2]], pooled=True).pvalue == approx(0.774088591829786, rel=1e-9)
