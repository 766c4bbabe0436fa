"""
When the figures over ended windows may move for a viewer who cannot see every run row by row
(docs/decisions/0016-suppression-and-differencing.rst, "The previous day").

A viewer who keeps yesterday's figures subtracts them from today's: what changed in between is
the windows that ended since, released as surely as a breakdown's row would be. So the learners
the viewer cannot see count as ended once the day their window closed on is over, and only when
what ended since the figures last moved passes the cell test; until then the figures stay where
they were. A run, an arm or a segment value whose part of that would tell outcomes is held hidden.
"""
import operator
from collections import defaultdict, namedtuple
from datetime import date, datetime, time
from datetime import timezone as dt_timezone
from functools import reduce

from django.db.models import CharField, ExpressionWrapper, F, Q
from django.db.models.functions import Cast

from activation_plugin.figures import tallies
from activation_plugin.figures.base import counted_windows, min_cell_size, reveals_outcomes, unseen
from activation_plugin.figures.tallies import (
    CELL_COUNTERS,
    CELL_FIELDS,
    DAY,
    WINDOW_COLUMNS,
    _added_up,
    _count_uncounted,
    annotated,
    contribution,
    utc_day,
)
from activation_plugin.models import ActivationWindow, LateTally, WindowTally

EVERYONE = ("", "")
# What the figures over ended windows tell of each learner: whether they activated, and whether they answered.
OUTCOMES = ("activated", "responded")

# ``late``: the late changes (``_late_rows``) of the windows counted through ``through`` that happened
# after it, which the figures take back out until a move releases them (``counted_through``).
Release = namedtuple("Release", "through holding late", defaults=((),))


class Holding(frozenset):
    """
    ``walk``'s groups held hidden today, with what waits for this viewer to be released (``read``):
    ``through`` (the last day the figures count), ``windows`` (windows outside the viewer's runs that
    ended since and count as running until a move releases them) and ``changes`` (late changes to
    windows counted already, not released yet). Figures for a viewer who sees every row wait for
    nothing. A move waits until what ended since passes the cell test with its changes: a course
    whose last windows never make such a group keeps them waiting, and the page says how many.
    """

    through, windows, changes = None, 0, 0

    @classmethod
    def of(cls, walked, windows=0):
        held = cls(walked.holding)
        held.through, held.windows = walked.through, windows
        held.changes = sum(late["changed"] for late in walked.late)
        return held


def released_at(now):
    """The start of ``now``'s UTC day: a day is complete once it is over."""
    return datetime.combine(utc_day(now), time.min, tzinfo=dt_timezone.utc)


