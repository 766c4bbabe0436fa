"""
Keeping the tallies the figures read (``figures.tallies``) equal to the sum of what each window
contributes: in the same transaction as a change to a window, its prompts or its learner's KPI
observations; in a short transaction right after the commit of a change to its evidence, which
learners and reviewers make in their requests (``count_after_commit``), with the tick as the safety net.

Each window stores what it last added (``ActivationWindow.tallied``). ``retally`` locks the
windows, computes what they add now, and moves the difference: a window counted twice, or a write
that reaches it by two paths, changes nothing the second time, and a path that forgot to count a
change is corrected by the window's next one. ``rebuild`` recounts a definition from its windows
(the repair command, the tick for definitions never built, the test that rebuild equals live).
See docs/decisions/0009-tallies.rst.
"""
import logging
import random
import time
from collections import defaultdict

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Func, JSONField, Value, When
from django.utils import timezone

from activation_plugin import figures, lock_waits
from activation_plugin.figures.tallies import (
    CELL_COUNTERS,
    CELL_FIELDS,
    KPI_SUMS,
    WINDOW_COLUMNS,
    annotated,
    cell_key,
    contribution,
    metric_baselines,
    opening_hour,
    opening_period,
    utc_day,
)
from activation_plugin.models import (
    ActivationDayTally,
    ActivationDefinition,
    ActivationWindow,
    CellTotal,
    CensorTally,
    EvidenceRequirement,
    KpiTally,
    LateTally,
    WindowTally,
)

log = logging.getLogger(__name__)
# Windows recounted per statement by ``rebuild``: memory stays flat at any size.
REBUILD_BATCH = 5000
_NOTHING = {"cell": {}, "day": None, "kpi": {}}
# Seconds between the tries of a move after a commit (``count_after_commit``): about 0.2 s more for a
# learner whose cell's running total is held, before the tick is left to move it. No try starts after
# ``MOVE_RETRY_BUDGET`` seconds: on MySQL, whose shortest lock wait is 1 s, a held row is tried once.
MOVE_RETRY_PAUSES = (0.02, 0.05, 0.1)
MOVE_RETRY_BUDGET = 0.5


