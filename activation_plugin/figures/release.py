"""
When the figures over ended windows may move for a viewer who cannot see every run row by row
(docs/decisions/0016-suppression-and-differencing.rst, "The previous day").

A viewer who keeps yesterday's figures subtracts them from today's: what changed in between is
the windows that ended since, released as surely as a breakdown's row would be. So the learners
the viewer cannot see count as ended once the day their window closed on is over, and only when
what ended since the figures last moved passes the cell test; until then the figures stay where
they were. A run, an arm or a segment value whose part of that would tell outcomes is held hidden.
"""
from collections import defaultdict, namedtuple
from datetime import datetime, time
from datetime import timezone as dt_timezone

from django.db.models import Sum

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
from activation_plugin.models import WindowTally

EVERYONE = ("", "")
# What the figures over ended windows tell of each learner: whether they activated, and whether they answered.
OUTCOMES = ("activated", "responded")

Release = namedtuple("Release", "through holding")


def released_at(now):
    """The start of ``now``'s UTC day: a day is complete once it is over."""
    return datetime.combine(utc_day(now), time.min, tzinfo=dt_timezone.utc)


def _closing_days(definition, now, visible_runs):
    """
    ``[{"closes_on", *CELL_FIELDS, "completers", "activated", "responded"}]`` of the windows the viewer
    cannot see row by row that closed before today, by day and cell: from the tallies (one grouped
    read), or from the windows while the tallies were never built.
    """
    runs = {str(run) for run in visible_runs}
    if definition.tallies_built_at is not None:
        rows = list(WindowTally.objects.filter(definition=definition, closes_on__lt=utc_day(now))
                    .values("closes_on", *CELL_FIELDS)
                    .annotate(**{counter: Sum(counter) for counter in ("completers", *OUTCOMES)}).order_by())
    else:
        rows = []
        for row in annotated(counted_windows(definition).filter(closes_at__lt=released_at(now)), {}).order_by():
            cell = contribution(row, [])["cell"]
            rows.append({"closes_on": utc_day(row["closes_at"]), **{field: row[field] for field in CELL_FIELDS},
                         **{counter: cell.get(counter, 0) for counter in ("completers", *OUTCOMES)}})
    return [row for row in rows if str(row["course_run"]) not in runs and row["completers"]]


def _tells(completers, outcome_count):
    return completers > 0 and reveals_outcomes(completers, outcome_count)


class _Releases:
    """What a viewer has been shown of each group so far: ``(completers, outcome count)`` by ``(group, outcome)``."""

    def __init__(self):
        self.last = {}

    def holds(self, key, counts):
        """Whether releasing ``counts`` now would tell outcomes by difference with the last release."""
        before = self.last.get(key)
        return before is not None and _tells(counts[0] - before[0], counts[1] - before[1])

    def release(self, key, counts):
        if not _tells(*counts):  # a figure the cell test hides releases nothing
            self.last[key] = counts


def walk(definition, now, visible_runs=()):
    """
    ``Release(through, holding)``: the last complete day whose ended windows the figures count among
    the learners the viewer cannot see row by row (None: none), and the groups held hidden today
    (``{(group, outcome)}``, ``group`` ``EVERYONE`` or ``(field, value)`` of a cell field, ``outcome``
    one of ``OUTCOMES``): the last of ``moves``.
    """
    if min_cell_size() <= 1:
        return Release(None, frozenset())
    by_day = defaultdict(list)
    for row in _closing_days(definition, now, visible_runs):
        by_day[row["closes_on"]].append(row)
    last = Release(None, frozenset())
    for last, _totals in moves(by_day):
        pass
    return last


