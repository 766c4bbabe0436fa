"""
What every figure is added up from: rows of running totals (tallies) per group of windows, read
from the tally tables or counted from the windows, in the same shape either way.

A window's *contribution* is what it adds to the tallies: one completer in its cell (run, arm,
segment) and closing day, whether it was prompted, responded, was verified, activated (and on which
day, for the curve), and its KPI change per metric. ``api.tallies`` keeps the tables equal to the
sum of the contributions, in the same transaction as every change to a window, its evidence or a
learner's KPI observations (see docs/decisions/0009-tallies.rst).

Only time moves a window from running to ended without a write. Tally rows are kept per closing
day, so every row of a day that has passed is ended and every row of a later day is running; the
windows closing *today* are counted from the windows themselves (one day of them), split at
``now``. A definition whose tallies were never built (``tallies_built_at`` empty, e.g. just after
the upgrade that added them) is counted wholly from its windows until the tick builds them.
"""
import hashlib
from collections import namedtuple
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Avg, Count, DateTimeField, Exists, ExpressionWrapper, FloatField, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from activation_plugin.models import (
    ActivationDayTally,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    KpiTally,
    MetricObservation,
    PromptDelivery,
    WindowTally,
)

# The dimensions a window carries from the moment it opened; segments and comparisons group on them.
CELL_FIELDS = ("course_run", "arm", "enrollment_mode", "org", "cohort")
STRENGTH_COUNTERS = tuple(f"strength_{strength}" for strength in Evidence.Strength.values)
CELL_COUNTERS = ("completers", "activated", "prompted", "responded", "verified", "repeat", "verified_evidence",
                 "awaiting_review", *STRENGTH_COUNTERS)
KPI_SUMS = ("measured", "sum_delta", "sum_delta_squares", "sum_pre", "sum_post", "observations",
            "observations_used")
DEFAULT_BASELINE_DAYS = 30
# What a contribution is computed from, besides the annotations: the window's own columns.
WINDOW_COLUMNS = ("pk", "definition_id", *CELL_FIELDS, "opened_at", "closes_at", "state", "days_to_activation",
                  "verified_strengths", "user_id", "tallied")

Tallies = namedtuple("Tallies", "cells kpi activation_days")


def metric_baselines(definition):
    """``{metric: baseline_days}`` of the definition's KPI requirements, in requirement order."""
    baselines = {}
    configs = (EvidenceRequirement.objects.filter(definition=definition, kind=EvidenceRequirement.Kind.METRIC)
               .order_by("position", "pk").values_list("config", flat=True))
    for config in configs:
        baselines.setdefault(config["metric"], config.get("baseline_days", DEFAULT_BASELINE_DAYS))
    return baselines


def cell_key(row):
    """A short digest of a window's cell: the tally's unique key cannot hold four long texts in MariaDB."""
    return hashlib.sha1("\x1f".join(str(row[field]) for field in CELL_FIELDS).encode()).hexdigest()


def utc_day(moment):
    return moment.astimezone(dt_timezone.utc).date()