class _Moves:
    """The differences to add to each tally row, summed over the windows of one ``retally``."""

    def __init__(self, definition_id):
        self.definition_id = definition_id
        self.cells, self.days, self.kpi, self.waiting = {}, defaultdict(int), {}, defaultdict(int)

    def add(self, row, added, sign):
        """
        Add (``sign`` 1) or take away (-1) one window's contribution ``added``. A window counted
        for the first time also brings its opening time to its cell (``first_opened``).
        """
        key = (cell_key(row), utc_day(row["closes_at"]))
        cell = self.cells.setdefault(key, {
            **{field: row[field] for field in CELL_FIELDS}, "cell": key[0], "closes_on": key[1],
            "first_opened": row["opened_at"], "new": False, **dict.fromkeys(CELL_COUNTERS, 0)})
        cell["first_opened"] = min(cell["first_opened"], row["opened_at"])
        cell["new"] |= row["tallied"] is None
        for counter, value in added["cell"].items():
            cell[counter] += sign * value
        if added["day"] is not None:
            self.days[added["day"]] += sign
        activated = bool(added["cell"].get("activated"))
        if added["cell"] and not activated:
            self.waiting[opening_hour(row["opened_at"]), key[1]] += sign
        opened_on, window_days = opening_period(row)
        for metric, sums in added["kpi"].items():
            group = self.kpi.setdefault((metric, row["arm"], activated, key[1], opened_on, window_days), {
                "metric": metric, "arm": row["arm"], "activated": activated, "closes_on": key[1],
                "opened_on": opened_on, "window_days": window_days, **dict.fromkeys(KPI_SUMS, 0)})
            for name, value in sums.items():
                group[name] += sign * value

    def _totals(self):
        """The moved cells summed over their closing days: what moves in each cell's ``CellTotal``."""
        totals = {}
        for row in self.cells.values():
            total = totals.get(row["cell"])
            if total is None:
                totals[row["cell"]] = {key: value for key, value in row.items() if key != "closes_on"}
                continue
            total["first_opened"] = min(total["first_opened"], row["first_opened"])
            total["new"] |= row["new"]
            for counter in CELL_COUNTERS:
                total[counter] += row[counter]
        return [{"definition_id": self.definition_id, **row} for row in totals.values()
                if row["new"] or any(row[counter] for counter in CELL_COUNTERS)]

    def save(self):
        """
        One upsert per table, of the rows that moved, in key order: two writers that move the same
        rows take their locks in the same order, so they wait for each other instead of deadlocking.
        """
        _upsert(WindowTally, ("definition_id", "cell", "closes_on"), CELL_COUNTERS,
                [{"definition_id": self.definition_id, **row} for row in self.cells.values()
                 if row["new"] or any(row[counter] for counter in CELL_COUNTERS)],
                extra=CELL_FIELDS, least=("first_opened",))
        _upsert(CellTotal, ("definition_id", "cell"), CELL_COUNTERS, self._totals(), extra=CELL_FIELDS,
                least=("first_opened",))
        _upsert(ActivationDayTally, ("definition_id", "day"), ("activated",),
                [{"definition_id": self.definition_id, "day": day, "activated": n}
                 for day, n in self.days.items() if n])
        _upsert(CensorTally, ("definition_id", "opened_hour", "closes_on"), ("waiting",),
                [{"definition_id": self.definition_id, "opened_hour": hour, "closes_on": day, "waiting": n}
                 for (hour, day), n in self.waiting.items() if n])
        _upsert(KpiTally, ("definition_id", "metric", "arm", "activated", "closes_on", "opened_on", "window_days"),
                KPI_SUMS,
                [{"definition_id": self.definition_id, **row} for row in self.kpi.values()
                 if any(row[name] for name in KPI_SUMS)])