def _closing_days(definitions, now, visible_runs_of):
    """
    ``({definition id: [{"closes_on", *CELL_FIELDS, "completers", "activated", "responded",
    "changed"}]}, {definition id: [late row]})`` of the windows the viewer cannot see row by row
    (outside ``visible_runs_of[id]``) that closed before today, by day and cell: from the tallies
    (one grouped read for every built definition), or from the windows of a definition whose
    tallies were never built; each as it was when its day closed, and each late change to it
    (``LateTally``, one read; the late rows as ``_late_rows`` gives them) on the day it happened.
    """
    rows_of = {definition.pk: [] for definition in definitions}
    built = [definition.pk for definition in definitions if definition.tallies_built_at is not None]
    if built:
        # One tally row per definition, cell and day (its unique key): read as they are, the run and
        # the day as text (parsing a course key and a date per row cost more than the query).
        for row in (WindowTally.objects.filter(definition__in=built, closes_on__lt=utc_day(now), completers__gt=0)
                    .annotate(run=ExpressionWrapper(F("course_run"), output_field=CharField()),
                              day=Cast("closes_on", CharField()))
                    .values("definition_id", "day", "run", *CELL_FIELDS[1:], "completers", *OUTCOMES)
                    .order_by()):
            row["course_run"], row["closes_on"] = row.pop("run"), date.fromisoformat(row.pop("day"))
            rows_of[row.pop("definition_id")].append(row)
    for definition in definitions:
        if definition.tallies_built_at is None:
            for row in annotated(counted_windows(definition).filter(closes_at__lt=released_at(now)), {}).order_by():
                cell = contribution(row, [])["cell"]
                rows_of[definition.pk].append({
                    "closes_on": utc_day(row["closes_at"]), **{field: row[field] for field in CELL_FIELDS},
                    **{counter: cell.get(counter, 0) for counter in ("completers", *OUTCOMES)}})
    seen = {pk: {str(run) for run in runs} for pk, runs in visible_runs_of.items()}
    late_of = {pk: [] for pk in rows_of}
    for late in _late_rows(LateTally.objects.filter(definition__in=list(rows_of), changed_on__lte=utc_day(now))):
        if late["course_run"] in seen[late["definition_id"]]:
            continue
        late_of[late["definition_id"]].append(late)
        # Taken out of the day the windows closed on, back in on the day they changed once it is over.
        row = {key: late[key] for key in ("closes_on", *CELL_FIELDS, "completers", *OUTCOMES, "changed")}
        rows_of[late["definition_id"]].append(
            {**row, "changed": 0, **{counter: -row[counter] for counter in ("completers", *OUTCOMES)}})
        if late["changed_on"] < utc_day(now):
            rows_of[late["definition_id"]].append({**row, "closes_on": late["changed_on"]})
    return {pk: [row for row in rows if str(row["course_run"]) not in seen[pk] and any(
        row.get(counter) for counter in ("completers", *OUTCOMES, "changed"))] for pk, rows in rows_of.items()}, late_of


def _late_rows(late):
    """
    ``LateTally`` rows as the walk reads them: the run and the days as text read back (as the tally
    rows), and the day the windows closed as ``closes_on``. A change recorded on a day after ``now``
    (only a test asks for the past) is left in its closing day: the figures cannot replay it.
    """
    for row in (late.annotate(run=ExpressionWrapper(F("course_run"), output_field=CharField()),
                              closed=Cast("closes_on", CharField()), on=Cast("changed_on", CharField()))
                .values("definition_id", "closed", "on", "run", *CELL_FIELDS[1:], "activation_day", "first_opened",
                        "changed", *CELL_COUNTERS).order_by()):
        row["course_run"] = row.pop("run")
        row["closes_on"], row["changed_on"] = date.fromisoformat(row.pop("closed")), date.fromisoformat(row.pop("on"))
        yield row


def _tells(completers, outcome_count, changed=0):
    """
    Whether a group, or what it gained since its last release, tells outcomes: it fails the cell
    test, or it changed without new learners to hide the change among (``changed`` late changes to
    windows ended before: a verdict or a withdrawal alone gives one learner's outcome away).
    """
    return bool(completers or outcome_count or changed) and reveals_outcomes(completers, outcome_count)


class _Releases:
    """
    What a viewer has been shown of each group so far: ``(completers, outcome count, late changes)``
    by ``(group, outcome)``.
    """

    def __init__(self):
        self.last = {}

    def holds(self, key, counts):
        """Whether releasing ``counts`` now would tell outcomes by difference with the last release."""
        before = self.last.get(key)
        return before is not None and _tells(*(now - then for now, then in zip(counts, before)))

    def release(self, key, counts):
        if not _tells(*counts):  # a figure the cell test hides releases nothing
            self.last[key] = counts


def walk(definition, now, visible_runs=()):
    """
    ``Release(through, holding, late)``: the last complete day whose ended windows the figures count
    among the learners the viewer cannot see row by row (None: none), the groups held hidden today
    (``{(group, outcome)}``, ``group`` ``EVERYONE`` or ``(field, value)`` of a cell field, ``outcome``
    one of ``OUTCOMES``): the last of ``moves``; and the late changes not released yet.
    """
    return walk_many([definition], now, {definition.pk: visible_runs})[definition.pk]


