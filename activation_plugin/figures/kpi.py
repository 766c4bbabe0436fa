"""
Business results: KPI change of activated vs not activated learners, difference-in-differences
of prompted vs holdout, and return on investment.

A learner's KPI *delta* is the mean of their observations inside the window (from opening to its
end, or to now while it is open) minus the mean over the ``baseline_days`` before it opened.
Deltas are computed by the database (one correlated, indexed subquery per window on
``act_obs_user_metric``) and reduced there to count, mean and sample variance per group: one
query per metric, whatever the number of learners or observations.
"""
import math
from datetime import timedelta

from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    Subquery,
    Variance,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import stats
from activation_plugin.errors import ActivationRequestError
from activation_plugin.figures.base import ACTIVATED, cells, counted_windows, ended, min_cell_size
from activation_plugin.figures.comparisons import arms_from_cells
from activation_plugin.models import ActivationWindow, EvidenceRequirement, MetricObservation

DEFAULT_BASELINE_DAYS = 30


def metric_baselines(definition):
    """``{metric: baseline_days}`` of the definition's KPI requirements, in requirement order."""
    baselines = {}
    for config in definition.requirements.filter(kind=EvidenceRequirement.Kind.METRIC).values_list("config", flat=True):
        baselines.setdefault(config["metric"], config.get("baseline_days", DEFAULT_BASELINE_DAYS))
    return baselines


def _mean_between(metric, start, end, now):
    """Mean of the window's learner's ``metric`` observations with ``start <= observed_at < end``."""
    observations = (MetricObservation.objects
                    .filter(user=OuterRef("user_id"), metric=metric, observed_at__gte=start, observed_at__lt=end,
                            observed_at__lte=now)
                    .order_by().values("user").annotate(mean=Avg("value")).values("mean"))
    return Subquery(observations, output_field=FloatField())


def _delta_groups(windows, metric, baseline_days, now, groups):
    """``{name: {"n", "mean_delta", "variance", "pre_mean", "post_mean"}}`` per ``{name: Q}``, one query."""
    baseline_start = ExpressionWrapper(OuterRef("opened_at") - timedelta(days=baseline_days),
                                       output_field=DateTimeField())
    # DISTINCT (harmless: each row carries the window's pk) keeps the per-window means a derived
    # table MariaDB materialises; merged into the outer aggregates, each mean's subquery would run
    # again for every aggregate that uses it (3.5 times slower at 100,000 windows).
    with_means = windows.annotate(
        pre=_mean_between(metric, baseline_start, OuterRef("opened_at"), now),
        post=_mean_between(metric, OuterRef("opened_at"), OuterRef("closes_at"), now),
    ).distinct()
    delta = ExpressionWrapper(F("post") - F("pre"), output_field=FloatField())
    measured = Q(pre__isnull=False, post__isnull=False)
    aggregates = {}
    for name, condition in groups.items():
        where = condition & measured
        aggregates |= {f"{name}__n": Count("pk", filter=where), f"{name}__mean_delta": Avg(delta, filter=where),
                       f"{name}__variance": Variance(delta, sample=True, filter=where),
                       f"{name}__pre_mean": Avg("pre", filter=where), f"{name}__post_mean": Avg("post", filter=where)}
    totals = with_means.aggregate(**aggregates)
    return {name: {key: totals[f"{name}__{key}"] for key in ("n", "mean_delta", "variance", "pre_mean", "post_mean")}
            for name in groups}


def _welch(first, second):
    """``first`` minus ``second`` mean delta, Welch interval; hidden when a group is below the cell size."""
    minimum = min_cell_size()
    suppressed = first["n"] < minimum or second["n"] < minimum
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
    baselines = metric_baselines(definition)
    if metric is not None:
        baselines = {metric: baselines.get(metric, DEFAULT_BASELINE_DAYS)}
    windows = counted_windows(definition)
    return [_kpi_row(name, baseline_days, _delta_groups(windows, name, baseline_days, now, _outcome_groups(now)))
            for name, baseline_days in baselines.items()]


def _outcome_groups(now):
    return {"activated": ACTIVATED, "not_activated": ~ACTIVATED & ended(now)}


ARM_GROUPS = {"treated": Q(arm=ActivationWindow.Arm.PROMPTED), "comparison": Q(arm=ActivationWindow.Arm.HOLDOUT)}


def _kpi_row(metric, baseline_days, groups):
    result = _welch(groups["activated"], groups["not_activated"])
    return {"metric": metric, "baseline_days": baseline_days, "activated": groups["activated"],
            "not_activated": groups["not_activated"], "difference": result.pop("estimate"), **result}


def _did_row(metric, baseline_days, groups):
    result = _welch(groups["treated"], groups["comparison"])
    return {"metric": metric, "baseline_days": baseline_days,
            "treated": {"arm": ActivationWindow.Arm.PROMPTED.value, **groups["treated"]},
            "comparison": {"arm": ActivationWindow.Arm.HOLDOUT.value, **groups["comparison"]}, **result}


