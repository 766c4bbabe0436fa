"""Differences of means (Welch, difference-in-differences) on scipy's Student t, and the ROI built on them."""
import math

from scipy.special import stdtr, stdtrit

from activation_plugin.stats.core import DifferenceResult, GroupStats, upper_quantile


def _check_df(df: float) -> None:
    """Reject non-positive, infinite or NaN degrees of freedom (scipy would answer NaN, silently)."""
    if not (df > 0.0 and math.isfinite(df)):
        raise ValueError(f"degrees of freedom must be positive and finite, got {df!r}")


def student_t_cdf(t: float, df: float) -> float:
    """Student-t CDF (scipy's) for a real df > 0, as Welch-Satterthwaite gives; refuses what scipy turns into NaN."""
    _check_df(df)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    return float(stdtr(df, t))


def student_t_ppf(q: float, df: float) -> float:
    """Student-t quantile for 0 < q < 1, refusing what scipy turns into NaN or an infinity."""
    _check_df(df)
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    return float(stdtrit(df, q))


def _t_difference(
    estimate: float, terms: list[tuple[float, int]], confidence: float
) -> DifferenceResult:
    """t-based interval and p-value from (variance, n) terms, Welch-Satterthwaite df.

    Satterthwaite (1946): df = (sum v/n)**2 / sum (v/n)**2 / (n - 1).
    A zero standard error gives a degenerate interval and p = 1 (or 0 if estimate != 0).
    """
    q = upper_quantile(confidence)
    if any(variance < 0.0 for variance, _ in terms):
        raise ValueError(f"variances must be non-negative, got {terms!r}")
    se2 = sum(variance / n for variance, n in terms)
    if se2 == 0.0:
        return DifferenceResult(estimate, estimate, estimate, 1.0 if estimate == 0.0 else 0.0)
    df = se2 * se2 / sum((variance / n) ** 2 / (n - 1) for variance, n in terms)
    se = math.sqrt(se2)
    half = student_t_ppf(q, df) * se
    p_value = 2.0 * student_t_cdf(-abs(estimate) / se, df)
    return DifferenceResult(estimate, estimate - half, estimate + half, p_value)


def welch_difference(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int, confidence: float = 0.95
) -> DifferenceResult | None:
    """Difference of means mean1 - mean2 with unequal variances (e.g. hours to activation).

    Welch (1947) t-test with Welch-Satterthwaite df; var1/var2 are sample variances
    (ddof=1). Returns None when either group has fewer than 2 members.
    """
    if n1 < 2 or n2 < 2:
        return None
    return _t_difference(mean1 - mean2, [(var1, n1), (var2, n2)], confidence)


def difference_in_differences(
    treated_pre: GroupStats,
    treated_post: GroupStats,
    control_pre: GroupStats,
    control_post: GroupStats,
    confidence: float = 0.95,
) -> DifferenceResult | None:
    """Effect of an intervention net of the background trend, from four group summaries.

    Estimate (T_post - T_pre) - (C_post - C_pre) (Card & Krueger 1994 style 2x2 DiD).
    Assumes the four groups are independent samples (different learners in each
    cell; not valid for a panel of the same learners), so SE = sqrt(sum var_i/n_i)
    with generalised Welch-Satterthwaite df. Returns None if any group has n < 2.
    """
    groups = (treated_pre, treated_post, control_pre, control_post)
    if any(group.n < 2 for group in groups):
        return None
    estimate = (treated_post.mean - treated_pre.mean) - (control_post.mean - control_pre.mean)
    return _t_difference(estimate, [(group.variance, group.n) for group in groups], confidence)


def roi(
    value_per_activation: tuple[float, float], incremental_activations: tuple[float, float, float],
    cost: tuple[float, float],
) -> tuple[float, float, float]:
    """Return on investment (value * incremental - cost) / cost as (estimate, low, high).

    Value and cost are ranges (low, high); equal ends take them as exact. The estimate uses the
    middle of each range and the estimate of incremental activations; the interval is every
    combination of the ranges with the activations' interval: ROI = value * incremental / cost - 1
    has its extremes at the corners (value >= 0, cost > 0), so the bounds are the min and max over
    the eight corners. With exact value and cost this is the activations' interval mapped through.
    """
    (value_low, value_high), (cost_low, cost_high) = value_per_activation, cost
    if not 0.0 < cost_low <= cost_high:
        raise ValueError(f"cost must be a positive range, got {cost!r}")
    if not 0.0 <= value_low <= value_high:
        raise ValueError(f"value_per_activation must be a non-negative range, got {value_per_activation!r}")
    estimate, low, high = incremental_activations
    corners = [value * activations / spent - 1.0 for value in (value_low, value_high)
               for activations in (low, high) for spent in (cost_low, cost_high)]
    middle = ((value_low + value_high) / 2.0) * estimate / ((cost_low + cost_high) / 2.0) - 1.0
    return middle, min(corners), max(corners)
