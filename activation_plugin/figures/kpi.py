"""
Business results: KPI change of activated vs not activated learners, difference-in-differences
of prompted vs holdout, and return on investment.

A learner's KPI *delta* is the mean of their observations inside the window (from opening to its
end; observations are never dated in the future, ``clean_observation`` refuses them) minus the mean
over the ``baseline_days`` before it opened. Each window's delta is kept in the KPI tallies as
sums (count, delta, its square, the two means) per metric, arm, outcome and closing day, so a
group's mean and sample variance are read from a few rows whatever the number of learners.
"""
import math

from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import stats
from activation_plugin.errors import ActivationRequestError
from activation_plugin.figures import tallies
from activation_plugin.figures.base import cells, min_cell_size
from activation_plugin.figures.comparisons import arms_from_cells
from activation_plugin.figures.tallies import DEFAULT_BASELINE_DAYS, metric_baselines
from activation_plugin.models import ActivationWindow


def group_figures(rows):
    """``{"n", "mean_delta", "variance", "pre_mean", "post_mean"}`` of a group, from its tallied sums."""
    n = sum(row["measured"] for row in rows)
    if not n:
        return {"n": 0, "mean_delta": None, "variance": None, "pre_mean": None, "post_mean": None}
    total, squares = sum(row["sum_delta"] for row in rows), sum(row["sum_delta_squares"] for row in rows)
    return {"n": n, "mean_delta": total / n,
            # Sample variance from the sums; never below 0, which rounding could otherwise give.
            "variance": max(squares - total * total / n, 0.0) / (n - 1) if n > 1 else None,
            "pre_mean": sum(row["sum_pre"] for row in rows) / n, "post_mean": sum(row["sum_post"] for row in rows) / n}


# Both outcome groups are of ended windows: a running window's outcome is not known yet (issue 26).
OUTCOME_GROUPS = {"activated": lambda row: row["activated"] and row["ended"],
                  "not_activated": lambda row: not row["activated"] and row["ended"]}
ARM_GROUPS = {"treated": lambda row: row["arm"] == ActivationWindow.Arm.PROMPTED,
              "comparison": lambda row: row["arm"] == ActivationWindow.Arm.HOLDOUT}


def _delta_groups(kpi_rows, metric, groups):
    """``{name: {"n", "mean_delta", "variance", "pre_mean", "post_mean"}}`` per ``{name: row test}``."""
    rows = [row for row in kpi_rows if row["metric"] == metric]
    return {name: group_figures([row for row in rows if belongs(row)]) for name, belongs in groups.items()}


def _kpi_tallies(definition, metric, now):
    """
    ``(baseline_days, kpi rows)`` for one metric: from the tallies when the definition's KPI
    requirements use it, else counted from the windows with the default baseline (an API caller
    asking about a metric the definition does not name).
    """
    baselines = metric_baselines(definition)
    if metric in baselines:
        return baselines[metric], tallies.read(definition, now).kpi
    windows = ActivationWindow.objects.filter(definition=definition)
    return DEFAULT_BASELINE_DAYS, tallies.counted_from_windows(windows, {metric: DEFAULT_BASELINE_DAYS}, now).kpi


def welch_groups(first, second, hidden=False):
    """
    ``first`` minus ``second`` mean delta, Welch interval; hidden when a group is below the cell
    size, or when the caller says the split itself would tell a hidden figure (``hidden``).
    """
    minimum = min_cell_size()
    suppressed = hidden or first["n"] < minimum or second["n"] < minimum
    result = None if suppressed else stats.welch_difference(
        first["mean_delta"], first["variance"] or 0.0, first["n"],
        second["mean_delta"], second["variance"] or 0.0, second["n"])
    for group in (first, second):
        group.pop("variance")
        if suppressed:
            group.update(dict.fromkeys(group))
    return {"estimate": result.estimate if result else None, "ci": (result.low, result.high) if result else None,
            "p_value": result.p_value if result else None, "suppressed": suppressed}


