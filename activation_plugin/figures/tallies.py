"""
What every figure is added up from: rows of running totals (tallies) per group of windows, read
from the tally tables or counted from the windows, in the same shape either way.

A window's *contribution* is what it adds to the tallies: one completer in its cell (run, arm,
segment) and closing day, whether it was prompted, responded, was verified, activated (and on which
day, for the curve), and its KPI change per metric. ``api.tallies`` keeps the tables equal to the
sum of the contributions, in the same transaction as every change to a window, its evidence or a
learner's KPI observations (see docs/decisions/0009-tallies.rst).

Only time moves a window from running to ended without a write. Tally rows are kept per closing
day, so every row of a day that has passed is ended and every row of a later day is running; of
the windows closing *today*, split at ``now``, the smaller side is counted from the windows
themselves and the other is today's rows minus it. A definition whose tallies were never built
(``tallies_built_at`` empty, e.g. just after the upgrade that added them) is counted wholly from its
windows until the tick builds them.
"""
import hashlib
import operator
from collections import namedtuple
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from functools import reduce

from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from activation_plugin.models import (
    ActivationDayTally,
    ActivationWindow,
    CellTotal,
    CensorTally,
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
KPI_SUMS = ("measured", "sum_delta", "sum_delta_squares", "sum_pre", "sum_pre_squares", "sum_post",
            "observations", "observations_used")
# What the KPI sums are grouped by: the course effect weighs its colleagues by the completers' opening periods.
KPI_KEYS = ("metric", "arm", "activated", "opened_on", "window_days")
DEFAULT_BASELINE_DAYS = 30
# What a contribution is computed from, besides the annotations: the window's own columns.
WINDOW_COLUMNS = ("pk", "definition_id", *CELL_FIELDS, "opened_at", "closes_at", "state", "days_to_activation",
                  "verified_strengths", "user_id", "tallied")

# ``ended_today``: the cells of ``cells`` that are today's windows ended by now (built tallies only),
# which the release of figures moves back to running with the days closed since (``cells_closed``).
Tallies = namedtuple("Tallies", "cells kpi activation_days waiting ended_today", defaults=((),))
DAY = timedelta(days=1)


def metric_baselines_of(definitions):
    """``{definition id: metric_baselines}`` of several definitions, in one query."""
    baselines = {definition.pk: {} for definition in definitions}
    configs = (EvidenceRequirement.objects.filter(definition__in=list(baselines),
                                                  kind=EvidenceRequirement.Kind.METRIC)
               .order_by("definition_id", "position", "pk").values_list("definition_id", "config"))
    for definition_id, config in configs:
        baselines[definition_id].setdefault(config["metric"], config.get("baseline_days", DEFAULT_BASELINE_DAYS))
    return baselines


def metric_baselines(definition):
    """``{metric: baseline_days}`` of the definition's KPI requirements, in requirement order."""
    return metric_baselines_of([definition])[definition.pk]


def cell_key(row):
    """A short digest of a window's cell: the tally's unique key cannot hold four long texts in MariaDB."""
    return hashlib.sha1("\x1f".join(str(row[field]) for field in CELL_FIELDS).encode()).hexdigest()


def utc_day(moment):
    return moment.astimezone(dt_timezone.utc).date()


def opening_period(row):
    """``(opened_on, window_days)`` of a window: the UTC day it opened and its length in whole days."""
    return utc_day(row["opened_at"]), round((row["closes_at"] - row["opened_at"]) / DAY)


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


def _baseline_start(baseline_days):
    return ExpressionWrapper(OuterRef("opened_at") - timedelta(days=baseline_days), output_field=DateTimeField())


def period_means(metric, baseline_days):
    """A window's learner's mean ``metric`` over the baseline and over the window: the two ends of its KPI delta."""
    return (_mean(metric, _baseline_start(baseline_days), OuterRef("opened_at")),
            _mean(metric, OuterRef("opened_at"), OuterRef("closes_at")))


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
        baseline_start = _baseline_start(baseline_days)
        pre, post = period_means(metric, baseline_days)
        annotations |= {
            f"pre_{index}": pre, f"post_{index}": post,
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
                "sum_pre": pre if measured else 0.0, "sum_pre_squares": pre * pre if measured else 0.0,
                "sum_post": post if measured else 0.0,
                "observations": row[f"observations_{index}"], "observations_used": row[f"used_{index}"]}
        if any(sums.values()):
            kpi[metric] = {key: value for key, value in sums.items() if value}
    return {"cell": {key: value for key, value in cell.items() if value},
            "day": row["days_to_activation"] if activated else None, "kpi": kpi}


def opening_hour(moment):
    """The UTC hour a window opened in: the key of the censoring tallies."""
    return moment.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)


