"""
Time to activation: Kaplan-Meier from per-day histograms, its median, and the log-rank test.

Hand-written: scipy's ``ecdf`` takes one row per learner, not the per-day counts SQL returns, and
has no log-log band; lifelines and statsmodels, which the tests compare with, are not in the LMS.
"""
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from scipy.special import chdtrc

from activation_plugin.stats.core import z_critical


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
    z = z_critical(confidence)
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

    Returns (chi-square with 1 df, two-sided p-value from scipy's chi-square). Hypergeometric
    variance for ties. (0.0, 1.0) when the variance is zero (e.g. no events).
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
    statistic = observed_minus_expected**2 / variance
    return statistic, float(chdtrc(1, statistic))