def kpi_figures(definition, now, with_did):
    """
    What ``analytics`` shows: :func:`kpi_deltas` and (``with_did``) :func:`difference_in_differences`
    of every metric the definition uses, both from one query per metric (the per-window means are
    the costly part; the four groups are only filters over them).

    Returns:
        tuple: (kpi rows, did rows).
    """
    windows = counted_windows(definition)
    kpi, did = [], []
    for name, baseline_days in metric_baselines(definition).items():
        groups = _delta_groups(windows, name, baseline_days, now,
                               {**_outcome_groups(now), **(ARM_GROUPS if with_did else {})})
        kpi.append(_kpi_row(name, baseline_days, groups))
        if with_did:
            did.append(_did_row(name, baseline_days, groups))
    return kpi, did


def difference_in_differences(definition, metric, now=None):
    """
    The prompts' effect on a KPI net of the trend every completer shares: the prompted arm's mean
    delta minus the holdout arm's (both randomised, so the holdout is the counterfactual trend).

    Pre period: the metric's ``baseline_days`` before each learner's window opened; post period:
    the window itself, up to now while open. Because each learner is observed in both periods,
    the estimate is computed from per-learner deltas (Welch interval on the two arms' deltas),
    not from four independent group means. External ids not linked to any completer are not
    used as a comparison group: nothing tells when their "post" period would start.

    Returns:
        dict: ``{"metric", "baseline_days", "treated": {"arm": "prompted", "n", "mean_delta",
        "pre_mean", "post_mean"}, "comparison": {"arm": "holdout", ...}, "estimate", "ci",
        "p_value", "suppressed"}``; everything None and ``suppressed`` when an arm has fewer
        than ``ACTIVATION_MIN_CELL_SIZE`` measured learners (always so without a holdout).
    """
    now = now or timezone.now()
    baseline_days = metric_baselines(definition).get(metric, DEFAULT_BASELINE_DAYS)
    return _did_row(metric, baseline_days,
                    _delta_groups(counted_windows(definition), metric, baseline_days, now, ARM_GROUPS))


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


def roi_amounts(params):
    """
    ``(value, cost)`` for ``roi`` from a query string (the page's form, the REST API), each a
    number or, with ``<name>_high``, a range; None when neither amount is given.

    Raises:
        ActivationRequestError: an amount that is not a number, or only one of the two.
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
    return tuple(amounts)


def roi(definition, value_per_activation, programme_cost, now=None):
    """
    Return on investment, (value per activation × incremental activations − cost) / cost, with the
    interval of the activation figure carried through, and with the value and the cost as ranges
    when they are only known within one (a number is taken as exact; ``note_exact`` says so).

    With a holdout, incremental activations = (prompted − holdout rate) × prompted eligible
    learners, with the rate difference's interval. Without one, every activation is counted as
    caused by the programme (Wilson interval × eligible): an upper bound, flagged as such.

    Args:
        value_per_activation, programme_cost: a number, or ``(low, high)``.

    Returns:
        dict: roi, roi_ci (every combination of the ranges and the activations' interval),
        incremental_activations, incremental_ci, value_range, cost_range, amounts_exact, basis
        (``holdout`` or ``all_activations``), upper_bound, note, suppressed (then the figures are None).

    Raises:
        ActivationRequestError: a value that is not a finite number, a range given high first, a
            negative value per activation, or a cost that is not positive.
    """
    value = _amount_range(value_per_activation, "value_per_activation")
    cost = _amount_range(programme_cost, "programme_cost")
    if value[0] < 0:
        raise ActivationRequestError(_("The value per activated learner cannot be negative."),
                                     field="value_per_activation")
    if cost[0] <= 0:
        raise ActivationRequestError(_("The programme cost must be more than zero."), field="programme_cost")
    cell_rows = cells(definition, now or timezone.now())
    arms = arms_from_cells(cell_rows)
    if arms is not None:
        eligible = arms["arms"][1]["eligible"]
        figures = None if arms["suppressed"] or arms["ci"] is None else (
            arms["difference"] * eligible, arms["ci"][0] * eligible, arms["ci"][1] * eligible)
        basis, note = "holdout", _("Incremental activations: prompted minus holdout rate, times prompted learners.")
    else:
        totals = {key: sum(row[key] for row in cell_rows) for key in ("completers", "activated", "open")}
        eligible = totals["completers"] - totals["open"]
        interval = stats.wilson_interval(totals["activated"], eligible)
        figures = None if eligible < min_cell_size() or interval is None else (
            totals["activated"], interval[0] * eligible, interval[1] * eligible)
        basis, note = "all_activations", _("No comparison group: every activation is credited to the programme, "
                                           "so this is an upper bound.")
    result = stats.roi(value, figures, cost) if figures else None
    return {
        "roi": result[0] if result else None, "roi_ci": result[1:] if result else None,
        "incremental_activations": figures[0] if figures else None,
        "incremental_ci": figures[1:] if figures else None,
        "value_range": value, "cost_range": cost, "amounts_exact": value[0] == value[1] and cost[0] == cost[1],
        "basis": basis, "upper_bound": arms is None, "note": note, "suppressed": figures is None,
    }