def _evidence_count(status):
    counted = (Evidence.objects.filter(window=OuterRef("pk"), status=status).order_by()
               .values("window").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _observations(metric):
    return MetricObservation.objects.filter(user=OuterRef("user_id"), metric=metric).order_by().values("user")


def _mean(metric, start, end):
    """Mean of the window's learner's ``metric`` observations with ``start <= observed_at < end``."""
    means = _observations(metric).filter(observed_at__gte=start, observed_at__lt=end).annotate(
        mean=Avg("value")).values("mean")
    return Subquery(means, output_field=FloatField())


def _count(queryset):
    return Coalesce(Subquery(queryset.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), Value(0))


def annotated(windows, baselines):
    """
    The windows with what their contribution needs, as ``values()`` rows: each window's own
    columns, whether a prompt was sent and evidence kept, its verified and submitted evidence, and
    per metric (numbered as in ``baselines``) its mean before and inside the window and how many of
    its learner's observations fall inside either period. Correlated subqueries on indexed keys,
    one row per window.
    """
    annotations = {
        "was_prompted": Exists(PromptDelivery.objects.filter(window=OuterRef("pk"),
                                                             status=PromptDelivery.Status.SENT)),
        "has_response": Exists(Evidence.objects.filter(window=OuterRef("pk")).exclude(status=Evidence.Status.REJECTED)),
        "verified_count": _evidence_count(Evidence.Status.VERIFIED),
        "submitted_count": _evidence_count(Evidence.Status.SUBMITTED),
    }
    for index, (metric, baseline_days) in enumerate(baselines.items()):
        baseline_start = ExpressionWrapper(OuterRef("opened_at") - timedelta(days=baseline_days),
                                           output_field=DateTimeField())
        annotations |= {
            f"pre_{index}": _mean(metric, baseline_start, OuterRef("opened_at")),
            f"post_{index}": _mean(metric, OuterRef("opened_at"), OuterRef("closes_at")),
            f"observations_{index}": _count(_observations(metric)),
            f"used_{index}": _count(_observations(metric).filter(observed_at__gte=baseline_start,
                                                                 observed_at__lte=OuterRef("closes_at"))),
        }
    return windows.annotate(**annotations).values(*WINDOW_COLUMNS, *annotations)


def contribution(row, metrics):
    """
    What one window adds to the tallies, from its ``annotated`` row: ``{"cell": {counter: n},
    "day": days to activation or None, "kpi": {metric: {sum: value}}}``, zero counters left out.
    A withdrawn window adds nothing but its opening time (``first_opened``, from the window).
    """
    if row["state"] == ActivationWindow.State.WITHDRAWN:
        return {"cell": {}, "day": None, "kpi": {}}
    activated = row["state"] == ActivationWindow.State.ACTIVATED
    verified = row["verified_count"]
    cell = {
        "completers": 1, "activated": int(activated), "prompted": int(row["was_prompted"]),
        "responded": int(row["has_response"]), "verified": int(verified > 0),
        "repeat": int(activated and verified >= 2), "verified_evidence": verified if activated else 0,
        "awaiting_review": row["submitted_count"],
        **{f"strength_{strength}": int(activated and f",{strength}," in row["verified_strengths"])
           for strength in Evidence.Strength.values},
    }
    kpi = {}
    for index, metric in enumerate(metrics):
        pre, post = row[f"pre_{index}"], row[f"post_{index}"]
        measured = pre is not None and post is not None
        delta = post - pre if measured else 0.0
        sums = {"measured": int(measured), "sum_delta": delta, "sum_delta_squares": delta * delta,
                "sum_pre": pre if measured else 0.0, "sum_post": post if measured else 0.0,
                "observations": row[f"observations_{index}"], "observations_used": row[f"used_{index}"]}
        if any(sums.values()):
            kpi[metric] = {key: value for key, value in sums.items() if value}
    return {"cell": {key: value for key, value in cell.items() if value},
            "day": row["days_to_activation"] if activated else None, "kpi": kpi}


def _empty_cell(row, ended):
    return {**{field: row[field] for field in CELL_FIELDS}, "course_run": str(row["course_run"]),
            "closes_on": utc_day(row["closes_at"]), "ended": ended, "first_opened": row["opened_at"],
            **dict.fromkeys(CELL_COUNTERS, 0)}


def counted_from_windows(windows, baselines, now):
    """``Tallies`` of these windows, counted from them: what the tables hold, for windows not in them."""
    cells, kpi, days = {}, {}, {}
    metrics = list(baselines)
    for row in annotated(windows, baselines).order_by():
        added = contribution(row, metrics)
        ended = row["closes_at"] <= now
        key = (cell_key(row), utc_day(row["closes_at"]), ended)
        cell = cells.setdefault(key, _empty_cell(row, ended))
        cell["first_opened"] = min(cell["first_opened"], row["opened_at"])
        for counter, value in added["cell"].items():
            cell[counter] += value
        if added["day"] is not None:
            days[added["day"]] = days.get(added["day"], 0) + 1
        activated = bool(added["cell"].get("activated"))
        for metric, sums in added["kpi"].items():
            group = kpi.setdefault((metric, row["arm"], activated, ended), {
                "metric": metric, "arm": row["arm"], "activated": activated, "ended": ended,
                **dict.fromkeys(KPI_SUMS, 0)})
            for name, value in sums.items():
                group[name] += value
    return Tallies(list(cells.values()), list(kpi.values()), days)


def read(definition, now, with_kpi=True):
    """
    The definition's ``Tallies`` at ``now``: ``cells`` (per cell, closing day and ``ended``: the
    counters and ``first_opened``), ``kpi`` (per metric, arm, ``activated`` and ``ended``: the
    sums) and ``activation_days`` (``{day: activated windows}``). A few queries whatever the number
    of windows once the tallies are built.
    """
    baselines = metric_baselines(definition) if with_kpi else {}
    windows = ActivationWindow.objects.filter(definition=definition)
    if definition.tallies_built_at is None:
        return counted_from_windows(windows, baselines, now)
    today = utc_day(now)
    start = datetime.combine(today, time.min, tzinfo=dt_timezone.utc)
    closing_today = counted_from_windows(
        windows.filter(state__in=ActivationWindow.State.values, closes_at__gte=start,
                       closes_at__lt=start + timedelta(days=1)), baselines, now)
    cells = [{**row, "course_run": str(row["course_run"]), "ended": row["closes_on"] < today}
             for row in WindowTally.objects.filter(definition=definition).exclude(closes_on=today)
             .values(*CELL_FIELDS, "closes_on", "first_opened", *CELL_COUNTERS)]
    kpi = []
    if baselines:
        kpi = [{**row, "ended": row.pop("closes_on") < today}
               for row in KpiTally.objects.filter(definition=definition, metric__in=list(baselines))
               .exclude(closes_on=today).values("metric", "arm", "activated", "closes_on", *KPI_SUMS)]
    days = dict(ActivationDayTally.objects.filter(definition=definition, activated__gt=0)
                .values_list("day", "activated"))
    return Tallies(cells + closing_today.cells, kpi + closing_today.kpi, days)


def running_censored(definition, now, shifted_date):
    """
    ``{shifted opening date: windows}`` of the running windows that have not activated, grouped on
    ``shifted_date`` (the headline's expression for the whole days each has been observed). These
    move with the clock alone, so they are read from the windows that are still running.
    """
    return dict(ActivationWindow.objects.filter(definition=definition, closes_at__gt=now)
                .filter(Q(state=ActivationWindow.State.OPEN) | Q(state=ActivationWindow.State.EXPIRED))
                .annotate(censor_date=shifted_date).values("censor_date").annotate(n=Count("pk"))
                .order_by().values_list("censor_date", "n"))