def kpi_deltas(definition, metric=None, now=None):
    """
    KPI change of activated learners vs learners whose window closed without activating (open
    windows are left out: their outcome is not known yet), with a Welch 95 % interval. Only
    learners with observations both before and inside their window count.

    Args:
        metric: one metric name; by default every metric the definition's KPI requirements use,
            each with its requirement's ``baseline_days`` (30 for a metric no requirement names).

    Returns:
        list: per metric ``{"metric", "baseline_days", "activated": {"n", "mean_delta",
        "pre_mean", "post_mean"}, "not_activated": {...}, "difference", "ci", "p_value",
        "suppressed"}``; groups below ``ACTIVATION_MIN_CELL_SIZE`` learners hide both groups.
    """
    now = now or timezone.now()
    if metric is not None:
        baseline_days, rows = _kpi_tallies(definition, metric, now)
        return [_kpi_row(metric, baseline_days, _delta_groups(rows, metric, OUTCOME_GROUPS))]
    return kpi_figures(definition, now, with_did=False)[0]


def _kpi_row(metric, baseline_days, groups, hidden=False):
    result = welch_groups(groups["activated"], groups["not_activated"], hidden)
    return {"metric": metric, "baseline_days": baseline_days, "activated": groups["activated"],
            "not_activated": groups["not_activated"], "difference": result.pop("estimate"), **result}


def _did_row(metric, baseline_days, groups, hidden=False):
    result = welch_groups(groups["treated"], groups["comparison"], hidden)
    return {"metric": metric, "baseline_days": baseline_days, "effect_of": "follow_up", "design": "randomised",
            "estimator": "mean_over_complete_pairs",
            "treated": {"arm": ActivationWindow.Arm.PROMPTED.value, **groups["treated"]},
            "comparison": {"arm": ActivationWindow.Arm.HOLDOUT.value, **groups["comparison"]}, **result}


def kpi_figures(definition, now, with_did, tallied=None, baselines=None, hidden=(), unseen_learners=False):
    """
    What ``analytics`` shows: :func:`kpi_deltas` and (``with_did``) :func:`difference_in_differences`
    of every metric the definition uses, all added up from the definition's KPI tallies.

    Args:
        baselines: ``metric_baselines(definition)``, when the caller has read them already.
        hidden: ``"outcomes"`` when the viewer's rate is hidden, ``"arms"`` when their arms are: the
            measured learners' counts by outcome (or arm), minus the viewer's own, would give the
            hidden split back (the KPI tallies are not kept by run, so their own part cannot be
            tested apart; docs/decisions/0016-suppression-and-differencing.rst).
        unseen_learners: the viewer cannot see every learner row by row (``base.unseen`` is not
            empty). Both splits are then hidden while suppression is on (``partial_view``): their
            groups gain a measured learner the day a window ends (or a running one is measured), so
            the day after minus the day before is that learner's change and outcome, and the tallies,
            kept neither by run nor by release, cannot leave the unseen learners out until their
            windows are released.

    Returns:
        tuple: (kpi rows, did rows), each with ``partial_view``.
    """
    baselines = metric_baselines(definition) if baselines is None else baselines
    if not baselines:
        return [], []
    rows = (tallied or tallies.read(definition, now)).kpi
    partial_view = unseen_learners and min_cell_size() > 1
    kpi, did = [], []
    for name, baseline_days in baselines.items():
        groups = _delta_groups(rows, name, {**OUTCOME_GROUPS, **(ARM_GROUPS if with_did else {})})
        kpi.append({**_kpi_row(name, baseline_days, groups, partial_view or "outcomes" in hidden),
                    "partial_view": partial_view})
        if with_did:
            did.append({**_did_row(name, baseline_days, groups, partial_view or "arms" in hidden),
                        "partial_view": partial_view})
    return kpi, did


