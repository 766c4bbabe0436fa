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


def suppress_rows(rows):
    """
    Hide groups whose rate would tell individual outcomes (``reveals_outcomes``: fewer than
    ``ACTIVATION_MIN_CELL_SIZE`` eligible learners, or activated, or not activated), in place.

    A rate describes the learners whose outcome is known, so the test is on ``eligible``. The
    groups of one breakdown add up to the headline totals, so a single hidden group could be
    recomputed by subtraction: complementary suppression then also hides the next smallest group.
    Two or more hidden groups only reveal their sum, which cannot be split.
    """
    for row in rows:
        row["suppressed"] = row["completers"] > 0 and reveals_outcomes(row["eligible"], row["activated"])
    hidden = [row for row in rows if row["suppressed"]]
    # An empty group (an arm nobody was drawn into) reveals nothing and protects nothing.
    shown = [row for row in rows if not row["suppressed"] and row["completers"]]
    if len(hidden) == 1 and shown:
        min(shown, key=lambda row: (row["eligible"], row["completers"]))["suppressed"] = True
    for row in rows:
        if row["suppressed"]:
            row.update(dict.fromkeys(RATE_KEYS))
    return rows


SIGNIFICANCE = 0.05  # the complement of the 95 % intervals shown beside the p-values


def difference(baseline, other):
    """
    ``other`` minus ``baseline`` rate with an interval and a p-value that agree
    (``stats.rate_difference``: Newcombe, or exact at small counts); None-filled when either is
    hidden. ``p_adjusted`` and ``verdict`` are set by ``with_verdicts`` once the family is known.
    """
    result = None
    if not (baseline["suppressed"] or other["suppressed"]):
        result = stats.rate_difference(other["activated"], other["eligible"],
                                       baseline["activated"], baseline["eligible"])
    return {
        "difference": result.estimate if result else None,
        "ci": (result.low, result.high) if result else None,
        "p_value": result.p_value if result else None,
        "suppressed": baseline["suppressed"] or other["suppressed"],
    }


def with_verdicts(differences):
    """
    Holm-adjust the p-values of comparisons made against one baseline (several runs against the
    first: more looks, more chances of a false difference), and say what each one shows:
    ``higher``, ``lower``, or ``no_evidence`` of a difference (not "the same": absence of
    evidence), None when hidden. In place; returns the list.
    """
    shown = [row for row in differences if row["p_value"] is not None]
    for row, adjusted in zip(shown, stats.holm([row["p_value"] for row in shown])):
        row["p_adjusted"] = adjusted
        row["verdict"] = ("no_evidence" if adjusted >= SIGNIFICANCE
                          else "higher" if row["difference"] > 0 else "lower")
    for row in differences:
        row.setdefault("p_adjusted", None)
        row.setdefault("verdict", None)
    return differences
