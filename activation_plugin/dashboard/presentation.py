"""
From ``api.analytics`` figures to what the Activation page shows: table rows with labels and the
charts' data. Pure functions of the figures dict (the runs' names aside, asked of the platform
once per page), so the page, the legacy dashboard section and their tests read the same thing.

The figures name runs by course key and segments by the values windows store (enrollment mode
slugs): the labels people read are added here, and only here, so exports and the REST API keep
the machine-readable values and every template shows the same names.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from activation_plugin import configs, platform

FUNNEL_LABELS = {
    "completed": gettext_lazy("Completed"), "prompted": gettext_lazy("Prompted"),
    "responded": gettext_lazy("Responded"),
    "verified": pgettext_lazy("funnel stage", "Verified"), "activated": gettext_lazy("Activated"),
}
ARM_LABELS = {"prompted": gettext_lazy("Prompted"), "holdout": gettext_lazy("Holdout (no prompts)")}
SEGMENT_LABELS = {"enrollment_mode": gettext_lazy("By enrollment track"), "org": gettext_lazy("By organisation"),
                  "cohort": gettext_lazy("By cohort")}
DIMENSION_LABELS = {"enrollment_mode": gettext_lazy("Enrollment track"), "org": gettext_lazy("Organisation"),
                    "cohort": gettext_lazy("Cohort"), "course_run": gettext_lazy("Course run")}
# The LMS's names of its enrollment modes (its COURSE_ENROLLMENT_MODES setting); other slugs show as they are.
MODE_LABELS = {
    "audit": pgettext_lazy("enrollment mode", "Audit"), "verified": pgettext_lazy("enrollment mode", "Verified"),
    "professional": pgettext_lazy("enrollment mode", "Professional"),
    "no-id-professional": pgettext_lazy("enrollment mode", "No-ID Professional"),
    "credit": pgettext_lazy("enrollment mode", "Credit"), "honor": pgettext_lazy("enrollment mode", "Honor"),
    "masters": pgettext_lazy("enrollment mode", "Master's"),
    "executive-education": pgettext_lazy("enrollment mode", "Executive Education"),
    "paid-executive-education": pgettext_lazy("enrollment mode", "Paid Executive Education"),
    "unpaid-executive-education": pgettext_lazy("enrollment mode", "Unpaid Executive Education"),
    "paid-bootcamp": pgettext_lazy("enrollment mode", "Paid Bootcamp"),
    "unpaid-bootcamp": pgettext_lazy("enrollment mode", "Unpaid Bootcamp"),
}


def value_label(dimension, value, run_names):
    """
    The name a page shows for a run (``run_names``, from :func:`platform.run_labels`) or a segment
    value; ``""`` (not known) stays empty for the template to say so.
    """
    if dimension == "course_run":
        return run_names.get(value, value)
    if dimension == "enrollment_mode":
        return str(MODE_LABELS.get(value, value))
    return value


def run_label(course_run):
    """One run's name, where a page names a single run (pages with several ask at once: :func:`named_runs`)."""
    return platform.run_labels([course_run])[course_run]