def difference_in_differences(definition, metric, now=None):
    """
    The follow-up's effect on a KPI (the prompts', not the course's: holdout learners took the
    course too), net of the trend every completer shares: the prompted arm's mean delta minus the
    holdout arm's (both randomised, so the holdout is the counterfactual trend).

    Pre period: the metric's ``baseline_days`` before each learner's window opened; post period:
    the window itself, up to now while open. The estimate is the mean over complete pairs:
    per-learner deltas of the learners observed in both periods (Welch interval on the two arms'
    deltas), which with missing baselines differs from the 2×2 difference of four period means
    over everyone observed in a period. The course's own effect is
    :func:`~activation_plugin.figures.course_effect.course_effect`.

    Returns:
        dict: ``{"metric", "baseline_days", "effect_of": "follow_up", "design": "randomised",
        "estimator": "mean_over_complete_pairs", "treated": {"arm": "prompted", "n",
        "mean_delta", "pre_mean", "post_mean"}, "comparison": {"arm": "holdout", ...},
        "estimate", "ci", "p_value", "suppressed"}``; everything None and ``suppressed`` when an
        arm has fewer than ``ACTIVATION_MIN_CELL_SIZE`` measured learners (always so without a
        holdout).
    """
    baseline_days, rows = _kpi_tallies(definition, metric, now or timezone.now())
    return _did_row(metric, baseline_days, _delta_groups(rows, metric, ARM_GROUPS))


