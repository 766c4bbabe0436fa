"""What every statistic shares: its result types, the confidence level's quantile, suppression."""
from dataclasses import dataclass

from scipy.special import ndtri


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


def upper_quantile(confidence: float) -> float:
    """Probability 0.5 + confidence/2 that gives a two-sided interval; validates confidence."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return 0.5 + confidence / 2.0


def z_critical(confidence: float) -> float:
    """Two-sided standard-normal critical value for ``confidence``."""
    return float(ndtri(upper_quantile(confidence)))


def suppress_small(count: int, minimum: int) -> int | None:
    """Hide cells smaller than the minimum cell size (including 0) to protect privacy.

    Standard small-cell suppression; returns None when count < minimum, else count.
    """
    return None if count < minimum else count
