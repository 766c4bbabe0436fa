"""Pure statistics helpers for activation reporting.

Standard library only: this module runs inside the Open edX LMS, where numpy
and scipy are not available. Every function takes aggregate numbers (counts,
per-day histograms, summary statistics) as produced by SQL ``GROUP BY``
queries, never raw rows.
"""

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

_STD_NORMAL = NormalDist()
_EPS = 1e-15
_MAX_ITER = 10_000


@dataclass(frozen=True)
class DifferenceResult:
    """Point estimate of a difference, its confidence interval and a two-sided p-value."""

    estimate: float
    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class GroupStats:
    """Summary of one group: size, mean and sample variance (ddof=1)."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class KMPoint:
    """One step of a Kaplan-Meier curve (only days with events or censorings)."""

    day: int
    at_risk: int
    events: int
    censored: int
    survival: float
    low: float
    high: float


def _upper_quantile(confidence: float) -> float:
    """Probability 0.5 + confidence/2 that gives a two-sided interval; validates confidence."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return 0.5 + confidence / 2.0


def _z(confidence: float) -> float:
    """Two-sided standard-normal critical value for ``confidence``."""
    return _STD_NORMAL.inv_cdf(_upper_quantile(confidence))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Confidence interval for a binomial proportion (activation rate).

    Wilson (1927) score interval: good coverage for small n and rates near 0 or 1,
    unlike the Wald interval. Returns None when n == 0 (no data).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = _z(confidence)
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

    Interval: Newcombe (1998) hybrid score interval, method 10, built from the two
    Wilson intervals. p-value: two-sided pooled two-proportion z-test.
    Returns None when either group is empty.
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
    p_value = 1.0 if se == 0.0 else 2.0 * _STD_NORMAL.cdf(-abs(d) / se)
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

    def reaches_zero(alpha: float) -> bool:
        result = newcombe_difference(s1, n1, s2, n2, 1.0 - alpha)
        return (result.low if positive else -result.high) <= 0.0

    # The interval narrows as alpha grows: it reaches 0 for every alpha up to p, and not beyond.
    # Below 1e-15 the normal quantile is out of reach: such a p-value is shown as "< 0.001" anyway.
    low, high = 1e-15, 1.0 - 1e-15
    if not reaches_zero(low):
        return low
    for _ in range(60):
        middle = (low + high) / 2.0
        if reaches_zero(middle):
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def _restricted_mle(p1: float, n1: int, p2: float, n2: int, delta: float) -> tuple[float, float]:
    """Maximum-likelihood (p1, p2) under p1 - p2 = delta (Farrington & Manning 1990, closed form)."""
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    d = -p1 * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = math.copysign(math.sqrt(max(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0)), v)
    cosine = 1.0 if u == 0.0 else max(-1.0, min(1.0, v / u**3))
    w = (math.pi + math.acos(cosine)) / 3.0
    r1 = min(1.0, max(0.0, 2.0 * u * math.cos(w) - b / (3.0 * a)))
    return r1, min(1.0, max(0.0, r1 - delta))


def _score(x1: int, n1: int, x2: int, n2: int, delta: float) -> float:
    """Score statistic of H0: p1 - p2 = delta, its variance at the restricted estimate."""
    p1, p2 = x1 / n1, x2 / n2
    r1, r2 = _restricted_mle(p1, n1, p2, n2, delta)
    variance = r1 * (1.0 - r1) / n1 + r2 * (1.0 - r2) / n2
    gap = p1 - p2 - delta
    if variance <= 0.0:
        return 0.0 if abs(gap) < 1e-12 else math.copysign(math.inf, gap)
    return gap / math.sqrt(variance)


def _binomial_pmf(n: int, p: float) -> list[float]:
    if p <= 0.0:
        return [1.0] + [0.0] * n
    if p >= 1.0:
        return [0.0] * n + [1.0]
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    return [math.exp(log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
            for k in range(n + 1)]


def _exact_p(s1: int, n1: int, s2: int, n2: int, delta: float, points: int) -> float:
    """
    Exact unconditional two-sided p-value of H0: p1 - p2 = delta: the probability of a score at
    least as extreme as the observed one, maximised over the nuisance rate (Barnard's approach
    with the score statistic; at delta = 0 it is scipy's ``barnard_exact(pooled=True)``).
    """
    observed = abs(_score(s1, n1, s2, n2, delta)) * (1.0 - 1e-9)
    region = [[x2 for x2 in range(n2 + 1) if abs(_score(x1, n1, x2, n2, delta)) >= observed]
              for x1 in range(n1 + 1)]

    def tail(p2: float) -> float:
        b1, b2 = _binomial_pmf(n1, p2 + delta), _binomial_pmf(n2, p2)
        return sum(b1[x1] * sum(b2[x2] for x2 in xs) for x1, xs in enumerate(region) if xs)

    start, stop = max(0.0, -delta), min(1.0, 1.0 - delta)
    grid = [start + (stop - start) * k / points for k in range(points + 1)]
    values = [tail(p2) for p2 in grid]
    best = max(range(len(grid)), key=values.__getitem__)
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, points)]
    for _ in range(30):  # golden-section refinement around the best grid point
        left, right = high - 0.618 * (high - low), low + 0.618 * (high - low)
        if tail(left) >= tail(right):
            high = right
        else:
            low = left
    return min(1.0, max(*values, tail((low + high) / 2.0)))