def _finite_number(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ActivationRequestError(_("Enter a number."), field=field)
    return float(value)


def _amount_range(value, field):
    """A number, or a ``(low, high)`` pair for an amount known only within a range."""
    low, high = value if isinstance(value, (tuple, list)) and len(value) == 2 else (value, value)
    low, high = _finite_number(low, field), _finite_number(high, field)
    if low > high:
        raise ActivationRequestError(_("Give the lower amount first."), field=field)
    return low, high


ROI_FIELDS = ("value_per_activation", "programme_cost")
ROI_OF = ("course", "follow_up")


def roi_amounts(params):
    """
    ``(value, cost, of, counterfactual_share)`` for ``roi`` from a query string (the page's form,
    the REST API): each amount a number or, with ``<name>_high``, a range; ``roi_of`` (``course``
    by default, or ``follow_up``) and ``counterfactual_share`` (0 to 1, optional). None when
    neither amount is given.

    Raises:
        ActivationRequestError: an amount or share that is not a number, or only one of the two
            amounts, or an unknown ``roi_of``.
    """
    given = {name: (params.get(name) or "").strip() for name in ROI_FIELDS}
    if not any(given.values()):
        return None
    amounts = []
    for name in ROI_FIELDS:
        texts = [given[name], (params.get(f"{name}_high") or "").strip() or given[name]]
        try:
            amounts.append(tuple(float(text) for text in texts))
        except ValueError as exc:
            raise ActivationRequestError(_("Enter a number."), field=name) from exc
    share = (params.get("counterfactual_share") or "").strip()
    try:
        share = float(share) if share else None
    except ValueError as exc:
        raise ActivationRequestError(_("Enter a number."), field="counterfactual_share") from exc
    return (*amounts, (params.get("roi_of") or "course").strip(), share)


def _follow_up_activations(cell_rows):
    """``((estimate, low, high) or None, note, basis)``: prompted minus holdout rate, times prompted learners."""
    arms = arms_from_cells(cell_rows)
    if arms is None:
        return (None, _("No holdout: the follow-up's own effect is not measured, so its return cannot be."),
                "no_holdout")
    eligible = arms["arms"][1]["eligible"]
    figures = None if arms["suppressed"] or arms["ci"] is None else (
        arms["difference"] * eligible, arms["ci"][0] * eligible, arms["ci"][1] * eligible)
    return figures, _("Activations the follow-up added: prompted minus holdout rate, times prompted learners. "
                      "This is the return of the reminders, not of the course."), "holdout"


def _course_activations(cell_rows, share):
    """``((estimate, low, high) or None, note)``: activated completers (Wilson) × the share the course caused."""
    totals = {key: sum(row[key] for row in cell_rows) for key in ("completers", "activated", "open")}
    eligible = totals["completers"] - totals["open"]
    interval = stats.wilson_interval(totals["activated"], eligible)
    caused = 1.0 - (share or 0.0)
    figures = None if eligible < min_cell_size() or interval is None else (
        totals["activated"] * caused, interval[0] * eligible * caused, interval[1] * eligible * caused)
    if share is None:
        return figures, _("Every activation is credited to the course, as if nobody would have applied the skill "
                          "without it: an upper bound. State the share that would have happened anyway to lower it.")
    return figures, _("Activations credited to the course: activated completers times the %(caused)s %% you "
                      "say would not have happened without it.") % {"caused": f"{100 * caused:g}"}


def roi(definition, value_per_activation, programme_cost, of="course", counterfactual_share=None, now=None):
    """
    Return on investment, (value per activation × activations credited − cost) / cost, of the course
    or of its follow-up, with the activations' 95 % interval carried through, and with the value and
    the cost as ranges when they are only known within one (a number is taken as exact).

    ``of="course"``: the course's activations, times one minus ``counterfactual_share`` (the share
    of them the instructor says would have happened without the course); without it every
    activation is credited to the course, an upper bound, flagged as such. ``of="follow_up"``: the
    activations the prompts added, (prompted − holdout rate) × prompted eligible learners, which
    needs a holdout. The cost asked for is then the follow-up's, not the programme's.

    With exact amounts the interval is the activations' 95 % interval mapped through
    (``interval_kind`` ``ci95``). With ranges it spans every combination of the ranges' ends with
    that interval's (``worst_case``): wider than any 95 % interval, and labelled as such, since no
    distribution of the amounts within their ranges is known.

    Args:
        value_per_activation, programme_cost: a number, or ``(low, high)``.

    Returns:
        dict: roi, roi_interval, interval_kind, effect_of (``course`` or ``follow_up``),
        incremental_activations, incremental_ci, value_range, cost_range, amounts_exact,
        counterfactual_share, basis (``holdout``, ``no_holdout``, ``counterfactual_share`` or
        ``all_activations``), upper_bound, note, suppressed (then the figures are None).

    Raises:
        ActivationRequestError: a value that is not a finite number, a range given high first, a
            negative value per activation, a cost that is not positive, an unknown ``of``, or a
            share outside [0, 1].
    """
    value = _amount_range(value_per_activation, "value_per_activation")
    cost = _amount_range(programme_cost, "programme_cost")
    if value[0] < 0:
        raise ActivationRequestError(_("The value per activated learner cannot be negative."),
                                     field="value_per_activation")
    if cost[0] <= 0:
        raise ActivationRequestError(_("The programme cost must be more than zero."), field="programme_cost")
    if of not in ROI_OF:
        raise ActivationRequestError(_("Choose the return of the course or of the follow-up."), field="roi_of")
    if counterfactual_share is not None and not 0.0 <= _finite_number(counterfactual_share,
                                                                      "counterfactual_share") <= 1.0:
        raise ActivationRequestError(_("Enter a share between 0 and 1."), field="counterfactual_share")
    cell_rows = cells(definition, now or timezone.now())
    if of == "follow_up":
        figures, note, basis = _follow_up_activations(cell_rows)
    else:
        figures, note = _course_activations(cell_rows, counterfactual_share)
        basis = "all_activations" if counterfactual_share is None else "counterfactual_share"
    amounts_exact = value[0] == value[1] and cost[0] == cost[1]
    result = stats.roi(value, figures, cost) if figures else None
    return {
        "roi": result[0] if result else None, "roi_interval": result[1:] if result else None,
        "interval_kind": "ci95" if amounts_exact else "worst_case", "effect_of": of,
        "incremental_activations": figures[0] if figures else None,
        "incremental_ci": figures[1:] if figures else None,
        "value_range": value, "cost_range": cost, "amounts_exact": amounts_exact,
        "counterfactual_share": counterfactual_share, "basis": basis, "upper_bound": basis == "all_activations",
        "note": note, "suppressed": figures is None,
    }