def _empty_cell(row, ended):
    return {**{field: row[field] for field in CELL_FIELDS}, "course_run": str(row["course_run"]),
            "ended": ended, "first_opened": row["opened_at"], **dict.fromkeys(CELL_COUNTERS, 0)}


def _added_up(rows, now):
    """
    ``Tallies`` of windows given as rows of their columns and ``added`` (their contribution): the
    cells and KPI sums split at ``now`` into ended and running, the activation days, and the
    running windows not activated by whole days observed (``(now - opened_at) // DAY``).
    """
    cells, kpi, days, waiting = {}, {}, {}, {}
    for row in rows:
        added = row["added"]
        ended = row["closes_at"] <= now
        cell = cells.setdefault((cell_key(row), ended), _empty_cell(row, ended))
        cell["first_opened"] = min(cell["first_opened"], row["opened_at"])
        for counter, value in added["cell"].items():
            cell[counter] += value
        if added["day"] is not None:
            days[added["day"]] = days.get(added["day"], 0) + 1
        activated = bool(added["cell"].get("activated"))
        if added["cell"] and not activated and not ended:
            observed = (now - row["opened_at"]) // DAY
            waiting[observed] = waiting.get(observed, 0) + 1
        opened_on, window_days = opening_period(row)
        for metric, sums in added["kpi"].items():
            group = kpi.setdefault((metric, row["arm"], activated, opened_on, window_days, ended), {
                "metric": metric, "arm": row["arm"], "activated": activated, "opened_on": opened_on,
                "window_days": window_days, "ended": ended, **dict.fromkeys(KPI_SUMS, 0)})
            for name, value in sums.items():
                group[name] += value
    return Tallies(list(cells.values()), list(kpi.values()), days, waiting)


def counted_from_windows(windows, baselines, now):
    """``Tallies`` of these windows, counted from them: what the tables hold, for windows not in them."""
    metrics = list(baselines)
    return _added_up(({**row, "added": contribution(row, metrics)}
                      for row in annotated(windows, baselines).order_by()), now)


def _today_windows(definition_ids, today):
    start = datetime.combine(today, time.min, tzinfo=dt_timezone.utc)
    return ActivationWindow.objects.filter(definition__in=definition_ids, state__in=ActivationWindow.State.values,
                                           closes_at__gte=start, closes_at__lt=start + DAY)