# Beyond this many learners in the two groups together, the exact computation is too slow for a
# page and a cell under 5 is a rare corner: the Newcombe interval is used there too.
EXACT_MAX_LEARNERS = 80


def rate_difference(s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95) -> DifferenceResult | None:
    """Difference p1 - p2 of two activation rates, with an interval and a p-value that agree.

    With at least 5 learners on each side of each group's outcome: Newcombe's hybrid score
    interval and the p-value that inverts it (``newcombe_p_value``). With fewer (possible only
    when operators lower the minimum cell size): the exact unconditional score test and the
    interval that inverts it, so that 3/6 vs 0/6 gives p = 0.07 (Barnard), not the z-test's 0.046,
    and an interval containing 0. Either way, the interval excludes 0 exactly when p < 1 - confidence.
    Returns None when either group is empty.
    """
    if n1 == 0 or n2 == 0:
        return None
    if min(s1, n1 - s1, s2, n2 - s2) >= 5 or n1 + n2 > EXACT_MAX_LEARNERS:
        result = newcombe_difference(s1, n1, s2, n2, confidence)
        return DifferenceResult(result.estimate, result.low, result.high, newcombe_p_value(s1, n1, s2, n2))
    alpha = 1.0 - confidence
    estimate = s1 / n1 - s2 / n2

    def bound(outside: float) -> float:
        if _exact_p(s1, n1, s2, n2, outside, 40) > alpha:
            return outside
        inside, far = estimate, outside
        for _ in range(16):
            middle = (inside + far) / 2.0
            if _exact_p(s1, n1, s2, n2, middle, 40) > alpha:
                inside = middle
            else:
                far = middle
        return inside

    low, high = bound(-1.0 + 1e-9), bound(1.0 - 1e-9)
    p_value = _exact_p(s1, n1, s2, n2, 0.0, 200)
    # The bounds and the p-value at 0 come from one function; make their agreement exact.
    if p_value > alpha:
        low, high = min(low, 0.0), max(high, 0.0)
    elif low <= 0.0 <= high:
        low, high = (max(low, 1e-9), high) if estimate > 0 else (low, min(high, -1e-9))
    return DifferenceResult(estimate, low, high, p_value)


