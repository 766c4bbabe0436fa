"""
The figures instructors read: aggregate queries only (GROUP BY on indexed columns, day
histograms for curves), never windows loaded one by one, except the course effect, which reads
each ended window's two KPI means to align untrained colleagues on the completers' calendar
(docs/decisions/0011-course-effect.rst). Read-only; ``api`` re-exports them.
See docs/concepts/figures.rst for the definitions and suppression rules.
"""
from activation_plugin.figures.analytics import analytics, invalidate, invalidate_observations, page_figures
from activation_plugin.figures.comparisons import (
    SEGMENT_DIMENSIONS,
    compare_arms,
    compare_runs,
    latest_run_against_previous,
    segments,
)
from activation_plugin.figures.exports import evidence_csv_rows, figures_csv_rows, windows_csv_rows
from activation_plugin.figures.headline import course_summaries, funnel, persistence, summarize
from activation_plugin.figures.kpi import difference_in_differences, kpi_deltas, roi, roi_amounts
from activation_plugin.figures.quality import data_quality

__all__ = [
    "SEGMENT_DIMENSIONS", "analytics", "compare_arms", "compare_runs", "course_summaries", "data_quality",
    "difference_in_differences", "evidence_csv_rows", "figures_csv_rows", "funnel", "invalidate",
    "invalidate_observations", "kpi_deltas", "latest_run_against_previous", "page_figures", "persistence", "roi",
    "roi_amounts", "segments", "summarize", "windows_csv_rows",
]