def _upsert(model, keys, counters, rows, extra=(), least=()):
    """
    Add ``counters`` to the rows with these ``keys``, creating the missing ones, in one statement:
    concurrent writers each add their own difference, and none overwrites another's.
    """
    if not rows:
        return
    rows = sorted(rows, key=lambda row: tuple(str(row[key]) for key in keys))
    meta = model._meta
    columns = [*keys, *extra, *counters, *least]
    fields = [meta.get_field(column[:-3] if column.endswith("_id") else column) for column in columns]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    values = []
    for row in rows:
        values += [field.get_db_prep_save(row[column], connection) for field, column in zip(fields, columns)]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    names = ", ".join(quote(field.column) for field in fields)
    if connection.vendor == "mysql":
        updates = [f"{quote(c)} = {quote(c)} + VALUES({quote(c)})" for c in counters]
        updates += [f"{quote(c)} = LEAST({quote(c)}, VALUES({quote(c)}))" for c in least]
        sql = f"INSERT INTO {table} ({names}) VALUES {placeholders} ON DUPLICATE KEY UPDATE {', '.join(updates)}"
    else:
        smallest = "MIN" if connection.vendor == "sqlite" else "LEAST"
        updates = [f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in counters]
        updates += [f"{quote(c)} = {smallest}({table}.{quote(c)}, excluded.{quote(c)})" for c in least]
        conflict = ", ".join(quote(meta.get_field(k[:-3] if k.endswith("_id") else k).column) for k in keys)
        sql = (f"INSERT INTO {table} ({names}) VALUES {placeholders} "
               f"ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


class _LateChanges:
    """
    What the windows of one ``_move`` change in the tallies of closing days that were over before
    ``changed_on`` (a verdict, a withdrawal, evidence re-judged, an activation by a late KPI
    observation), per cell, closing day and the day of the change: the ``LateTally`` rows
    ``figures.release`` counts on the day they happened for viewers who cannot see the windows' runs
    row by row (ADR 0016, "Late changes"). A window counted for the first time is not a change: it
    counts on the day it closed (ADR 0016 says what that leaves open).
    """

    def __init__(self, definition_id, changed_on):
        self.definition_id, self.changed_on, self.cells = definition_id, changed_on, {}

    def add(self, row, added):
        """
        One window moved from what it stored (``row["tallied"]``) to ``added``, if it closed on a day
        over before the change: what it added is taken out, and what it adds now put in, under the
        day each activated on (the Kaplan-Meier curve's events move with the counts).
        """
        closes_on = utc_day(row["closes_at"])
        before = row["tallied"]
        if before is None or closes_on >= self.changed_on or (before["cell"], before["day"]) == (
                added["cell"], added["day"]):
            return
        for contributed, sign in ((before, -1), (added, 1)):
            day = -1 if contributed["day"] is None else contributed["day"]
            key = (cell_key(row), closes_on, day)
            cell = self.cells.setdefault(key, {
                "definition_id": self.definition_id, **{field: row[field] for field in CELL_FIELDS}, "cell": key[0],
                "closes_on": closes_on, "changed_on": self.changed_on, "activation_day": day,
                "first_opened": row["opened_at"], "changed": 0, **dict.fromkeys(CELL_COUNTERS, 0)})
            cell["changed"] += sign > 0
            for counter, value in contributed["cell"].items():
                cell[counter] += sign * value

    def save(self):
        """One upsert, after the tallies' (the same lock order for every writer)."""
        _upsert(LateTally, ("definition_id", "cell", "closes_on", "changed_on", "activation_day"),
                ("changed", *CELL_COUNTERS), list(self.cells.values()), extra=CELL_FIELDS, least=("first_opened",))


def retally(definition, window_ids, baselines=None):
    """
    Count these windows of ``definition`` again and move the tallies by what changed; must run
    inside the transaction that changed them. A few statements whatever changed: the KPI
    requirements (unless ``baselines`` are given), the locked windows with what they add now, and,
    if anything moved, the upserts and the windows' new ``tallied``.
    """
    window_ids = sorted(set(window_ids))
    if not window_ids:
        return
    baselines = _baselines(definition) if baselines is None else baselines
    rows = annotated(ActivationWindow.objects.filter(definition_id=definition.pk, pk__in=window_ids)
                     .order_by("pk").select_for_update(), baselines)
    _move(definition.pk, rows, list(baselines))


def _move(definition_id, rows, metrics):
    """Move the tallies by what each window (an ``annotated`` row) adds now minus what it stored; store the new."""
    moves, changed = _Moves(definition_id), []
    late = _LateChanges(definition_id, utc_day(timezone.now()))
    for row in rows:
        added = contribution(row, metrics)
        if added == row["tallied"]:
            continue
        moves.add(row, row["tallied"] or _NOTHING, -1)
        moves.add(row, added, 1)
        late.add(row, added)
        changed.append(ActivationWindow(pk=row["pk"], tallied=added))
    if changed:
        # The windows' own rows first, the shared running totals last: their locks are then held only
        # from the upserts to the commit, which is what other writers of the cell wait for.
        ActivationWindow.objects.bulk_update(changed, ["tallied"])
        moves.save()
        late.save()


def count_after_commit(definition, window_ids):
    """
    Count these windows of ``definition`` again once the caller's transaction has committed: what a
    change to a window's evidence calls (a submission, an edit, a review's verdict), inside the
    learner's or reviewer's request. The transaction stores only the windows' own rows and marks
    them ``tally_stale``; the shared running totals, which every learner of a cell moves, are not
    locked by it, so a request never waits on another's hold of them (issue 29). After the outermost
    commit, a short transaction of its own moves them without waiting for a held row
    (``lock_waits.not_waiting``); if that fails, the mark stays and the tick moves them
    (``count_stale``). Until the move, the figures show the windows as they were last counted:
    they miss the change for that time, and never count it twice, because a move and the window's
    stored contribution change in one transaction. See docs/decisions/0015-inside-the-platforms-transactions.rst.
    """
    window_ids = sorted(set(window_ids))
    if not window_ids:
        return
    ActivationWindow.objects.filter(pk__in=window_ids, tally_stale=False).update(tally_stale=True)
    transaction.on_commit(lambda: _count_now(definition, window_ids), robust=True)


def _count_now(definition, window_ids):
    """
    The move after the commit, tried again after each of ``MOVE_RETRY_PAUSES`` (a little shuffled, so
    that learners who met on a row do not meet again): other learners' moves hold a cell's row for
    milliseconds, a long transaction elsewhere for as long as it likes, and the learner waits for
    neither longer than the pauses (or, on MySQL, than one lock wait of 1 s). A move that still fails
    is logged and left to the tick, never raised to the learner.
    """
    started = time.monotonic()
    for pause in (*MOVE_RETRY_PAUSES, None):
        try:
            with lock_waits.not_waiting(), transaction.atomic():
                _count_marked(definition, window_ids)
        except DatabaseError as exc:
            if pause is None or time.monotonic() - started > MOVE_RETRY_BUDGET:
                log.info("activation: the tallies of windows %s wait for the tick: %r", window_ids, exc)
                return
            time.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 (spreading retries, not a secret)
        else:
            figures.invalidate(definition.pk)  # a page read between the commit and the move cached the figures before
            return


def _count_marked(definition, window_ids, baselines=None):
    """
    Move the tallies of these windows and clear their mark, in the caller's transaction. Every window is
    recounted, marked or not: a recount moves nothing for a window already counted (a replay, a second
    step of one request, the tick's), and the windows stay locked from the clearing to the commit. The
    mark is cleared first, so that the shared rows are locked last (``_move``).
    """
    ActivationWindow.objects.filter(pk__in=window_ids, tally_stale=True).update(tally_stale=False)
    retally(definition, window_ids, baselines)


def count_stale(limit=None):
    """
    The tick's safety net for ``count_after_commit``: move the tallies of the windows still marked
    ``tally_stale`` (their move after the commit failed: a tally row held elsewhere, a crash), up to
    ``limit`` windows, a definition per transaction in key order. A definition whose rows are still
    held is left marked for the next tick. One query when nothing is marked.

    Returns:
        int: the windows counted.
    """
    limit = limit or settings.ACTIVATION_TICK_BATCH_SIZE
    stale = defaultdict(list)
    for definition_id, window_id in (ActivationWindow.objects.filter(tally_stale=True).order_by("pk")
                                     .values_list("definition_id", "pk")[:limit]):
        stale[definition_id].append(window_id)
    counted = 0
    for definition in ActivationDefinition.objects.filter(pk__in=stale).order_by("pk"):
        try:
            with transaction.atomic():
                _count_marked(definition, stale[definition.pk])
        except DatabaseError as exc:
            log.warning("activation: the tallies of %s windows of definition %s wait for the next tick: %r",
                        len(stale[definition.pk]), definition.pk, exc)
            continue
        figures.invalidate(definition.pk)
        counted += len(stale[definition.pk])
    return counted


FRESH = {"was_prompted": False, "has_response": False, "verified_count": 0, "submitted_count": 0}


def count_opened(definitions, windows):
    """
    Count windows just opened, which the caller holds locked. A new window has no prompt and no
    evidence yet, so under a definition without KPI requirements what it adds is known without a
    query; with them, its learner's baseline observations are read (``retally``). A window counted
    already (a concurrent twin of the event won) is left as it is.
    """
    by_definition = defaultdict(list)
    for window in windows:
        if window.tallied is None:
            by_definition[window.definition_id].append(window)
    for definition in definitions:
        opened = by_definition.get(definition.pk)
        if not opened:
            continue
        if _uses_metrics(definition):
            retally(definition, [window.pk for window in opened])
            continue
        rows = [{**{column: getattr(window, column) for column in WINDOW_COLUMNS}, **FRESH} for window in opened]
        _move(definition.pk, rows, [])
        for window, row in zip(opened, rows):
            window.tallied = contribution(row, [])


def count_prompted(definitions, windows, sent):
    """
    Count a tick's batch of ``windows`` (those whose first prompt it claimed) as prompted where their
    prompt was recorded sent (``sent``: window ids), in one transaction after the batch's sends: per
    definition the windows locked in key order, one upsert of the moved cells, one update of what the
    windows store they add and of their ``tally_pending`` mark. Only the prompted flag changes, so a window's
    stored contribution is moved without recounting it; one never counted is recounted whole.
    """
    by_definition = defaultdict(list)
    for window in windows:
        by_definition[window.definition_id].append(window.pk)
    with transaction.atomic():
        for definition_id, ids in sorted(by_definition.items()):
            rows = (ActivationWindow.objects.filter(pk__in=ids).order_by("pk").select_for_update()
                    .values(*WINDOW_COLUMNS))
            moves, moved, settled, uncounted = _Moves(definition_id), [], [], []
            for row in rows:
                before = row["tallied"]
                if row["pk"] in sent and not (before and before["cell"]):
                    uncounted.append(row["pk"])
                    continue
                settled.append(row["pk"])
                if row["pk"] in sent and not before["cell"].get("prompted"):
                    moves.add(row, before, -1)
                    moves.add(row, {**before, "cell": {**before["cell"], "prompted": 1}}, 1)
                    moved.append(row["pk"])
            moves.save()
            # One statement whatever the batch: the prompted flag set in what each moved window stores
            # (JSON_SET, in MariaDB, MySQL and SQLite alike), rather than a CASE of 500 JSON texts.
            ActivationWindow.objects.filter(pk__in=settled).update(tally_pending=False, tallied=Case(
                When(pk__in=moved, then=Func(F("tallied"), Value("$.cell.prompted"), Value(1), function="JSON_SET",
                                             output_field=JSONField())),
                default=F("tallied")))
            if uncounted:
                retally(definitions[definition_id], uncounted)
                ActivationWindow.objects.filter(pk__in=uncounted).update(tally_pending=False)


def count_pending_prompts(in_flight):
    """
    Recount the windows a tick marked ``tally_pending`` and did not count (it died between a send and
    its batch's count), from their deliveries: whatever was recorded ``sent`` counts. ``in_flight``:
    the claims (``queued`` or ``sending``) of a live tick, whose windows are left to it. One query
    when there is nothing to recount.

    Returns:
        int: the windows recounted.
    """
    pending = defaultdict(list)
    for definition_id, window_id in (ActivationWindow.objects.filter(tally_pending=True)
                                     .exclude(pk__in=in_flight.values("window_id"))
                                     .values_list("definition_id", "pk")):
        pending[definition_id].append(window_id)
    for definition in ActivationDefinition.objects.filter(pk__in=pending).order_by("pk"):
        with transaction.atomic():
            retally(definition, pending[definition.pk])
            ActivationWindow.objects.filter(pk__in=pending[definition.pk]).update(tally_pending=False)
    if pending:
        log.warning("activation: counted %s windows a stopped tick sent prompts to",
                    sum(len(ids) for ids in pending.values()))
    return sum(len(ids) for ids in pending.values())


def _uses_metrics(definition):
    """Whether the definition has a KPI requirement: ``open_windows`` annotates it, saving the query."""
    if getattr(definition, "uses_metrics", None) is None:
        definition.uses_metrics = bool(_baselines(definition))
    return definition.uses_metrics


def _baselines(definition):
    """
    ``metric_baselines``, read once per definition instance: requirements cannot change once a
    window exists, so a batch (the tick's, a backfill's) asks once per definition.
    """
    if not hasattr(definition, "_tally_baselines"):
        definition._tally_baselines = metric_baselines(definition)  # pylint: disable=protected-access
    return definition._tally_baselines  # pylint: disable=protected-access


def retally_learners(user_ids):
    """Count again these learners' windows under definitions with a KPI requirement: their observations changed."""
    if not user_ids:
        return
    windows = defaultdict(list)
    for definition_id, window_id in ActivationWindow.objects.filter(
            user_id__in=list(user_ids),
            definition__requirements__kind=EvidenceRequirement.Kind.METRIC).values_list("definition_id", "pk"):
        windows[definition_id].append(window_id)
    for definition in ActivationDefinition.objects.filter(pk__in=windows):
        retally(definition, windows[definition.pk])


@transaction.atomic
def rebuild(definition):
    """
    Recount a definition's tallies from its windows, replacing what they held: the repair command,
    and the first build of a definition created before tallies existed. The definition's windows
    stay locked meanwhile, so no change to them is lost between the count and the swap.

    Returns:
        int: the windows counted.
    """
    _lock_windows(definition)
    for model in (WindowTally, CellTotal, ActivationDayTally, CensorTally, KpiTally):
        model.objects.filter(definition=definition).delete()
    baselines = metric_baselines(definition)
    metrics, counted, last = list(baselines), 0, 0
    moves = _Moves(definition.pk)
    while True:
        rows = list(annotated(ActivationWindow.objects.filter(definition=definition, pk__gt=last).order_by("pk"),
                              baselines)[:REBUILD_BATCH])
        if not rows:
            break
        snapshots = []
        for row in rows:
            added = contribution(row, metrics)
            moves.add({**row, "tallied": None}, added, 1)  # counted afresh
            snapshots.append(ActivationWindow(pk=row["pk"], tallied=added))
        ActivationWindow.objects.bulk_update(snapshots, ["tallied"], batch_size=1000)
        counted, last = counted + len(rows), rows[-1]["pk"]
    moves.save()
    definition.tallies_built_at = timezone.now()
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=definition.tallies_built_at)
    figures.invalidate(definition.pk)
    return counted


