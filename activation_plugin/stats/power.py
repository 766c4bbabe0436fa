"""How many learners a comparison of two rates needs, and what it can detect: power on Cohen's h, as statsmodels'."""
import math

from scipy.optimize import brentq
from scipy.special import ndtr, ndtri


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
    critical = float(ndtri(1.0 - alpha / 2.0))
    return float(ndtr(spread - critical) + ndtr(-spread - critical))


def minimum_detectable_rate(
    p_base: float, n_base: float, n_other: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest rate above ``p_base`` the comparison detects with ``power``; None if none up to 100 %."""
    if power_two_rates(p_base, 1.0, n_base, n_other, alpha) < power:
        return None
    # Power rises with the rate above p_base (where it is alpha < power): one crossing.
    return float(brentq(lambda rate: power_two_rates(p_base, rate, n_base, n_other, alpha) - power, p_base, 1.0,
                        xtol=1e-14))


def learners_needed(
    p_base: float, p_other: float, share_other: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Completers (whose windows end) needed in total to detect ``p_base`` -> ``p_other`` with
    ``power``, when a share ``share_other`` of them is in the compared group (the prompted arm);
    None for equal rates or an empty group."""
    if p_base == p_other or not 0.0 < share_other < 1.0:
        return None
    critical = float(ndtri(1.0 - alpha / 2.0) + ndtri(power))
    # n_eff = n * share * (1 - share); one tail (the other is negligible), then checked with both.
    total = math.ceil((critical / _cohen_h(p_base, p_other)) ** 2 / (share_other * (1.0 - share_other)))
    while power_two_rates(p_base, p_other, total * (1 - share_other), total * share_other, alpha) < power:
        total += 1
    return total
