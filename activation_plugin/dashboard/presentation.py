"""
From ``api.analytics`` figures to what the Activation page shows: table rows with labels and the
charts' data. Pure functions of the figures dict, so the page, the legacy dashboard section and
their tests read the same thing.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

FUNNEL_LABELS = {
    "completed": gettext_lazy("Completed"), "prompted": gettext_lazy("Prompted"), "responded": gettext_lazy("Responded"),
    "verified": pgettext_lazy("funnel stage", "Verified"), "activated": gettext_lazy("Activated"),
}
ARM_LABELS = {"prompted": gettext_lazy("Prompted"), "holdout": gettext_lazy("Holdout (no prompts)")}
SEGMENT_LABELS = {"enrollment_mode": gettext_lazy("By enrollment track"), "org": gettext_lazy("By organisation"), "cohort": gettext_lazy("By cohort")}


def funnel_rows(funnel):
    """One row per stage with a cell per arm present (the holdout column only when it has learners)."""
    arms = [arm for arm in ("prompted", "holdout") if arm in funnel and (arm == "prompted" or any(
        cell["count"] for cell in funnel[arm]))]
    stages = [cell["stage"] for cell in funnel["prompted"]]
    return {
        "arms": [str(ARM_LABELS[arm]) for arm in arms],
        "rows": [{"stage": stage, "label": str(FUNNEL_LABELS[stage]),
                  "cells": [funnel[arm][index] for arm in arms]} for index, stage in enumerate(stages)],
    }


def km_rows(summary):
    """The Kaplan–Meier curve as cumulative activation (1 - S) with its band, one row per day."""
    return [{"day": point.day, "rate": 1.0 - point.survival, "low": band["low"], "high": band["high"],
             "at_risk": point.at_risk}
            for point, band in zip(summary["km_curve"], summary["km_band"])]


def chart_data(figures, definition):
    """JSON for the two charts; labels are translated here so the script holds no text."""
    funnel = funnel_rows(figures["funnel"])
    return {
        "km": {"window_days": definition.window_days,
               "points": [{"day": 0, "rate": 0.0, "low": 0.0, "high": 0.0}, *km_rows(figures["summary"])],
               "labels": {"rate": _("Activated by this day"), "low": _("95% band, low"),
                          "high": _("95% band, high"), "x": _("Days since completion"), "y": _("Activated")}},
        "funnel": {"stages": [row["label"] for row in funnel["rows"]],
                   "arms": [{"label": label, "counts": [row["cells"][index]["count"] for row in funnel["rows"]]}
                            for index, label in enumerate(funnel["arms"])]},
    }


def segment_tables(segments):
    """``[(caption, rows)]`` for the segment dimensions that tell something (more than one value)."""
    return [(str(SEGMENT_LABELS.get(dimension, dimension)), rows)
            for dimension, rows in segments.items() if len(rows) > 1]


def arm_rows(arms):
    """The arms' rate rows with their display names (None without a holdout)."""
    return [{**row, "label": str(ARM_LABELS[row["arm"]])} for row in arms["arms"]] if arms else None


LOW_RESPONSE = 0.3  # below this share of prompted completers answering, the rate speaks for few of them


def scorecard(figures):
    """
    The verdict at a glance, above the drill-down: the figure to quote with its interval, how the
    latest run compares with the first, and what to do next. Pure: it only reads ``figures``.

    Returns:
        dict: quote (``rate`` / ``km_rate`` / None), value, interval, trend (the latest run's
        difference row, or None), advice (``[(code, text)]``, the most useful first).
    """
    summary, quality = figures["summary"], figures["data_quality"]
    quote = summary.get("quote")
    value = summary.get(quote) if quote else None
    interval = summary.get("rate_ci") if quote == "rate" else None
    if quote == "km_rate" and summary.get("km_band"):
        band = summary["km_band"][-1]
        interval = (band["low"], band["high"])
    differences = [row for row in figures["runs"]["differences"] if row["verdict"]]
    advice = []
    if quality.get("awaiting_review"):
        advice.append(("review", _("{count} submissions wait for a verdict in the review queue.").format(
            count=quality["awaiting_review"])))
    if quality.get("response_rate") is not None and quality["response_rate"] < LOW_RESPONSE:
        advice.append(("response", _("Few prompted learners answer: add a reminder, or a shorter survey, to the "
                                     "requirements.")))
    if quality.get("failing_sources"):
        advice.append(("sources", _("A KPI source is failing: its figures are missing until it runs again.")))
    if not advice and value is None:
        advice.append(("wait", _("Too few windows have ended to say anything yet: come back when more have.")))
    return {"quote": quote if value is not None else None, "value": value, "interval": interval,
            "trend": differences[-1] if differences else None, "advice": advice}


def page_context(figures, definition):
    """Everything ``_analytics.html`` needs besides the figures themselves."""
    return {
        "figures": figures,
        "scorecard": scorecard(figures),
        "funnel_rows": funnel_rows(figures["funnel"]),
        "km_rows": km_rows(figures["summary"]),
        "segment_tables": segment_tables(figures["segments"]),
        "arm_rows": arm_rows(figures["arms"]),
        "charts": chart_data(figures, definition),
        "km_chart_id": f"chart-km-{definition.pk}",
        "funnel_chart_id": f"chart-funnel-{definition.pk}",
    }
