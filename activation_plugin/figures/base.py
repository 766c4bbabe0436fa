"""
What every figure shares: which windows and evidence count, the one grouped query the breakdowns
are rolled up from, and small-cell suppression.

Withdrawn windows and rejected evidence never count, in any figure or export.
"""
from django.conf import settings
from django.db.models import Q

from activation_plugin import stats
from activation_plugin.figures import tallies
from activation_plugin.figures.tallies import CELL_FIELDS
from activation_plugin.models import ActivationWindow, Evidence

ACTIVATED = Q(state=ActivationWindow.State.ACTIVATED)


def counted_windows(definition):
    return ActivationWindow.objects.filter(definition=definition).exclude(state=ActivationWindow.State.WITHDRAWN)


def counted_evidence(definition):
    return (Evidence.objects.filter(window__definition=definition)
            .exclude(window__state=ActivationWindow.State.WITHDRAWN).exclude(status=Evidence.Status.REJECTED))


def ended(now):
    """The whole window has elapsed (even before the tick marks it expired)."""
    return Q(closes_at__lte=now)


def min_cell_size():
    return settings.ACTIVATION_MIN_CELL_SIZE


def cells(definition, now, tallied=None):
    """
    Counts per combination of run, arm and segment, from the definition's tallies
    (``tallies.read``): runs, arms and every segment dimension are rolled up from them, so adding a
    breakdown adds no query. ``open`` counts windows still running, ``activated`` those that
    activated among the windows that ended: one censoring rule for every rate. ``first_opened`` is
    the first window opened in the cell, withdrawn or not (a run started when its first learner
    completed it, whatever they decided later).
    """
    tallied = tallied or tallies.read(definition, now, with_kpi=False)
    groups = {}
    for row in tallied.cells:
        group = groups.setdefault(tuple(row[field] for field in CELL_FIELDS), {
            **{field: row[field] for field in CELL_FIELDS}, "completers": 0, "activated": 0, "open": 0,
            "first_opened": row["first_opened"]})
        group["completers"] += row["completers"]
        if row["ended"]:
            group["activated"] += row["activated"]
        else:
            group["open"] += row["completers"]
        group["first_opened"] = min(group["first_opened"], row["first_opened"])
    return [group for group in groups.values() if group["completers"]]


def roll_up(cell_rows, field):
    """``{value: {completers, activated, open, first_opened}}`` summed over the other dimensions."""
    groups = {}
    for row in cell_rows:
        group = groups.setdefault(row[field], {"completers": 0, "activated": 0, "open": 0,
                                               "first_opened": row["first_opened"]})
        for key in ("completers", "activated", "open"):
            group[key] += row[key]
        group["first_opened"] = min(group["first_opened"], row["first_opened"])
    return groups


def reveals_outcomes(total, activated):
    """
    Whether ``activated`` of ``total`` tells too much about individual learners: fewer than
    ``ACTIVATION_MIN_CELL_SIZE`` learners in the group, or on either side of the outcome (0 of 20
    tells each learner's outcome as surely as 3 of 3). A minimum of 1 turns suppression off.
    """
    minimum = min_cell_size()
    return minimum > 1 and (total < minimum or activated < minimum or total - activated < minimum)


def rate_row(completers, activated, open_count):
    """A group's activation rate over the windows that closed or activated (open ones are censored)."""
    eligible = completers - open_count
    return {"completers": completers, "eligible": eligible, "activated": activated,
            "rate": activated / eligible if eligible else None,
            "rate_ci": stats.wilson_interval(activated, eligible)}


RATE_KEYS = ("completers", "eligible", "activated", "rate", "rate_ci")


def unseen(tallied, visible_runs):
    """
    The part of ``tallied`` (``tallies.read``) the viewer cannot see row by row: the cells of the
    runs outside ``visible_runs``, the runs whose windows CSV the viewer can download
    (docs/decisions/0005-honest-figures.rst, "Differencing"). A figure is compared with its own
    value over this part: the viewer knows the rest learner by learner, so releasing the figure
    releases exactly this part, and it is this part that must not tell outcomes.
    """
    runs = {str(run) for run in visible_runs}
    return tallied._replace(cells=[row for row in tallied.cells if str(row["course_run"]) not in runs])


def seen_or_released(tallied, visible_runs):
    """
    ``tallied`` (``release.read``'s) over the learners the viewer sees row by row and the others'
    windows counted as ended (released), without the others' running windows: their activations and
    answers so far move from one day to the next by one learner, which tomorrow's figures minus
    today's would tell (docs/decisions/0016-suppression-and-differencing.rst, "The previous day").
    ``release.read`` counts an unseen window that ended since its last move as running, so it is
    left out too. Only the cells: the curve's days are ``headline``'s. Nothing is left out while
    suppression is off.
    """
    if min_cell_size() <= 1:
        return tallied
    runs = {str(run) for run in visible_runs}
    return tallied._replace(cells=[row for row in tallied.cells if row["ended"] or str(row["course_run"]) in runs])