def recount(definition):
    """
    Count a definition's windows again without stopping its live writes: in chunks of
    ``REBUILD_BATCH`` windows by key, each chunk locked only for its own short transaction and its
    tallies moved by what its windows add now minus what they stored (``retally``). Writers wait at
    most for one chunk. It builds the tallies of a definition never built (its rows hold exactly
    what its windows stored) and corrects every window whose rows were changed around the api; a
    tally row edited by hand, which no window's stored contribution explains, needs ``rebuild``.

    Returns:
        int: the windows counted.
    """
    baselines, counted, last = metric_baselines(definition), 0, 0
    while True:
        ids = list(ActivationWindow.objects.filter(definition=definition, pk__gt=last).order_by("pk")
                   .values_list("pk", flat=True)[:REBUILD_BATCH])
        if not ids:
            break
        with transaction.atomic():
            retally(definition, ids, baselines)
        counted, last = counted + len(ids), ids[-1]
    definition.tallies_built_at = timezone.now()
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=definition.tallies_built_at)
    figures.invalidate(definition.pk)
    return counted


def _lock_windows(definition):
    """Lock the definition's windows (and the gaps new ones would fill) without reading them into Python."""
    table = connection.ops.quote_name(ActivationWindow._meta.db_table)
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE definition_id = %s FOR UPDATE", [definition.pk])
    elif connection.features.has_select_for_update:
        for _pk in ActivationWindow.objects.filter(definition=definition).select_for_update().values_list(
                "pk", flat=True).iterator():
            pass


def rebuild_missing(limit=1):
    """
    Build the tallies of up to ``limit`` definitions that have none yet (created before tallies
    existed, or made around the api); the tick calls this, so the figures of those
    definitions are counted from their windows only until then. By chunks (``recount``): the
    learners and the receiver go on writing meanwhile.

    Returns:
        int: definitions built.
    """
    built = 0
    for definition in ActivationDefinition.objects.filter(tallies_built_at__isnull=True).exclude(
            status=ActivationDefinition.Status.DRAFT).order_by("pk")[:limit]:
        windows = recount(definition)
        log.info("activation: built the tallies of definition %s from %s windows", definition.pk, windows)
        built += 1
    return built
