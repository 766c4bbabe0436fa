"""Activation rates: one rate's interval, and the difference of two with an interval and p-value that agree."""
import math

from scipy.optimize import brentq
from scipy.special import ndtr

from activation_plugin.stats.core import DifferenceResult, z_critical
from activation_plugin.stats.exact import exact_difference


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Confidence interval for a binomial proportion (activation rate).

    Wilson (1927) score interval: good coverage for small n and rates near 0 or 1, unlike the Wald
    interval. The closed form, as scipy's ``binomtest(...).proportion_ci(method="wilson")`` computes
    it, without that call's exact p-value, which costs a millisecond per cell and is never read.
    Returns None when n == 0 (no data).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = z_critical(confidence)
    if n == 0:
        return None
    p = successes / n
    z2n = z * z / n
    denom = 1.0 + z2n
    centre = (p + z2n / 2.0) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / denom
    # Mathematically 0 <= low <= p <= high <= 1; clamp away rounding error.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def newcombe_difference(
    s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95
) -> DifferenceResult | None:
    """Difference of two proportions p1 - p2 (e.g. treated vs control activation rate).

    Interval: Newcombe (1998) hybrid score interval, method 10, built from the two Wilson
    intervals; scipy has none (statsmodels has, but the LMS does not install it). p-value:
    two-sided pooled two-proportion z-test. Returns None when either group is empty.
    """
    ci1 = wilson_interval(s1, n1, confidence)
    ci2 = wilson_interval(s2, n2, confidence)
    if ci1 is None or ci2 is None:
        return None
    (l1, u1), (l2, u2) = ci1, ci2
    p1, p2 = s1 / n1, s2 / n2
    d = p1 - p2
    low = d - math.hypot(p1 - l1, u2 - p2)
    high = d + math.hypot(u1 - p1, p2 - l2)
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    p_value = 1.0 if se == 0.0 else float(2.0 * ndtr(-abs(d) / se))
    return DifferenceResult(d, low, high, p_value)


def newcombe_p_value(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value consistent with ``newcombe_difference``'s interval.

    The smallest 1 - confidence at which the Newcombe interval reaches 0: the interval at
    confidence c excludes 0 exactly when p < 1 - c, which a pooled z-test does not guarantee
    (1/5 vs 6/8: the interval excludes 0, the z-test says 0.053).
    """
    if s1 * n2 == s2 * n1:
        return 1.0
    positive = s1 * n2 > s2 * n1

    def edge(alpha: float) -> float:
        """The interval's edge nearer 0, signed so that it is > 0 while the interval excludes 0."""
        result = newcombe_difference(s1, n1, s2, n2, 1.0 - alpha)
        return result.low if positive else -result.high

    # The interval narrows as alpha grows, so the edge rises through 0 once, at p.
    # Below 1e-15 the normal quantile is out of reach: such a p-value is shown as "< 0.001" anyway.
    low, high = 1e-15, 1.0 - 1e-15
    if edge(low) > 0.0:
        return low
    return float(brentq(edge, low, high, xtol=1e-17, rtol=1e-13))


# Beyond this many learners in the two groups together, the exact computation is too slow for a
# page and a cell under 5 is a rare corner: the Newcombe interval is used there too.
EXACT_MAX_LEARNERS = 80


def rate_difference(s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95) -> DifferenceResult | None:
    """Difference p1 - p2 of two activation rates, with an interval and a p-value that agree.

    With at least 5 learners on each side of each group's outcome: Newcombe's hybrid score
    interval and the p-value that inverts it (``newcombe_p_value``). With fewer (possible only
    when operators lower the minimum cell size): the exact unconditional score test and the
    interval that inverts it (``exact.exact_difference``), so that 3/6 vs 0/6 gives p = 0.07
    (Barnard), not the z-test's 0.046, and an interval containing 0. Either way, the interval
    excludes 0 exactly when p < 1 - confidence. Returns None when either group is empty.
    """
    if n1 == 0 or n2 == 0:
        return None
    if min(s1, n1 - s1, s2, n2 - s2) >= 5 or n1 + n2 > EXACT_MAX_LEARNERS:
        result = newcombe_difference(s1, n1, s2, n2, confidence)
        return DifferenceResult(result.estimate, result.low, result.high, newcombe_p_value(s1, n1, s2, n2))
    return exact_difference(s1, n1, s2, n2, 1.0 - confidence)
