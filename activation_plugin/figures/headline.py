"""
The headline of a definition: rate, Kaplan–Meier curve, funnel and persistence, each from a fixed
number of aggregate queries (GROUP BY on indexed columns, day histograms), never per learner.
"""
from django.db.models import Case, Count, DateField, Exists, OuterRef, Q, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from activation_plugin import stats
from activation_plugin.figures.base import (
    ACTIVATED,
    counted_windows,
    min_cell_size,
    rate_row,
    still_open,
    suppress_rows,
)
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    PromptDelivery,
    PromptOptOut,
)

SUMMARY_COUNTS = ("completers", "eligible", "activated", "open", "not_activated", "opted_out")


def summarize(definition, now=None):
    """
    The headline figures of a definition, from aggregate queries only.

    Open windows are censored, never failures: ``rate`` counts only windows that activated or
    closed (``eligible``), and ``km_rate`` is the Kaplan–Meier estimate of activation by the
    window's last day, which also uses the open windows for as long as they have been observed.

    Fewer completers than ``ACTIVATION_MIN_CELL_SIZE`` hide every figure (``suppressed``); fewer
    eligible learners hide the rate, its interval and the rates by strength (``rate_suppressed``).

    Returns:
        dict: completers, eligible, activated, open, not_activated, opted_out (still counted),
        by_strength, rate (None when nothing is eligible), rate_ci ((low, high) 95 % Wilson, or
        None), km_rate, km_curve (``stats.KMPoint`` per day with an event or censoring; ``survival``
        is the share *not yet* activated), km_band (one ``{"day", "low", "high"}`` per km_curve
        point, same order: the Greenwood 95 % band of the *cumulative activation* 1 - S, i.e.
        ``low = 1 - point.high``, ``high = 1 - point.low``), median_days, suppressed, rate_suppressed.
    """
    now = now or timezone.now()
    windows = counted_windows(definition)
    open_q = still_open(now)
    # One pass over the windows: the KM day histogram, whose rows also add up to the counts.
    # Grouped on two nullable days rather than on the state as well: a smaller grouping key, and a
    # window's activation day is set exactly when it is activated (``evaluate_window``).
    # The same pass counts activations by the strengths of their verified evidence (on the window).
    histogram = list(
        windows.annotate(activated_day=Case(When(ACTIVATED, then="days_to_activation")),
                         open_day=Case(When(open_q, then=TruncDate("opened_at")), output_field=DateField()))
        .values("activated_day", "open_day")
        .annotate(n=Count("pk"), **{f"strength_{strength}": Count("pk", filter=ACTIVATED & Q(
            verified_strengths__contains=f",{strength},")) for strength in Evidence.Strength.values})
        .order_by()
    )
    counts = {
        "completers": sum(row["n"] for row in histogram),
        "activated": sum(row["n"] for row in histogram if row["activated_day"] is not None),
        "open": sum(row["n"] for row in histogram if row["open_day"] is not None),
        # From the opt-out table's side: a handful of rows, not a lookup per window.
        "opted_out": windows.filter(user_id__in=PromptOptOut.objects.filter(
            Q(definition=definition) | Q(definition__isnull=True)).values("user_id")).count(),
    }
    eligible = counts["completers"] - counts["open"]
    closed_unactivated = eligible - counts["activated"]
    curve = stats.kaplan_meier(_events_by_day(histogram, closed_unactivated, definition.window_days, now))
    by_strength = {strength: sum(row[f"strength_{strength}"] for row in histogram)
                   for strength in Evidence.Strength.values}
    summary = {
        **counts,
        "eligible": eligible,
        "not_activated": closed_unactivated,
        **{key: value for key, value in rate_row(counts["completers"], counts["activated"], counts["open"]).items()
           if key in ("rate", "rate_ci")},
        "km_rate": stats.km_cumulative_at(curve, definition.window_days) if curve else None,
        "km_curve": curve,
        "km_band": [{"day": point.day, "low": 1.0 - point.high, "high": 1.0 - point.low} for point in curve],
        "median_days": stats.km_median(curve),
        # Activated windows backed by each strength of verified evidence (one window may count under several).
        "by_strength": [
            {"strength": strength, "label": label, "activated": by_strength.get(strength, 0),
             "rate": by_strength.get(strength, 0) / eligible if eligible else None}
            for strength, label in Evidence.Strength.choices
        ],
        # Nothing to hide in an empty definition; an empty rate is None anyway.
        "suppressed": 0 < counts["completers"] < min_cell_size(),
        "rate_suppressed": 0 < eligible < min_cell_size(),
    }
    return _suppressed_summary(summary)


def _suppressed_summary(summary):
    if summary["suppressed"]:
        summary.update(dict.fromkeys(SUMMARY_COUNTS), km_rate=None, km_curve=[], km_band=[], median_days=None)
        for row in summary["by_strength"]:
            row["activated"] = None
    if summary["suppressed"] or summary["rate_suppressed"]:
        summary.update(rate=None, rate_ci=None, rate_suppressed=True)
        for row in summary["by_strength"]:
            row["rate"] = None
    return summary