def _closing_today(baselines_of, now, today, day_rows):
    """
    ``{definition id: Tallies}`` of the windows closing today, which ``now`` splits into ended and
    running, for each definition of ``baselines_of`` (``{id: metric_baselines}``), in a few queries
    whatever their number. Only the smaller side of each definition's day is read (what each of its
    windows stores it adds, ``tallied``; counted afresh for a window never counted); the other is
    today's tally rows (``day_rows``: ``{id: Tallies}``) minus it. Which side is smaller, and the
    running windows' opening times the curve censors, come from the ``(definition, state,
    closes_at, opened_at)`` index alone, without reading a row: a first visit reads at most half of
    one day's windows, a quarter on average.
    """
    windows = _today_windows(list(baselines_of), today)
    sides = {pk: {"ended": 0, "running": 0, "waiting": {}} for pk in baselines_of}
    for definition_id, closes_at, state, opened_at in windows.values_list(
            "definition_id", "closes_at", "state", "opened_at").order_by():
        side = sides[definition_id]
        if closes_at <= now:
            side["ended"] += 1
            continue
        side["running"] += 1
        if state in (ActivationWindow.State.OPEN, ActivationWindow.State.EXPIRED):
            observed = (now - opened_at) // DAY
            side["waiting"][observed] = side["waiting"].get(observed, 0) + 1
    ended_read = [pk for pk, side in sides.items() if side["ended"] <= side["running"]]
    running_read = [pk for pk, side in sides.items() if side["ended"] > side["running"]]
    rows = list(windows.filter(Q(definition__in=ended_read, closes_at__lte=now)
                               | Q(definition__in=running_read, closes_at__gt=now)).values(*WINDOW_COLUMNS))
    _count_uncounted(rows, baselines_of)
    by_definition = {pk: [] for pk in baselines_of}
    for row in rows:
        by_definition[row["definition_id"]].append(row)
    closing = {}
    for pk, baselines in baselines_of.items():
        side_read = _added_up(({**row, "added": {**row["tallied"], "kpi": {
            metric: sums for metric, sums in row["tallied"]["kpi"].items() if metric in baselines}}}
            for row in by_definition[pk]), now)
        other = sides[pk]["ended"] > sides[pk]["running"]  # the ``ended`` of the side not read
        day = day_rows[pk]
        closing[pk] = Tallies(
            side_read.cells + _rest_of_day(day.cells, CELL_FIELDS, CELL_COUNTERS, side_read.cells, other),
            side_read.kpi + _rest_of_day(day.kpi, KPI_KEYS, KPI_SUMS, side_read.kpi, other),
            {}, sides[pk]["waiting"])
    return closing


def _count_uncounted(rows, baselines_of):
    """
    Give the windows never counted (``tallied`` empty) their contribution, in place: one query per
    distinct set of KPI baselines among their definitions (such windows are rare: every write counts
    its window, and the tick counts what an upgrade left).
    """
    uncounted = {}
    for row in rows:
        if row["tallied"] is None:
            baselines = baselines_of[row["definition_id"]]
            uncounted.setdefault(tuple(baselines.items()), []).append(row["pk"])
    fresh = {}
    for baselines, pks in uncounted.items():
        baselines = dict(baselines)
        fresh |= {row["pk"]: contribution(row, list(baselines))
                  for row in annotated(ActivationWindow.objects.filter(pk__in=pks), baselines)}
    for row in rows:
        row["tallied"] = row["tallied"] or fresh[row["pk"]]


def _rest_of_day(day_rows, keys, counters, side_read, ended):
    """
    Today's tally rows minus the rows of the side read: the side not read, marked ``ended``. Its
    cells keep the day's ``first_opened``, which the figures take the least of; rows left with
    nothing (every window of the group on the side read) are left out.
    """
    subtracted = {tuple(str(row[key]) for key in keys): row for row in side_read}
    rest = []
    for row in day_rows:
        taken = subtracted.get(tuple(str(row[key]) for key in keys))
        row = {**row, "ended": ended}
        if taken:
            for name in counters:
                row[name] -= taken[name]
        if any(row[name] for name in counters if not isinstance(row[name], float)):  # counts, not KPI sums
            rest.append(row)
    return rest


def _summed(queryset, today, keys, counters):
    """
    Rows of a tally table summed over the closing days before ``today`` (``ended``), after it
    (running), and on it (``ended`` None: ``now`` splits that day), in one query.
    """
    rows = queryset.values(*keys, ended=Case(When(closes_on__lt=today, then=Value(1)),
                                             When(closes_on=today, then=Value(2)), default=Value(0),
                                             output_field=IntegerField())).annotate(**counters).order_by()
    return [{**row, "ended": None if row["ended"] == 2 else bool(row["ended"])} for row in rows]


