"""
The figures instructors read: aggregate queries only (GROUP BY on indexed columns, day
histograms for curves), never windows loaded one by one. Read-only; ``api`` re-exports them.
"""
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from activation_plugin import stats
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    PromptOptOut,
)


def summarize(definition, now=None):
    """
    The headline figures of a definition, from aggregate queries only.

    Open windows are censored, never failures: ``rate`` counts only windows that activated or
    closed (``eligible``), and ``km_rate`` is the Kaplan–Meier estimate of activation by the
    window's last day, which also uses the open windows for as long as they have been observed.

    Returns:
        dict: completers, eligible, activated, open, not_activated, opted_out (still counted), by_strength, rate (None when nothing is
        eligible), rate_ci ((low, high) 95 % Wilson, or None), km_rate, km_curve, median_days.
    """
    now = now or timezone.now()
    windows = ActivationWindow.objects.filter(definition=definition).exclude(state=ActivationWindow.State.WITHDRAWN)
    activated_q = Q(state=ActivationWindow.State.ACTIVATED)
    open_q = Q(state=ActivationWindow.State.OPEN, closes_at__gt=now)
    opted_out = Exists(PromptOptOut.objects.filter(
        Q(definition=definition) | Q(definition__isnull=True), user_id=OuterRef("user_id")))
    counts = windows.aggregate(
        completers=Count("pk"), activated=Count("pk", filter=activated_q), open=Count("pk", filter=open_q),
        opted_out=Count("pk", filter=opted_out),
    )
    eligible = counts["completers"] - counts["open"]
    closed_unactivated = eligible - counts["activated"]
    curve = stats.kaplan_meier(
        _events_by_day(windows, activated_q, open_q, closed_unactivated, definition.window_days, now))
    by_strength = dict(
        Evidence.objects.filter(window__in=windows.filter(activated_q), status=Evidence.Status.VERIFIED)
        .values("strength").annotate(windows=Count("window", distinct=True)).values_list("strength", "windows")
    )
    return {
        **counts,
        "eligible": eligible,
        "not_activated": closed_unactivated,
        "rate": counts["activated"] / eligible if eligible else None,
        "rate_ci": stats.wilson_interval(counts["activated"], eligible),
        "km_rate": stats.km_cumulative_at(curve, definition.window_days) if curve else None,
        "km_curve": curve,
        "median_days": stats.km_median(curve),
        # Activated windows backed by each strength of verified evidence (one window may count under several).
        "by_strength": [
            {"strength": strength, "label": label, "activated": by_strength.get(strength, 0),
             "rate": by_strength.get(strength, 0) / eligible if eligible else None}
            for strength, label in Evidence.Strength.choices
        ],
    }


def _events_by_day(windows, activated_q, open_q, closed_unactivated, window_days, now):
    """``{day: (activations, censored)}`` from day histograms, for Kaplan–Meier."""
    histogram = {}

    def add(day, events=0, censored=0):
        old_events, old_censored = histogram.get(day, (0, 0))
        histogram[day] = (old_events + events, old_censored + censored)

    for row in windows.filter(activated_q).values("days_to_activation").annotate(n=Count("pk")):
        add(row["days_to_activation"], events=row["n"])
    if closed_unactivated:
        add(window_days, censored=closed_unactivated)
    today = now.date()
    for row in windows.filter(open_q).annotate(day=TruncDate("opened_at")).values("day").annotate(n=Count("pk")):
        add(min(max((today - row["day"]).days, 0), window_days), censored=row["n"])
    return histogram


def course_summaries(course_key, now=None):
    """``[(definition, summary)]`` for every non-draft definition covering this course run."""
    key = parse_course_key(course_key)
    definitions = (ActivationDefinition.objects.filter(catalog_course=catalog_course(key))
                   .exclude(status=ActivationDefinition.Status.DRAFT).order_by("-created"))
    return [(definition, summarize(definition, now=now)) for definition in definitions]