def walk_many(definitions, now, visible_runs_of):
    """``{definition id: walk}`` of several definitions, from one grouped read of their tallies (the portfolio)."""
    if min_cell_size() <= 1:
        return {definition.pk: Release(None, frozenset()) for definition in definitions}
    walked = {}
    rows_of, late_of = _closing_days(definitions, now, visible_runs_of)
    for pk, rows in rows_of.items():
        by_day = defaultdict(list)
        for row in rows:
            by_day[row["closes_on"]].append(row)
        last = Release(None, frozenset())
        for last, _totals in moves(by_day):
            pass
        walked[pk] = last._replace(late=tuple(
            late for late in late_of[pk] if last.through is not None and late["closes_on"] <= last.through < late[
                "changed_on"]))
    return walked


def moves(by_day):
    """
    ``(Release(day, holding), {group: [completers, activated, responded, late changes]})`` at each
    day the figures move to, from the unseen windows' rows by closing day (``_closing_days``; a late
    change is a row of the day it happened, and taken out of the day its window closed on).

    The days are walked in order, as the releases a viewer could have kept. The figures move to a
    day only when the windows ended since the last day they moved to pass the cell test on the
    activations and the answers of all those learners (or the totals hide themselves): until then
    the headline stays as it was, rather than giving one window's outcome away by difference. A
    group (a run, an arm, a segment value) whose windows added since its own last release would tell
    outcomes is held hidden at that move. The union of two groups that pass passes, so whatever two
    releases a viewer keeps, their difference passes too (``tests/test_figures_release.py``). A late
    change counts on the day it happened, and only among new learners: what it adds alone (a verdict
    that activates one window ended weeks ago: activated + 1, completers + 0) fails the test.
    """
    # Per group: completers, activated, responded, and late changes (``_closing_days``).
    totals, releases = defaultdict(lambda: [0, 0, 0, 0]), _Releases()
    for day in sorted(by_day):
        for row in by_day[day]:
            for group in (EVERYONE, *((field, str(row[field])) for field in CELL_FIELDS)):
                counts = totals[group]
                counts[0] += row["completers"]
                for index, outcome in enumerate(OUTCOMES, start=1):
                    counts[index] += row[outcome]
                counts[-1] += row.get("changed", 0)
        everyone = totals[EVERYONE]
        if any(releases.holds((EVERYONE, outcome), (everyone[0], everyone[index], everyone[-1]))
               for index, outcome in enumerate(OUTCOMES, start=1)):
            continue
        holding = set()
        for group, (completers, *outcomes, changed) in totals.items():
            for outcome, count in zip(OUTCOMES, outcomes):
                if releases.holds((group, outcome), (completers, count, changed)):
                    holding.add((group, outcome))
                else:
                    releases.release((group, outcome), (completers, count, changed))
        yield Release(day, frozenset(holding)), {group: list(counts) for group, counts in totals.items()}


def counted_through(definition, now, tallied, visible_runs, through, late=None):
    """
    ``tallied`` (``tallies.read`` at ``now``) with the windows the viewer cannot see that ended after
    the day ``through`` (``walk``; today's always) counted as running: the figures over ended windows
    count them once released. The Kaplan–Meier curve is unchanged: they stay censored at the
    window's end. The viewer's own runs count as they are: they see those rows anyway. One query, of
    the tally rows of the days closed since (no window is read). Nothing moves while suppression is off.
    The late changes not released yet are taken back out (``late``: ``walk``'s, read again if None).
    """
    return counted_through_many([definition], now, {definition.pk: tallied}, {definition.pk: visible_runs},
                                {definition.pk: through},
                                None if late is None else {definition.pk: late})[definition.pk]