def _validated_days(events_by_day: Mapping[int, tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Sorted (day, events, censored) rows with non-zero counts; ValueError on negatives."""
    rows = []
    for day, (events, censored) in sorted(events_by_day.items()):
        if day < 0 or events < 0 or censored < 0:
            raise ValueError(f"negative day or count: {day}: {(events, censored)}")
        if events or censored:
            rows.append((day, events, censored))
    return rows


def kaplan_meier(
    events_by_day: Mapping[int, tuple[int, int]], confidence: float = 0.95
) -> list[KMPoint]:
    """Kaplan-Meier estimate of S(t) = P(not yet activated by day t).

    ``events_by_day`` maps day -> (events, censored); at tied days events come
    before censorings. Kaplan & Meier (1958); variance by Greenwood's formula;
    pointwise band on the log(-log S) scale (Kalbfleisch & Prentice 1980):
    S ** exp(+-z * sqrt(sum d/(n(n-d))) / |log S|). The band is [1, 1] before the
    first event and [0, 0] once S reaches 0.
    """
    z = _z(confidence)
    rows = _validated_days(events_by_day)
    at_risk = sum(e + c for _, e, c in rows)
    survival, greenwood = 1.0, 0.0
    curve = []
    for day, events, censored in rows:
        if events:
            survival *= 1.0 - events / at_risk
            if events < at_risk:
                greenwood += events / (at_risk * (at_risk - events))
        if 0.0 < survival < 1.0:
            spread = math.exp(z * math.sqrt(greenwood) / abs(math.log(survival)))
            low, high = survival**spread, survival ** (1.0 / spread)
        else:
            low = high = survival
        curve.append(KMPoint(day, at_risk, events, censored, survival, low, high))
        at_risk -= events + censored
    return curve


@dataclass(frozen=True)
class KMReading:
    """Cumulative activation 1 - S read off the curve on ``day``, with its band."""

    day: int
    cumulative: float
    low: float
    high: float


def km_reading(curve: list[KMPoint], day: int) -> KMReading | None:
    """Cumulative activation 1 - S by ``day``, or by the longest follow-up when nobody was observed that long.

    The estimate exists only up to the last day anyone was observed (lifelines' timeline ends
    there): past it the step function merely repeats its last value, so reading it "by ``day``"
    would claim what nobody has been followed long enough to show. The reading's ``day`` says
    which day it is. None for an empty curve.
    """
    if not curve:
        return None
    read = min(day, curve[-1].day)
    i = bisect_right([point.day for point in curve], read)
    if i == 0:
        return KMReading(read, 0.0, 0.0, 0.0)
    point = curve[i - 1]
    return KMReading(read, 1.0 - point.survival, 1.0 - point.high, 1.0 - point.low)


def km_median(curve: list[KMPoint]) -> int | None:
    """Median time to activation: first day with S <= 0.5, None if never reached."""
    return next((point.day for point in curve if point.survival <= 0.5), None)


def km_median_interval(curve: list[KMPoint]) -> tuple[int, int | None] | None:
    """Confidence interval of the median time to activation, in days.

    Brookmeyer & Crowley (1982), read off the curve's pointwise band as lifelines'
    ``median_survival_times(confidence_interval_)`` does: from the first day the band's lower
    edge reaches 0.5 to the first day its upper edge does. The upper end is None (unbounded)
    while the band's upper edge stays above 0.5; the whole interval is None (not estimable)
    while even its lower edge does.
    """
    low = next((point.day for point in curve if point.low <= 0.5), None)
    if low is None:
        return None
    return low, next((point.day for point in curve if point.high <= 0.5), None)


def log_rank(
    events_by_day_a: Mapping[int, tuple[int, int]],
    events_by_day_b: Mapping[int, tuple[int, int]],
) -> tuple[float, float]:
    """Do two groups activate at different speeds? Mantel (1966) log-rank test.

    Returns (chi-square with 1 df, two-sided p-value); p = 2 * Phi(-|z|) since
    chi2(1) = z**2. Hypergeometric variance for ties. (0.0, 1.0) when the
    variance is zero (e.g. no events).
    """
    rows_a = {day: (e, c) for day, e, c in _validated_days(events_by_day_a)}
    rows_b = {day: (e, c) for day, e, c in _validated_days(events_by_day_b)}
    risk_a = sum(e + c for e, c in rows_a.values())
    risk_b = sum(e + c for e, c in rows_b.values())
    observed_minus_expected, variance = 0.0, 0.0
    for day in sorted(rows_a.keys() | rows_b.keys()):
        events_a, censored_a = rows_a.get(day, (0, 0))
        events_b, censored_b = rows_b.get(day, (0, 0))
        total, events = risk_a + risk_b, events_a + events_b
        if events and total > 1:
            share = risk_a / total
            observed_minus_expected += events_a - events * share
            variance += events * share * (1.0 - share) * (total - events) / (total - 1)
        risk_a -= events_a + censored_a
        risk_b -= events_b + censored_b
    if variance <= 0.0:
        return 0.0, 1.0
    z = observed_minus_expected / math.sqrt(variance)
    return z * z, 2.0 * _STD_NORMAL.cdf(-abs(z))


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b), modified Lentz (Numerical Recipes 6.4)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            delta = c * d
            result *= delta
        if abs(delta - 1.0) < _EPS:
            return result
    raise ArithmeticError("incomplete beta continued fraction did not converge")


def _regularized_beta(a: float, b: float, x: float, x_complement: float | None = None) -> float:
    """Regularized incomplete beta I_x(a, b) (Numerical Recipes 6.4, Lentz 1976).

    ``x_complement`` is 1 - x computed by the caller without cancellation: near x = 1 (a t
    statistic near 0) the subtraction would lose the digits the result depends on.
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x if x_complement is None else x_complement
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def _check_df(df: float) -> None:
    """Reject non-positive, infinite or NaN degrees of freedom."""
    if not (df > 0.0 and math.isfinite(df)):
        raise ValueError(f"degrees of freedom must be positive and finite, got {df!r}")


def student_t_cdf(t: float, df: float) -> float:
    """Student-t CDF (real df > 0), needed for Welch tests without scipy.

    Uses P(T <= -|t|) = I_x(df/2, 1/2) / 2 with x = df / (df + t**2)
    (Press et al., Numerical Recipes 2nd ed., section 6.4).
    """
    _check_df(df)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    lower_tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))
    return 1.0 - lower_tail if t > 0 else lower_tail