def _waiting(definition, now, today):
    """
    ``{whole days observed: windows}`` of the windows running past today that have not activated.
    From the censoring tallies by opening hour, where every window of the hour has been observed
    the same whole days; in the hours whose time of day is now's, the day ends within the hour,
    so those windows are read (about one in 24 of the running ones).
    """
    waiting, ambiguous = {}, []
    for hour, windows in (CensorTally.objects.filter(definition=definition, closes_on__gt=today, waiting__gt=0)
                          .values_list("opened_hour").annotate(Sum("waiting")).order_by()):
        if (now - hour) % DAY < timedelta(hours=1):
            ambiguous.append(Q(opened_at__gte=hour, opened_at__lt=hour + timedelta(hours=1)))
        else:
            observed = (now - hour) // DAY
            waiting[observed] = waiting.get(observed, 0) + windows
    if ambiguous:
        tomorrow = datetime.combine(today, time.min, tzinfo=dt_timezone.utc) + DAY
        for opened_at in ActivationWindow.objects.filter(
                reduce(operator.or_, ambiguous), definition=definition, closes_at__gte=tomorrow,
                state__in=(ActivationWindow.State.OPEN, ActivationWindow.State.EXPIRED)).values_list(
                "opened_at", flat=True):
            observed = (now - opened_at) // DAY
            waiting[observed] = waiting.get(observed, 0) + 1
    return waiting


def read_many(definitions, now, baselines_of):
    """
    ``{definition id: Tallies}`` of several definitions at ``now``, ``cells`` and ``kpi`` as
    ``read`` gives them, in a number of queries that does not grow with the definitions (one
    grouped read of each tally table, one of the windows closing today, and one per definition
    state below). ``baselines_of``: ``{definition id: metric_baselines}`` (``{}`` for no KPI).

    A definition whose tallies were never built is counted wholly from its windows (one query per
    distinct set of baselines among them), with its activation days and waiting windows; a built
    one gets the waiting windows of today only, which ``read`` completes from the censoring tallies.
    """
    tallied = {}
    unbuilt = {}
    for definition in definitions:
        if definition.tallies_built_at is None:
            unbuilt.setdefault(tuple(baselines_of[definition.pk].items()), []).append(definition.pk)
    for baselines, pks in unbuilt.items():
        groups = {pk: [] for pk in pks}
        for row in annotated(ActivationWindow.objects.filter(definition__in=pks), dict(baselines)).order_by():
            groups[row["definition_id"]].append({**row, "added": contribution(row, [name for name, _d in baselines])})
        tallied |= {pk: _added_up(rows, now) for pk, rows in groups.items()}
    built = {definition.pk: baselines_of[definition.pk] for definition in definitions
             if definition.tallies_built_at is not None}
    if not built:
        return tallied
    today = utc_day(now)
    cells = _cells_of(list(built), today)
    kpi = []
    with_kpi = [pk for pk, baselines in built.items() if baselines]
    if with_kpi:
        metrics = sorted({metric for pk in with_kpi for metric in built[pk]})
        kpi = [row for row in _summed(KpiTally.objects.filter(definition__in=with_kpi, metric__in=metrics), today,
                                      ("definition_id", *KPI_KEYS),
                                      {name: Sum(name) for name in KPI_SUMS})
               if row["metric"] in built[row["definition_id"]]]
    cells_of, kpi_of = _by_definition(cells, built), _by_definition(kpi, built)
    closing_today = _closing_today(built, now, today, {pk: Tallies(
        [row for row in cells_of[pk] if row["ended"] is None], [row for row in kpi_of[pk] if row["ended"] is None],
        {}, {}) for pk in built})
    for pk in built:
        today_part = closing_today[pk]
        tallied[pk] = Tallies([row for row in cells_of[pk] if row["ended"] is not None] + today_part.cells,
                              [row for row in kpi_of[pk] if row["ended"] is not None] + today_part.kpi,
                              {}, today_part.waiting, [row for row in today_part.cells if row["ended"]])
    return tallied