def named_runs(figures):
    """``{course_run: label}`` of every run the figures name, asked of the platform at once."""
    runs = {row["course_run"] for row in figures["runs"]["runs"]}
    runs |= {row["value"] for row in figures["data_quality"]["non_response"]["dimensions"].get("course_run", ())}
    return platform.run_labels(runs)


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
    """The Kaplan–Meier curve as cumulative activation (1 - S) with its band and counts, one row per day."""
    return [{"day": point.day, "rate": 1.0 - point.survival, "low": band["low"], "high": band["high"],
             "at_risk": point.at_risk, "events": point.events, "censored": point.censored}
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


def segment_tables(segments, run_names):
    """``[(caption, rows)]`` for the segment dimensions that tell something (more than one value)."""
    return [(str(SEGMENT_LABELS.get(dimension, dimension)),
             [{**row, "label": value_label(dimension, row["value"], run_names)} for row in rows])
            for dimension, rows in segments.items() if len(rows) > 1]


def arm_rows(arms):
    """The arms' rate rows with their display names (None without a holdout)."""
    return [{**row, "label": str(ARM_LABELS[row["arm"]])} for row in arms["arms"]] if arms else None


def run_comparison(runs, run_names):
    """``compare_runs``' rows and differences with the runs' names (``label``, ``baseline_label``, ``other_label``)."""
    return {
        "runs": [{**row, "label": run_names.get(row["course_run"], row["course_run"])} for row in runs["runs"]],
        "differences": [{**row, "baseline_label": run_names.get(row["baseline"], row["baseline"]),
                         "other_label": run_names.get(row["other"], row["other"])} for row in runs["differences"]],
    }


def non_response_rows(non_response, run_names):
    """``[(dimension, its name, rows with labels)]`` of the "Who answers?" table."""
    return [(dimension, str(DIMENSION_LABELS.get(dimension, dimension)),
             [{**row, "label": value_label(dimension, row["value"], run_names)} for row in rows])
            for dimension, rows in non_response["dimensions"].items()]


LOW_RESPONSE = 0.3  # below this share of prompted completers answering, the rate speaks for few of them


def scorecard(figures, run_differences, *, has_reminders=False):
    """
    The verdict at a glance, above the drill-down: the figure to quote with its interval, how the
    latest run compares with the first, and what to do next. Pure: it only reads ``figures`` and
    ``run_differences`` (theirs, with the runs' names: :func:`run_comparison`).

    Returns:
        dict: quote (``rate`` / ``km_rate`` / None), value, interval, trend (the latest run's
        difference row, or None), advice (``[(code, text)]``, the most useful first). With
        ``has_reminders`` (a prompt already has them), the advice on few answers does not ask for one.
    """
    summary, quality = figures["summary"], figures["data_quality"]
    quote = summary.get("quote")
    value = summary.get(quote) if quote else None
    interval = summary.get("rate_ci") if quote == "rate" else summary.get("km_ci") if quote == "km_rate" else None
    differences = [row for row in run_differences if row["verdict"]]
    advice = []
    if quality.get("awaiting_review"):
        advice.append(("review", _("{count} submissions wait for a verdict in the review queue.").format(
            count=quality["awaiting_review"])))
    if quality.get("response_rate") is not None and quality["response_rate"] < LOW_RESPONSE:
        advice.append(("response", _("Few prompted learners answer, despite the reminders: a shorter survey, or "
                                     "a first message that says why their answer matters, may help.")
                       if has_reminders else _("Few prompted learners answer: add a reminder, or a shorter survey, "
                                               "to the requirements.")))
    if quality.get("prompts_in_doubt"):
        advice.append(("prompts", _("{count} prompts may not have been sent: the mail worker stopped while sending "
                                    "them. Ask your operator to resend them or give them up "
                                    "(activation_prompt_claims).").format(count=quality["prompts_in_doubt"])))
    if quality.get("failing_sources"):
        advice.append(("sources", _("A KPI source is failing: its figures are missing until it runs again.")))
    if not advice and value is None:
        advice.append(("wait", _("Too few windows have ended to say anything yet: come back when more have.")))
    return {"quote": quote if value is not None else None, "value": value, "interval": interval,
            "trend": differences[-1] if differences else None, "advice": advice}


def metric_names(requirements):
    """``{metric key: its label and unit}`` of the metric requirements (the first one naming a key wins)."""
    names = {}
    for requirement in requirements:
        if requirement.kind == "metric":
            names.setdefault(requirement.config["metric"], configs.metric_name_with_unit(requirement.config))
    return names


def page_context(figures, definition):
    """Everything ``_analytics.html`` needs besides the figures themselves."""
    run_names = named_runs(figures)
    runs = run_comparison(figures["runs"], run_names)
    requirements = list(definition.requirements.prefetch_related("prompts"))
    has_reminders = any(prompt.reminder_days for requirement in requirements for prompt in requirement.prompts.all())
    return {
        "figures": figures,
        "metric_names": metric_names(requirements),
        "scorecard": scorecard(figures, runs["differences"], has_reminders=has_reminders),
        "funnel_rows": funnel_rows(figures["funnel"]),
        # Every count hidden or zero: a chart would be an empty 0–1 axis.
        "funnel_drawn": any(cell["count"] for arm in figures["funnel"].values() for cell in arm),
        "km_rows": km_rows(figures["summary"]),
        "runs": runs,
        "segment_tables": segment_tables(figures["segments"], run_names),
        "non_response_rows": non_response_rows(figures["data_quality"]["non_response"], run_names),
        "arm_rows": arm_rows(figures["arms"]),
        "charts": chart_data(figures, definition),
        "km_chart_id": f"chart-km-{definition.pk}",
        "funnel_chart_id": f"chart-funnel-{definition.pk}",
    }