def _student_t_pdf(t: float, df: float) -> float:
    """Student-t density, the derivative used by the Newton steps of the quantile."""
    log_norm = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def student_t_ppf(q: float, df: float) -> float:
    """Student-t quantile: inverse of :func:`student_t_cdf` for 0 < q < 1.

    Solved on the lower tail (for accuracy) by Newton's method safeguarded with
    bisection inside a bracketing interval.
    """
    _check_df(df)
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    if q > 0.5:
        return -student_t_ppf(1.0 - q, df)
    if q == 0.5:
        return 0.0
    low, high = -1.0, 0.0
    while student_t_cdf(low, df) > q:
        low, high = 2.0 * low, low
    t = _STD_NORMAL.inv_cdf(q)
    if not low < t < high:
        t = (low + high) / 2.0
    for _ in range(_MAX_ITER):
        error = student_t_cdf(t, df) - q
        if error == 0.0:
            return t
        low, high = (low, t) if error > 0.0 else (t, high)
        candidate = t - error / _student_t_pdf(t, df)
        if not low < candidate < high:
            candidate = (low + high) / 2.0
        if abs(candidate - t) <= 1e-14 * max(1.0, abs(t)) or high - low <= 1e-14 * abs(low):
            return candidate
        t = candidate
    raise ArithmeticError("student_t_ppf did not converge")


def _t_difference(
    estimate: float, terms: list[tuple[float, int]], confidence: float
) -> DifferenceResult:
    """t-based interval and p-value from (variance, n) terms, Welch-Satterthwaite df.

    Satterthwaite (1946): df = (sum v/n)**2 / sum (v/n)**2 / (n - 1).
    A zero standard error gives a degenerate interval and p = 1 (or 0 if estimate != 0).
    """
    q = _upper_quantile(confidence)
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


def _cohen_h(p_base: float, p_other: float) -> float:
    """Cohen's h, the arcsine-transformed difference of two proportions."""
    return 2.0 * math.asin(math.sqrt(p_other)) - 2.0 * math.asin(math.sqrt(p_base))


def power_two_rates(p_base: float, p_other: float, n_base: float, n_other: float, alpha: float = 0.05) -> float:
    """Power of a two-sided comparison of two rates (normal approximation on Cohen's h).

    As statsmodels' ``NormalIndPower().power(proportion_effectsize(p_other, p_base), n_other,
    alpha, ratio=n_base / n_other)``, both tails counted.
    """
    if n_base <= 0 or n_other <= 0:
        return 0.0
    spread = abs(_cohen_h(p_base, p_other)) * math.sqrt(1.0 / (1.0 / n_base + 1.0 / n_other))
    critical = _STD_NORMAL.inv_cdf(1.0 - alpha / 2.0)
    return _STD_NORMAL.cdf(spread - critical) + _STD_NORMAL.cdf(-spread - critical)


def minimum_detectable_rate(
    p_base: float, n_base: float, n_other: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest rate above ``p_base`` the comparison detects with ``power``; None if none up to 100 %."""
    if power_two_rates(p_base, 1.0, n_base, n_other, alpha) < power:
        return None
    low, high = p_base, 1.0
    for _ in range(100):
        middle = (low + high) / 2.0
        if power_two_rates(p_base, middle, n_base, n_other, alpha) >= power:
            high = middle
        else:
            low = middle
    return high


def learners_needed(
    p_base: float, p_other: float, share_other: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Completers (whose windows end) needed in total to detect ``p_base`` -> ``p_other`` with
    ``power``, when a share ``share_other`` of them is in the compared group (the prompted arm);
    None for equal rates or an empty group."""
    if p_base == p_other or not 0.0 < share_other < 1.0:
        return None
    critical = _STD_NORMAL.inv_cdf(1.0 - alpha / 2.0) + _STD_NORMAL.inv_cdf(power)
    # n_eff = n * share * (1 - share); one tail (the other is negligible), then checked with both.
    total = math.ceil((critical / _cohen_h(p_base, p_other)) ** 2 / (share_other * (1.0 - share_other)))
    while power_two_rates(p_base, p_other, total * (1 - share_other), total * share_other, alpha) < power:
        total += 1
    return total


def suppress_small(count: int, minimum: int) -> int | None:
    """Hide cells smaller than the minimum cell size (including 0) to protect privacy.

    Standard small-cell suppression; returns None when count < minimum, else count.
    """
    return None if count < minimum else count