def cells_closed(first_days, today):
    """
    ``{definition id: [cell row]}``: per cell, the counters of the windows that closed from
    ``first_days[id]`` (None: the first day) to yesterday, and the least ``first_opened``, summed
    from their tally rows in one grouped query, whatever the number of windows (the run as text,
    the texts as each cell's least: the digest determines them). Built tallies only.
    """
    by_start = {}
    for pk, start in first_days.items():
        by_start.setdefault(start, []).append(pk)
    closed = {pk: [] for pk in first_days}
    if not by_start:
        return closed
    rows = (WindowTally.objects.filter(reduce(operator.or_, (
        Q(definition__in=pks) if start is None else Q(definition__in=pks, closes_on__gte=start)
        for start, pks in by_start.items())), closes_on__lt=today)
        .values("definition_id", "cell").annotate(
            first_opened=Min("first_opened"),
            **{f"cell_{field}": Min(field, output_field=CharField()) for field in CELL_FIELDS},
            **{counter: Sum(counter) for counter in CELL_COUNTERS}).order_by())
    for row in rows:
        del row["cell"]
        row.update({field: row.pop(f"cell_{field}") for field in CELL_FIELDS}, ended=True)
        if any(row[counter] for counter in CELL_COUNTERS):
            closed[row.pop("definition_id")].append(row)
    return closed


def _cells_of(definition_ids, today):
    """
    The cell rows of these definitions, as ``_summed`` gives them (with the ``definition_id``): each
    cell's rows closing today or later summed by day class (one grouped read of only those rows, on
    the ``(definition, closes_on)`` index, without texts), and its ended part, the cell's total
    (``CellTotal``, one row per cell, read as it is) minus them. The run is read as text (parsing a
    course key per row costs more than the query). An ended part with nothing counted is left out,
    unless its windows opened before any of the cell's later ones: its ``first_opened`` orders the
    runs (a run whose first windows were all withdrawn).
    """
    later = {}
    for row in _summed(WindowTally.objects.filter(definition__in=definition_ids, closes_on__gte=today), today,
                       ("definition_id", "cell"), {"first_opened": Min("first_opened"),
                                                   **{counter: Sum(counter) for counter in CELL_COUNTERS}}):
        later.setdefault((row["definition_id"], row.pop("cell")), []).append(row)
    rows = []
    for total in (CellTotal.objects.filter(definition__in=definition_ids)
                  .annotate(run=ExpressionWrapper(F("course_run"), output_field=CharField()))
                  .values("definition_id", "cell", "run", *CELL_FIELDS[1:], "first_opened", *CELL_COUNTERS)
                  .order_by()):
        texts = {"course_run": total.pop("run"), **{field: total.pop(field) for field in CELL_FIELDS[1:]}}
        parts = later.get((total["definition_id"], total.pop("cell")), [])
        for part in parts:
            part.update(texts)
            for counter in CELL_COUNTERS:
                total[counter] -= part[counter]
        if any(total[counter] for counter in CELL_COUNTERS) or all(
                total["first_opened"] < part["first_opened"] for part in parts):
            rows.append({**total, **texts, "ended": True})
        rows += [{"definition_id": total["definition_id"], **part} for part in parts]
    return rows


def _by_definition(rows, definition_ids):
    """``{definition id: rows}``, each row without its ``definition_id`` (the shape ``read`` gives)."""
    grouped = {pk: [] for pk in definition_ids}
    for row in rows:
        grouped[row.pop("definition_id")].append(row)
    return grouped


def read(definition, now, with_kpi=True, baselines=None):
    """
    The definition's ``Tallies`` at ``now``: ``cells`` (per cell and ``ended``: the counters and
    ``first_opened``), ``kpi`` (per metric, arm, ``activated`` and ``ended``: the sums),
    ``activation_days`` (``{day: activated windows}``) and ``waiting`` (``{whole days observed:
    running windows not activated}``, the curve's censored). A few queries whatever the number of
    windows once the tallies are built. ``baselines``: ``metric_baselines(definition)``, if read already.
    """
    if not with_kpi:
        baselines = {}
    elif baselines is None:
        baselines = metric_baselines(definition)
    tallied = read_many([definition], now, {definition.pk: baselines})[definition.pk]
    if definition.tallies_built_at is None:
        return tallied
    today = utc_day(now)
    days = dict(ActivationDayTally.objects.filter(definition=definition, activated__gt=0)
                .values_list("day", "activated"))
    waiting = _waiting(definition, now, today)
    for observed, windows in tallied.waiting.items():
        waiting[observed] = waiting.get(observed, 0) + windows
    return tallied._replace(activation_days=days, waiting=waiting)
