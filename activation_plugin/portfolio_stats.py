"""
Pure statistics for comparing courses in a portfolio: funnel-plot control limits and
empirical-Bayes shrinkage of each course's activation rate.

A league table of raw rates ranks small courses by luck: 3 activated of 3 tops it. The funnel plot
asks whether a course is further from the portfolio's rate than its size explains; the shrunken
rates rank courses by what their counts say once a small course's luck is discounted.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_distribution
from scipy.stats import binom

# The two conventional funnel-plot limits (Spiegelhalter 2005): about 2 and 3 standard errors.
FUNNEL_LEVELS = (0.95, 0.998)


def funnel_limit(q: float, n, p: float):
    """
    The ``q`` quantile of the rate of a course with ``n`` learners when every course's true rate
    is ``p``: the exact binomial quantile over ``n``. Not interpolated between counts
    (Spiegelhalter 2005, A.1.1, smooths the steps), so a course is beyond a limit exactly when its
    count is that improbable: beyond the upper ``1 − t`` limit when ``P(X ≥ x) ≤ t``, which an
    interpolated limit would claim of 3 of 3 at a 30 % rate. ``n`` may be an array of sizes
    (one vectorised quantile for a whole portfolio); then so is the result.
    """
    sizes = np.asarray(n)
    if (sizes <= 0).any():
        raise ValueError("a funnel limit needs at least one learner")
    limits = binom.ppf(q, sizes, p) / sizes
    return float(limits) if limits.ndim == 0 else limits


@dataclass(frozen=True)
class FunnelLimits:
    """The limits around the portfolio's rate at one course size ``n``, per level (0.95, 0.998)."""

    n: int
    low: dict
    high: dict


def funnel_limits(p: float, n: int, levels=FUNNEL_LEVELS) -> FunnelLimits:
    """Two-sided control limits around the pooled rate ``p`` for a course with ``n`` learners."""
    return funnel_limits_at(p, [n], levels)[0]


def funnel_limits_at(p: float, sizes, levels=FUNNEL_LEVELS) -> list:
    """``funnel_limits`` at each of ``sizes``, from one vectorised quantile per limit: a portfolio has thousands."""
    low = {level: funnel_limit((1 - level) / 2, sizes, p) for level in levels}
    high = {level: funnel_limit(1 - (1 - level) / 2, sizes, p) for level in levels}
    return [FunnelLimits(n=n, low={level: float(low[level][index]) for level in levels},
                         high={level: float(high[level][index]) for level in levels})
            for index, n in enumerate(sizes)]


def funnel_position(activated: int, n: int, limits: FunnelLimits) -> str:
    """
    ``"high"``/``"low"`` beyond the 99.8 % limits, ``"above"``/``"below"`` beyond only the 95 %
    ones, ``"inside"`` otherwise: unusual once size is taken into account, not merely far off. A
    course on a limit is inside it (the limits are counts the pooled rate makes likely enough).
    """
    rate = activated / n
    outer, inner = max(limits.low), min(limits.low)
    if rate > limits.high[outer]:
        return "high"
    if rate < limits.low[outer]:
        return "low"
    if rate > limits.high[inner]:
        return "above"
    if rate < limits.low[inner]:
        return "below"
    return "inside"


@dataclass(frozen=True)
class BetaPrior:
    """
    The spread of true rates across the portfolio, as Beta(alpha, beta): ``mean`` the pooled rate,
    ``strength`` (alpha + beta) how many learners' worth of evidence the portfolio lends each course.
    ``rho`` is the intra-course correlation the strength comes from (0: courses no more different
    than chance; 1: every difference is real).
    """

    alpha: float
    beta: float
    rho: float

    @property
    def mean(self):
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self):
        return self.alpha + self.beta


def fit_beta_binomial(counts) -> BetaPrior | None:
    """
    The beta-binomial prior of a portfolio of ``(activated, eligible)`` counts, by the method of
    moments for unequal sizes (Kleinman 1973): the mean is the pooled rate ``p``; with
    ``S = Σ n_i (x_i/n_i − p)²``, ``E[S] = p(1−p)[(k−1) + ρ(N − Σn_i²/N − (k−1))]`` gives ``ρ``,
    and ``alpha + beta = (1 − ρ)/ρ``.

    When the courses differ no more than chance would make them (``ρ ≤ 0``) the moments call for
    an infinitely strong prior; the strength is capped at ``N``, the portfolio's learners, so a
    course is never told more by the others than they all know. None without two courses with
    eligible learners, or when the pooled rate is 0 or 1 (nothing to spread).
    """
    counts = [(x, n) for x, n in counts if n > 0]
    k = len(counts)
    total = sum(n for _x, n in counts)
    if k < 2:
        return None
    p = sum(x for x, _n in counts) / total
    if p in (0.0, 1.0):
        return None
    spread = sum(n * (x / n - p) ** 2 for x, n in counts)
    denominator = total - sum(n * n for _x, n in counts) / total - (k - 1)
    rho = (spread / (p * (1 - p)) - (k - 1)) / denominator if denominator > 0 else 0.0
    rho = min(rho, 1.0 - 1e-9)
    strength = total if rho <= 0 else min((1 - rho) / rho, total)
    return BetaPrior(alpha=p * strength, beta=(1 - p) * strength, rho=max(rho, 0.0))


@dataclass(frozen=True)
class Shrunken:
    """A course's posterior under the portfolio's prior: mean and equal-tailed interval."""

    rate: float
    low: float
    high: float
    weight: float  # the share of the estimate that is the course's own rate (n / (n + strength))


def shrink(activated: int, n: int, prior: BetaPrior, confidence: float = 0.95) -> Shrunken:
    """
    The course's rate pulled towards the portfolio's by the prior: Beta(alpha + x, beta + n − x).
    A course of 3 learners keeps little of its own 3 of 3; one of 300 keeps nearly all of its rate.
    """
    return shrink_all([(activated, n)], prior, confidence)[0]


def shrink_all(counts, prior: BetaPrior, confidence: float = 0.95) -> list:
    """``shrink`` of each ``(activated, n)``, from one vectorised quantile per bound: a portfolio has thousands."""
    activated, n = (np.array(column, dtype=float) for column in zip(*counts))
    a, b = prior.alpha + activated, prior.beta + n - activated
    tail = (1 - confidence) / 2
    lows, highs = beta_distribution.ppf(tail, a, b), beta_distribution.ppf(1 - tail, a, b)
    return [Shrunken(rate=float(a[i] / (a[i] + b[i])), low=float(lows[i]), high=float(highs[i]),
                     weight=float(n[i] / (n[i] + prior.strength))) for i in range(len(a))]


def ranks(values):
    """1 for the highest of ``values``, ties sharing the better rank (None stays None, unranked)."""
    ordered = sorted((value for value in values if value is not None), reverse=True)
    return [None if value is None else 1 + ordered.index(value) for value in values]


def pooled_rate(counts):
    """Σ activated / Σ eligible, or None when nobody is eligible."""
    total = sum(n for _x, n in counts)
    return sum(x for x, _n in counts) / total if total else None