def moves(by_day):
    """
    ``(Release(day, holding), {group: [completers, activated, responded]})`` at each day the figures
    move to, from the unseen windows' rows by closing day (``_closing_days``).

    The days are walked in order, as the releases a viewer could have kept. The figures move to a
    day only when the windows ended since the last day they moved to pass the cell test on the
    activations and the answers of all those learners (or the totals hide themselves): until then
    the headline stays as it was, rather than giving one window's outcome away by difference. A
    group (a run, an arm, a segment value) whose windows added since its own last release would tell
    outcomes is held hidden at that move. The union of two groups that pass passes, so whatever two
    releases a viewer keeps, their difference passes too (``tests/test_figures_release.py``).
    """
    totals, releases = defaultdict(lambda: [0, 0, 0]), _Releases()
    for day in sorted(by_day):
        for row in by_day[day]:
            for group in (EVERYONE, *((field, str(row[field])) for field in CELL_FIELDS)):
                counts = totals[group]
                counts[0] += row["completers"]
                for index, outcome in enumerate(OUTCOMES, start=1):
                    counts[index] += row[outcome]
        everyone = totals[EVERYONE]
        if any(releases.holds((EVERYONE, outcome), (everyone[0], everyone[index]))
               for index, outcome in enumerate(OUTCOMES, start=1)):
            continue
        holding = set()
        for group, (completers, *outcomes) in totals.items():
            for outcome, count in zip(OUTCOMES, outcomes):
                if releases.holds((group, outcome), (completers, count)):
                    holding.add((group, outcome))
                else:
                    releases.release((group, outcome), (completers, count))
        yield Release(day, frozenset(holding)), {group: list(counts) for group, counts in totals.items()}


def counted_through(definition, now, tallied, visible_runs, through):
    """
    ``tallied`` (``tallies.read`` at ``now``) with the windows the viewer cannot see that ended after
    the day ``through`` (``walk``; today's always) counted as running: the figures over ended windows
    count them once released. The Kaplan–Meier curve is unchanged: they stay censored at the
    window's end. The viewer's own runs count as they are: they see those rows anyway. One query, of
    the windows ended since (what each adds is stored on it). Nothing moves while suppression is off.
    """
    if min_cell_size() <= 1 or not unseen(tallied, visible_runs).cells:
        return tallied
    windows = counted_windows(definition).filter(closes_at__lte=now)
    if through is not None:
        windows = windows.filter(closes_at__gte=datetime.combine(through, time.min, tzinfo=dt_timezone.utc) + DAY)
    runs = {str(run) for run in visible_runs}
    rows = [row for row in windows.values(*WINDOW_COLUMNS).order_by() if str(row["course_run"]) not in runs]
    _count_uncounted(rows, {definition.pk: {}})  # what each window adds is stored on it, as the tallies read it
    moved = _added_up(({**row, "added": {**row["tallied"], "kpi": {}}} for row in rows), now).cells
    if not moved:
        return tallied
    cells = [dict(row) for row in tallied.cells]
    for cell in moved:
        left = {counter: cell[counter] for counter in CELL_COUNTERS}
        for row in cells:
            if row["ended"] and all(str(row[field]) == str(cell[field]) for field in CELL_FIELDS):
                for counter, value in left.items():
                    taken = min(value, row[counter])
                    row[counter] -= taken
                    left[counter] = value - taken
        cells.append({**cell, "ended": False})
    waiting = dict(tallied.waiting)
    waiting[definition.window_days] = (waiting.get(definition.window_days, 0)
                                       + sum(cell["completers"] - cell["activated"] for cell in moved))
    return tallied._replace(cells=[row for row in cells if row["completers"] or not row["ended"]], waiting=waiting)


def read(definition, now, visible_runs=(), **options):
    """
    ``(tallied, holding)``: ``tallies.read`` at ``now`` as the figures count it for this viewer
    (``counted_through`` the day ``walk`` reached), and the groups ``walk`` holds.
    """
    through, holding = walk(definition, now, visible_runs)
    return counted_through(definition, now, tallies.read(definition, now, **options), visible_runs, through), holding


def held_values(holding, field, outcome="activated"):
    """The values of ``field`` held for ``outcome`` (``walk``'s ``holding``)."""
    return {group[1] for group, held_outcome in holding if group[0] == field and held_outcome == outcome}
