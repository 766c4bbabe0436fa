"""
Group against group: course run vs course run, prompted vs holdout, segment by segment. All of
them are rolled up from ``base.cells`` (one grouped query), so each costs one query on its own
and nothing extra inside ``analytics``.
"""
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin.errors import ActivationRequestError
from activation_plugin.figures import release
from activation_plugin.figures.base import cells, compared, rate_row, roll_up, suppress_rows, unseen
from activation_plugin.figures.release import held_values
from activation_plugin.models import ActivationWindow

# Segment dimensions copied onto the window when it opens. Custom attributes are not supported:
# the window stores no other attribute, and looking one up per learner would break the
# constant-query rule; a new dimension needs a window field first.
SEGMENT_DIMENSIONS = ("enrollment_mode", "org", "cohort")


EMPTY = {"completers": 0, "activated": 0, "open": 0}


def _rate_rows(groups, label):
    return [{label: value, **rate_row(group["completers"], group["activated"], group["open"])}
            for value, group in groups]


def _unseen_rows(groups, unseen_cells, field):
    """The rate rows of ``groups`` over the cells the viewer cannot see (``base.unseen``), or None: sees none."""
    if unseen_cells is None:
        return None
    parts = roll_up(unseen_cells, field)
    return _rate_rows(((value, parts.get(value, EMPTY)) for value, _group in groups), field)


def _held(groups, holding, field):
    """A flag per group: held hidden today (``release.walk``)."""
    values = held_values(holding, field)
    return [str(value) in values for value, _group in groups]


def runs_from_cells(cell_rows, unseen_cells=None, holding=frozenset()):
    """
    Runs in the order their first window opened; every later run against the first. ``unseen_cells``:
    ``base.cells`` over what the viewer cannot see row by row (``base.suppress_rows``); ``holding``:
    ``release.walk``.
    """
    groups = sorted(roll_up(cell_rows, "course_run").items(), key=lambda item: (item[1]["first_opened"], item[0]))
    runs = suppress_rows(_rate_rows(groups, "course_run"), _unseen_rows(groups, unseen_cells, "course_run"),
                         held=_held(groups, holding, "course_run"))
    return {
        "runs": runs,
        "differences": [{"baseline": runs[0]["course_run"], "other": run["course_run"], **row}
                        for run, row in zip(runs[1:], compared(runs[0], runs[1:]) if runs else [])],
    }


def compare_runs(definition, now=None, visible_runs=()):
    """
    Each course run's activation rate, and each later run minus the first with an interval, a
    p-value and a verdict that agree, Bonferroni-adjusted across the later runs (``base.compared``).
    Runs are ordered by their first window.

    Returns:
        dict: ``{"runs": [{"course_run", "completers", "eligible", "activated", "rate", "rate_ci",
        "suppressed"}], "differences": [{"baseline", "other", "difference", "ci", "confidence",
        "p_value", "p_adjusted", "family", "verdict", "suppressed"}]}``; hidden runs (see
        ``base.suppress_rows``, tested on the runs outside ``visible_runs``) carry None and so do their
        differences.
    """
    now = now or timezone.now()
    tallied, holding = release.read(definition, now, visible_runs, with_kpi=False)
    return runs_from_cells(cells(definition, now, tallied), cells(definition, now, unseen(tallied, visible_runs)),
                           holding)


def latest_run_against_previous(definition, now=None, visible_runs=()):
    """
    What a definition's pooled headline pools, and how its latest run did against the one before.

    The headline adds up every run of the catalog course; a landing page that shows only that
    figure hides whether the latest run improved. The latest run is compared with the previous one
    (not the first, as in ``compare_runs``' family): one comparison, a plain 95 % interval.

    Returns:
        dict: ``runs`` (``compare_runs``' rows, in order), ``latest`` and ``previous`` (rows, None
        when there is no such run) and ``difference`` (``base.compared``'s row with ``baseline``
        and ``other``, None with fewer than two runs).
    """
    runs = compare_runs(definition, now, visible_runs)["runs"]
    latest, previous = (runs[-1] if runs else None), (runs[-2] if len(runs) > 1 else None)
    difference = None
    if previous is not None:
        difference = {"baseline": previous["course_run"], "other": latest["course_run"],
                      **compared(previous, [latest])[0]}
    return {"runs": runs, "latest": latest, "previous": previous, "difference": difference}


def arms_from_cells(cell_rows, unseen_cells=None, holding=frozenset()):
    """``compare_arms`` from cells already read: ``analytics`` reads them once for runs, arms and segments."""
    groups = roll_up(cell_rows, "arm")
    if ActivationWindow.Arm.HOLDOUT not in groups:
        return None
    groups = [(arm, groups.get(arm, EMPTY))
              for arm in (ActivationWindow.Arm.HOLDOUT.value, ActivationWindow.Arm.PROMPTED.value)]
    arms = suppress_rows(_rate_rows(groups, "arm"), _unseen_rows(groups, unseen_cells, "arm"),
                         held=_held(groups, holding, "arm"))
    holdout, prompted = arms
    comparison = compared(holdout, [prompted])[0]
    return {"baseline": holdout["arm"], "other": prompted["arm"], **comparison, "arms": arms}


def compare_arms(definition, now=None):
    """
    Does prompting work? Prompted minus holdout activation rate (95 % interval and a p-value that
    agree, ``base.compared``): the holdout was drawn at random, so this difference is the
    prompts' effect. One comparison: ``p_adjusted`` equals ``p_value``.

    Returns:
        dict or None: None when nobody is in the holdout; else ``{"baseline": "holdout",
        "other": "prompted", "difference", "ci", "confidence", "p_value", "p_adjusted", "family", "verdict",
        "suppressed", "arms": [{"arm", "completers", "eligible", "activated", "rate", "rate_ci", "suppressed"}]}``
        (holdout first).
    """
    now = now or timezone.now()
    tallied, holding = release.read(definition, now, with_kpi=False)
    return arms_from_cells(cells(definition, now, tallied), holding=holding)


def _check_dimension(dimension):
    if dimension not in SEGMENT_DIMENSIONS:
        raise ActivationRequestError(_("Unknown segment {dimension}; use one of {dimensions}.").format(
            dimension=repr(dimension), dimensions=", ".join(SEGMENT_DIMENSIONS)), field="dimension")


def segments_from_cells(cell_rows, dimension, unseen_cells=None, holding=frozenset()):
    _check_dimension(dimension)
    groups = sorted(roll_up(cell_rows, dimension).items(), key=lambda item: (-item[1]["completers"], item[0]))
    return suppress_rows(_rate_rows(groups, "value"), _unseen_rows(groups, unseen_cells, dimension),
                         whole_dimension=True, held=_held(groups, holding, dimension))


def segments(definition, dimension, now=None):
    """
    The activation rate of each value of one segment dimension (``enrollment_mode``, ``org`` or
    ``cohort``; ``""`` is "unknown"), largest first. Groups with fewer than
    ``ACTIVATION_MIN_CELL_SIZE`` eligible learners are hidden, and with one hidden, every group of
    the dimension: two dimensions' complementary cells combined could give a hidden one back
    (``base.suppress_rows``).

    Returns:
        list: ``{"value", "completers", "eligible", "activated", "rate", "rate_ci", "suppressed"}``.

    Raises:
        ActivationRequestError: unknown dimension.
    """
    _check_dimension(dimension)
    now = now or timezone.now()
    tallied, holding = release.read(definition, now, with_kpi=False)
    return segments_from_cells(cells(definition, now, tallied), dimension, holding=holding)