def counted_through_many(definitions, now, tallied_of, visible_runs_of, through_of, late_of=None):
    """
    ``counted_through`` of several definitions (``{definition id: ...}`` of their tallies, visible
    runs and ``walk``'s ``through``), in one grouped query of the tally rows of the days closed since,
    whatever the number of windows (today's ended windows are ``tallied``'s ``ended_today``). A
    definition whose tallies were never built is counted from its windows ended since (one query).
    """
    if min_cell_size() <= 1:
        return dict(tallied_of)
    moving = [definition for definition in definitions
              if unseen(tallied_of[definition.pk], visible_runs_of[definition.pk]).cells]
    moved_of = dict(tallied_of)
    if not moving:
        return moved_of
    seen = {pk: {str(run) for run in runs} for pk, runs in visible_runs_of.items()}
    since = {definition.pk: None if through_of[definition.pk] is None else through_of[definition.pk] + DAY
             for definition in moving}
    built = [definition.pk for definition in moving if definition.tallies_built_at is not None]
    closed = tallies.cells_closed({pk: since[pk] for pk in built}, utc_day(now))
    for pk in built:
        closed[pk] += [dict(row) for row in tallied_of[pk].ended_today]
    closed |= _closed_windows([definition for definition in moving if definition.tallies_built_at is None],
                              now, since)
    if late_of is None:
        late_of = defaultdict(list)
        for row in _unreleased_late(moving, now, through_of):
            if row["course_run"] not in seen[row["definition_id"]]:
                late_of[row["definition_id"]].append(row)
    for definition in moving:
        moved = [cell for cell in closed[definition.pk] if str(cell["course_run"]) not in seen[definition.pk]]
        moved_of[definition.pk] = _counted_as_running(definition, tallied_of[definition.pk], moved,
                                                      late_of[definition.pk])
    return moved_of


def _closed_windows(definitions, now, since):
    """
    ``{definition id: [cell row]}`` of the windows of definitions whose tallies were never built that
    ended from the day ``since[id]`` (None: the first) to ``now``, counted from the windows (what each
    adds, stored on it or counted afresh), in one query.
    """
    if not definitions:
        return {}
    starts = defaultdict(list)
    for definition in definitions:
        starts[since[definition.pk]].append(definition.pk)
    windows = ActivationWindow.objects.filter(reduce(operator.or_, (
        Q(definition__in=pks) if start is None
        else Q(definition__in=pks, closes_at__gte=datetime.combine(start, time.min, tzinfo=dt_timezone.utc))
        for start, pks in starts.items())), closes_at__lte=now).exclude(state=ActivationWindow.State.WITHDRAWN)
    columns = [column for column in WINDOW_COLUMNS if column != "course_run"]
    rows = list(windows.annotate(run=ExpressionWrapper(F("course_run"), output_field=CharField()))
                .values(*columns, "run").order_by())
    for row in rows:
        row["course_run"] = row.pop("run")  # as text, as the tally rows read it
    _count_uncounted(rows, {definition.pk: {} for definition in definitions})
    rows_of = defaultdict(list)
    for row in rows:
        rows_of[row["definition_id"]].append(row)
    return {definition.pk: _added_up(({**row, "added": {**row["tallied"], "kpi": {}}}
                                      for row in rows_of[definition.pk]), now).cells for definition in definitions}


def _unreleased_late(definitions, now, through_of):
    """
    The late changes (``_late_rows``) of windows counted through ``through`` that happened after it
    (up to today's): not released yet, so taken back out of the figures. One query; none when no
    definition has moved yet (every ended window is counted as running then).
    """
    by_through = defaultdict(list)
    for definition in definitions:
        if through_of[definition.pk] is not None:
            by_through[through_of[definition.pk]].append(definition.pk)
    if not by_through:
        return []
    return _late_rows(LateTally.objects.filter(reduce(operator.or_, (
        Q(definition__in=pks, closes_on__lte=through, changed_on__gt=through)
        for through, pks in by_through.items())), changed_on__lte=utc_day(now)))