def _events_by_day(histogram, closed_unactivated, window_days, now):
    """``{day: (activations, censored)}`` for Kaplan–Meier; open windows are censored at their age in days."""
    events_by_day = {}

    def add(day, events=0, censored=0):
        old_events, old_censored = events_by_day.get(day, (0, 0))
        events_by_day[day] = (old_events + events, old_censored + censored)

    today = now.date()
    for row in histogram:
        if row["activated_day"] is not None:
            add(row["activated_day"], events=row["n"])
        elif row["open_day"] is not None:
            add(min(max((today - row["open_day"]).days, 0), window_days), censored=row["n"])
    if closed_unactivated:
        add(window_days, censored=closed_unactivated)
    return events_by_day


FUNNEL_STAGES = ("completed", "prompted", "responded", "verified", "activated")


def funnel(definition, now=None):
    """
    How far each arm's completers got: completed → prompted (a prompt, reminder or nudge was
    sent) → responded (evidence not rejected) → verified → activated. Each stage counts windows
    that reached it, whatever the order; ``share`` is relative to the arm's completers. The
    holdout arm gets no prompts by design, so its ``prompted`` is 0.

    An arm with fewer than ``ACTIVATION_MIN_CELL_SIZE`` eligible learners is hidden (counts and
    shares None), and with it the other arm, which the headline totals would otherwise reveal.

    Returns:
        dict: ``{"prompted": [{"stage", "count", "share"}, ...], "holdout": [...]}`` in stage order.
    """
    return funnel_from_counts(funnel_counts(definition, now or timezone.now()))


def funnel_counts(definition, now):
    """Unsuppressed ``{arm: {stage: count, "open": count}}``, one query; also the data-quality response rate's source."""
    sent = PromptDelivery.objects.filter(window=OuterRef("pk"), status=PromptDelivery.Status.SENT)
    responded = Evidence.objects.filter(window=OuterRef("pk")).exclude(status=Evidence.Status.REJECTED)
    verified = Evidence.objects.filter(window=OuterRef("pk"), status=Evidence.Status.VERIFIED)
    rows = {row.pop("arm"): row for row in (
        counted_windows(definition).values("arm")
        .annotate(completed=Count("pk"), prompted=Count("pk", filter=Exists(sent)),
                  responded=Count("pk", filter=Exists(responded)), verified=Count("pk", filter=Exists(verified)),
                  activated=Count("pk", filter=ACTIVATED), open=Count("pk", filter=still_open(now)))
        .order_by()
    )}
    empty = dict.fromkeys((*FUNNEL_STAGES, "open"), 0)
    return {arm: rows.get(arm, empty) for arm in ActivationWindow.Arm.values}


def funnel_from_counts(arms):
    hidden = {arm: row["suppressed"] for arm, row in zip(arms, suppress_rows(
        [rate_row(row["completed"], row["activated"], row["open"]) for row in arms.values()]))}
    return {
        arm: [{"stage": stage,
               "count": None if hidden[arm] else row[stage],
               "share": None if hidden[arm] or not row["completed"] else row[stage] / row["completed"]}
              for stage in FUNNEL_STAGES]
        for arm, row in arms.items()
    }


def persistence(definition):
    """
    Do activated learners keep applying it? The share of activated windows with two or more
    verified pieces of evidence, and verified evidence per activated window. Hidden (None) below
    ``ACTIVATION_MIN_CELL_SIZE`` activated learners.

    Returns:
        dict: activated, repeat, repeat_share, evidence_per_activated, suppressed.
    """
    totals = (counted_windows(definition).filter(ACTIVATED)
              .annotate(verified=Count("evidence", filter=Q(evidence__status=Evidence.Status.VERIFIED)))
              .aggregate(activated=Count("pk"), repeat=Count("pk", filter=Q(verified__gte=2)),
                         evidence=Sum("verified")))
    activated = totals["activated"]
    if activated < min_cell_size():
        return {"activated": None, "repeat": None, "repeat_share": None, "evidence_per_activated": None,
                "suppressed": True}
    return {
        "activated": activated,
        "repeat": totals["repeat"],
        "repeat_share": totals["repeat"] / activated if activated else None,
        "evidence_per_activated": (totals["evidence"] or 0) / activated if activated else None,
        "suppressed": False,
    }


def course_summaries(course_key, now=None):
    """``[(definition, summary)]`` for every non-draft definition covering this course run."""
    key = parse_course_key(course_key)
    definitions = (ActivationDefinition.objects.filter(catalog_course=catalog_course(key))
                   .exclude(status=ActivationDefinition.Status.DRAFT).order_by("-created"))
    return [(definition, summarize(definition, now=now)) for definition in definitions]