def suppress_rows(rows, unseen_rows=None, whole_dimension=False, held=None):
    """
    Hide groups whose rate would tell individual outcomes (``reveals_outcomes``: fewer than
    ``ACTIVATION_MIN_CELL_SIZE`` eligible learners, or activated, or not activated), in place.

    ``unseen_rows`` are the same groups over the learners the viewer cannot see row by row (``unseen``),
    in the same order; without them the viewer sees none. A group is tested on its unseen part, since
    the viewer subtracts what they see: a group with none is never hidden, one with some is hidden
    when that part tells outcomes. A rate describes the learners whose outcome is known, so the test is
    on ``eligible``. The groups of one breakdown add up to the headline totals, so a single hidden
    group could be recomputed by subtraction: complementary suppression then also hides the next
    smallest group with an unseen part (hiding one the viewer sees would protect nothing). Two or more
    hidden groups only reveal their sum. ``whole_dimension`` hides every group once one is hidden: two
    breakdowns of the same learners (enrollment mode and cohort) each hiding two groups can still give
    a hidden one back when combined, and a breakdown shown whole or not at all cannot. ``held``: a
    flag per row, hidden today whatever its counts (``release.walk``: what changed since yesterday
    would tell outcomes), before the complementary cell is chosen.
    """
    unseen_rows = rows if unseen_rows is None else unseen_rows
    held = held or [False] * len(rows)
    for row, part, is_held in zip(rows, unseen_rows, held, strict=True):
        row["suppressed"] = part["completers"] > 0 and (is_held or reveals_outcomes(part["eligible"],
                                                                                    part["activated"]))
    hidden = [row for row in rows if row["suppressed"]]
    # An empty group (an arm nobody was drawn into) reveals nothing and protects nothing.
    shown = [(part["eligible"], part["completers"], index) for index, (row, part) in
             enumerate(zip(rows, unseen_rows)) if not row["suppressed"] and part["completers"]]
    if hidden and whole_dimension:
        for row in rows:
            row["suppressed"] = True
    elif len(hidden) == 1 and shown:
        rows[min(shown)[2]]["suppressed"] = True
    for row in rows:
        if row["suppressed"]:
            row.update(dict.fromkeys(RATE_KEYS))
    return rows


SIGNIFICANCE = 0.05  # the verdicts' level: one comparison gets a 95 % interval


def compared(baseline, others):
    """
    Each of ``others`` minus ``baseline``, as a family: its rate difference with an interval and a
    p-value that agree (``stats.rate_difference``: Newcombe, or exact at small counts), and a verdict
    that the interval beside it never contradicts.

    Several comparisons with one baseline (later runs against the first) give more chances of a
    difference by chance alone, so the family is Bonferroni-adjusted: ``p_adjusted`` is
    ``family × p_value`` (at most 1), and ``ci`` is the interval at ``confidence`` = 1 − 0.05 /
    ``family``, which excludes 0 exactly when ``p_adjusted`` < 0.05. Holm's step-down would reject a
    little more often, but has no interval that agrees with it and says more than the sign
    (Strassburger & Bretz 2008). ``family`` counts the differences shown; a hidden one (a group
    suppressed or empty) is None-filled and not counted. ``verdict`` is ``higher``, ``lower`` or
    ``no_evidence`` of a difference (not "the same": absence of evidence).
    """
    def shown(other):
        return not (baseline["suppressed"] or other["suppressed"]) and baseline["eligible"] and other["eligible"]

    family = sum(1 for other in others if shown(other))
    confidence = 1.0 - SIGNIFICANCE / max(family, 1)
    rows = []
    for other in others:
        row = {"difference": None, "ci": None, "confidence": None, "p_value": None, "p_adjusted": None,
               "family": None, "verdict": None, "suppressed": baseline["suppressed"] or other["suppressed"]}
        if shown(other):
            result = stats.rate_difference(other["activated"], other["eligible"], baseline["activated"],
                                           baseline["eligible"], confidence)
            p_adjusted = min(1.0, family * result.p_value)
            row.update(difference=result.estimate, ci=(result.low, result.high), confidence=confidence,
                       p_value=result.p_value, p_adjusted=p_adjusted, family=family,
                       verdict="no_evidence" if p_adjusted >= SIGNIFICANCE
                       else "higher" if result.estimate > 0 else "lower")
        rows.append(row)
    return rows