def _take(cells, cell, amounts):
    """
    Take ``amounts`` (``{counter: n}``; a negative one is given back whole) out of the ended
    ``cells`` of ``cell``'s run, arm and segment, in place. Returns what no ended cell held.
    """
    left = dict(amounts)
    for row in cells:
        if row["ended"] and all(str(row[field]) == str(cell[field]) for field in CELL_FIELDS):
            for counter, value in left.items():
                taken = min(value, row[counter])
                row[counter] -= taken
                left[counter] = value - taken
    return left


def _counted_as_running(definition, tallied, moved, late=()):
    """
    ``tallied`` with the ended windows of the ``moved`` cells (their counters) moved to running, and
    the ``late`` changes (``_unreleased_late``) taken back out of their ended cells and of the
    curve's activation days.
    """
    if not moved and not late:
        return tallied
    cells, days = [dict(row) for row in tallied.cells], dict(tallied.activation_days)
    for change in late:
        if change["activation_day"] >= 0:
            days[change["activation_day"]] = days.get(change["activation_day"], 0) - change["activated"]
        # Given back (a withdrawal's completer) to a cell no longer among the ended ones: a cell of its own.
        rest = _take(cells, change, {counter: change[counter] for counter in CELL_COUNTERS})
        if any(rest.values()):
            cells.append({**{field: change[field] for field in CELL_FIELDS}, "ended": True,
                          "first_opened": change["first_opened"], **{counter: -rest[counter] for counter in rest}})
    for cell in moved:
        _take(cells, cell, {counter: cell[counter] for counter in CELL_COUNTERS})
        cells.append({**cell, "ended": False})
    waiting = dict(tallied.waiting)
    waiting[definition.window_days] = (waiting.get(definition.window_days, 0)
                                       + sum(cell["completers"] - cell["activated"] for cell in moved))
    return tallied._replace(cells=[row for row in cells if row["completers"] or not row["ended"]], waiting=waiting,
                            activation_days={day: n for day, n in days.items() if n})


def read(definition, now, visible_runs=(), **options):
    """
    ``(tallied, holding)``: ``tallies.read`` at ``now`` as the figures count it for this viewer
    (``counted_through`` the day ``walk`` reached), and the groups ``walk`` holds (a ``Holding``:
    with what waits to be released).
    """
    walked = walk(definition, now, visible_runs)
    tallied = tallies.read(definition, now, **options)
    counted = counted_through(definition, now, tallied, visible_runs, walked.through, walked.late)
    return counted, Holding.of(walked, _running(counted, visible_runs) - _running(tallied, visible_runs))


def _running(tallied, visible_runs):
    """The windows outside ``visible_runs`` that ``tallied`` counts as running."""
    return sum(row["completers"] for row in unseen(tallied, visible_runs).cells if not row["ended"])


def held_values(holding, field, outcome="activated"):
    """The values of ``field`` held for ``outcome`` (``walk``'s ``holding``)."""
    return {group[1] for group, held_outcome in holding if group[0] == field and held_outcome == outcome}


def read_many(definitions, now, tallied_of, visible_runs_of, walked=None):
    """
    ``{definition id: (tallied, holding)}``: ``read`` of several definitions, from their tallies
    read already (``tallied_of``: ``tallies.read_many``'s; ``visible_runs_of``: each one's runs the
    viewer sees row by row), in two more queries whatever their number: the portfolio's.
    ``walked``: their ``walk_many`` if known already (the portfolio caches each course's).
    """
    walked = walk_many(definitions, now, visible_runs_of) if walked is None else walked
    tallied = counted_through_many(definitions, now, tallied_of, visible_runs_of,
                                   {pk: release.through for pk, release in walked.items()},
                                   {pk: release.late for pk, release in walked.items()})
    return {pk: (tallied[pk], walked[pk].holding) for pk in walked}
