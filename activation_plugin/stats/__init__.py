"""
Pure statistics for activation reporting, on scipy's distributions.

Every function takes aggregate numbers (counts, per-day histograms, summary statistics) as SQL
``GROUP BY`` queries produce them, never raw rows. The LMS pins numpy and scipy, so every
distribution and quantile is scipy's, through ``scipy.special``'s ufuncs (``ndtr``, ``stdtr``…):
the ``scipy.stats`` objects compute the same numbers at a hundred times the cost per scalar call,
which a page of figures pays thousands of times. What is hand-written here is what scipy lacks or
gets wrong for us, each saying why: Newcombe's interval for a difference of rates and the p-value
that inverts it, the exact unconditional test for small tables (``exact``), the Kaplan-Meier
estimate from per-day histograms with its log-log band (``survival``), and the power of a
comparison of two rates (``power``).
"""
from activation_plugin.stats.core import DifferenceResult, GroupStats, suppress_small
from activation_plugin.stats.means import (
    difference_in_differences,
    roi,
    student_t_cdf,
    student_t_ppf,
    welch_difference,
)
from activation_plugin.stats.power import learners_needed, minimum_detectable_rate, power_two_rates
from activation_plugin.stats.rates import (
    EXACT_MAX_LEARNERS,
    newcombe_difference,
    newcombe_p_value,
    rate_difference,
    wilson_interval,
)
from activation_plugin.stats.survival import (
    KMPoint,
    KMReading,
    kaplan_meier,
    km_median,
    km_median_interval,
    km_reading,
    log_rank,
)

__all__ = [
    "DifferenceResult", "GroupStats", "KMPoint", "KMReading", "EXACT_MAX_LEARNERS",
    "difference_in_differences", "kaplan_meier", "km_median", "km_median_interval", "km_reading",
    "learners_needed", "log_rank", "minimum_detectable_rate", "newcombe_difference", "newcombe_p_value",
    "power_two_rates", "rate_difference", "roi", "student_t_cdf", "student_t_ppf", "suppress_small",
    "welch_difference", "wilson_interval",
]
