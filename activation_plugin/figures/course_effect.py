"""
The course's effect on a KPI, observational: completers' change against that of colleagues in the
same KPI source who never took the course, over the same calendar periods.

The holdout withholds only the follow-up prompts, so prompted vs holdout measures the reminders.
KPI sources usually hold a whole team, trained or not; their untrained members show what the KPI
did anyway (seasons, new tools, a new manager) over the periods the completers were measured in.
Nobody drew who took the course at random, so the groups may differ in other ways: the result
carries its baseline comparability and is labelled observational, unless the registered plan says
the comparison group was wait-listed at random (docs/decisions/0011-course-effect.rst).

Alignment: an untrained colleague has no window of their own. Each completer's periods are
their baseline (``baseline_days`` before the window opened) and their window; completers are
grouped by the UTC day their window opened and the window's length in days, and each colleague's
baseline and window means are taken over every group's periods, weighted by the group's number of
measured completers. So the colleague is measured over the calendar periods the completers were,
in the same proportions, and a trend shared by everyone cancels out.
"""
import bisect
import math
from collections import defaultdict
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Exists, OuterRef, Q

from activation_plugin import platform
from activation_plugin.figures import tallies
from activation_plugin.figures.base import min_cell_size
from activation_plugin.figures.kpi import group_figures, welch_groups
from activation_plugin.figures.tallies import DEFAULT_BASELINE_DAYS, metric_baselines, utc_day
from activation_plugin.keys import catalog_course
from activation_plugin.models import ActivationDefinition, ActivationWindow, MetricObservation, MetricSource

PLAN_DESIGNS = {"course_waitlist": "randomised"}  # the plan's design that makes the comparison randomised


def _ended(definition, now):
    return ActivationWindow.objects.filter(definition=definition, closes_at__lte=now).exclude(
        state=ActivationWindow.State.WITHDRAWN)


def _kpi_rows(definition, metric, now, baseline_days, baselines):
    """
    The metric's KPI tally rows: from the tallies when the definition's requirements measure it
    over ``baseline_days``, else counted from the windows for this baseline (a caller asking about
    another).
    """
    if baselines.get(metric) == baseline_days:
        return tallies.read(definition, now, baselines=baselines).kpi
    windows = ActivationWindow.objects.filter(definition=definition)
    return tallies.counted_from_windows(windows, {metric: baseline_days}, now).kpi


def _periods(rows, baseline_days):
    """
    ``[(baseline start, window start, window end, weight)]``: the measured completers' periods by
    opening day and length, from their tally rows.
    """
    weights = defaultdict(int)
    for row in rows:
        weights[(row["opened_on"], row["window_days"])] += row["measured"]
    periods = []
    for (opened_on, length), weight in sorted(weights.items()):
        start = datetime.combine(opened_on, time.min, tzinfo=dt_timezone.utc)
        periods.append((start - timedelta(days=baseline_days), start, start + timedelta(days=length), weight))
    return periods


def _sources(definition, metric, now):
    """
    The KPI sources holding ``metric`` for at least one completer (an ended window of the
    definition): per source, its observations until the first one whose learner has such a window
    (a unique-key lookup each), rather than every completer's observations.
    """
    completer = _ended(definition, now).filter(user_id=OuterRef("user_id"))
    held = MetricObservation.objects.filter(source=OuterRef("pk"), metric=metric).filter(Exists(completer))
    return list(MetricSource.objects.filter(Exists(held)).values_list("pk", flat=True))


def _untrained_observations(definition, metric, periods, now):
    """
    ``{(source, external id): [(observed_at, value)]}`` of the metric in the completers' sources
    and periods, for ids linked to nobody, or to someone with no window in any run of the course
    who is not enrolled in one either (``platform.enrolled_among``).
    """
    catalog = catalog_course(definition.course_key)
    sources = _sources(definition, metric, now)
    if not sources:
        return {}
    # Every window of a run of the course is under one of the course's definitions: their learners
    # are read from the ``(definition, user)`` key alone, once, not from the windows' rows.
    definitions = ActivationDefinition.objects.filter(catalog_course=catalog).values("pk")
    learners = ActivationWindow.objects.filter(definition__in=definitions).values("user_id")
    observations = list(MetricObservation.objects.filter(
        Q(user__isnull=True) | ~Q(user__in=learners), metric=metric, source__in=sources,
        observed_at__gte=min(period[0] for period in periods), observed_at__lt=max(period[2] for period in periods),
    ).order_by("observed_at").values_list("source_id", "external_id", "user_id", "observed_at", "value"))
    enrolled = platform.enrolled_among(catalog, {row[2] for row in observations if row[2] is not None})
    people = defaultdict(list)
    for source_id, external_id, user_id, observed_at, value in observations:
        if user_id not in enrolled:
            people[(source_id, external_id)].append((observed_at, value))
    return people


def _aligned(observations, periods):
    """One colleague's ``(baseline mean, window mean)`` over the completers' periods, or None."""
    times = [observed_at for observed_at, _value in observations]
    sums = [0.0]
    for _observed_at, value in observations:
        sums.append(sums[-1] + value)

    def mean(start, end):
        first, last = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
        return (sums[last] - sums[first]) / (last - first) if last > first else None

    pre = post = weights = 0.0
    for baseline_start, start, end, weight in periods:
        before, during = mean(baseline_start, start), mean(start, end)
        if before is not None and during is not None:
            pre, post, weights = pre + weight * before, post + weight * during, weights + weight
    return (pre / weights, post / weights) if weights else None


def _completers(rows):
    """
    ``{"n", "pre_mean", "pre_sd", "post_mean", "mean_delta", "variance"}`` of the completers, from
    the sums of their tally rows (the sample variances as ``figures.kpi`` takes them).
    """
    figures = group_figures(rows)
    n, total = figures["n"], sum(row["sum_pre"] for row in rows)
    squares = sum(row["sum_pre_squares"] for row in rows)
    spread = math.sqrt(max(squares - total * total / n, 0.0) / (n - 1)) if n > 1 else None
    return {"n": n, "pre_mean": figures["pre_mean"], "pre_sd": spread, "post_mean": figures["post_mean"],
            "mean_delta": figures["mean_delta"], "variance": figures["variance"]}


def _group(pairs):
    """``{"n", "pre_mean", "pre_sd", "post_mean", "mean_delta", "variance"}`` of ``[(pre, post)]``."""
    n = len(pairs)
    if not n:
        return {"n": 0, "pre_mean": None, "pre_sd": None, "post_mean": None, "mean_delta": None, "variance": None}
    pre_mean = sum(pre for pre, _post in pairs) / n
    deltas = [post - pre for pre, post in pairs]
    mean_delta = sum(deltas) / n
    return {"n": n, "pre_mean": pre_mean,
            "pre_sd": math.sqrt(sum((pre - pre_mean) ** 2 for pre, _post in pairs) / (n - 1)) if n > 1 else None,
            "post_mean": sum(post for _pre, post in pairs) / n, "mean_delta": mean_delta,
            "variance": sum((delta - mean_delta) ** 2 for delta in deltas) / (n - 1) if n > 1 else None}


def _standardised_difference(first, second):
    """Completers' minus colleagues' baseline mean over the pooled SD (Austin 2009); None when undefined."""
    if first["pre_sd"] is None or second["pre_sd"] is None:
        return None
    spread = math.sqrt((first["pre_sd"] ** 2 + second["pre_sd"] ** 2) / 2)
    return (first["pre_mean"] - second["pre_mean"]) / spread if spread else None


def plan_design(definition):
    """``randomised`` when the registered plan says the comparison group was wait-listed at random."""
    return PLAN_DESIGNS.get((definition.comparison_plan or {}).get("design"), "observational")


def course_effect(definition, metric, now, baseline_days=None, viewer="every"):
    """
    The course's effect on ``metric``: completers' mean KPI change (ended windows, both arms,
    activated or not) minus that of untrained colleagues over the same calendar periods, with a
    Welch 95 % interval on the per-person changes and the two groups' baselines.

    Returns:
        dict: ``{"metric", "baseline_days", "effect_of": "course", "design" ("observational" or
        "randomised"), "alignment": "completers_opening_days", "completers": {"n", "pre_mean",
        "pre_sd", "post_mean", "mean_delta"}, "untrained": {...}, "standardised_difference"
        (of the baselines), "estimate", "ci", "p_value", "suppressed"}``; a group below
        ``ACTIVATION_MIN_CELL_SIZE`` hides every figure. The completers (their sums) and their
        periods (their counts by opening day and length) are read from the KPI tallies. Over every
        completer whose window ended by ``now``, as for a ``viewer`` who sees them all; the page's
        is for its viewer (:func:`course_effects`).
    """
    baselines = metric_baselines(definition)
    baseline_days = baseline_days or baselines.get(metric, DEFAULT_BASELINE_DAYS)
    return _effect(definition, metric, now, baseline_days, _kpi_rows(definition, metric, now, baseline_days, baselines),
                   viewer)


def _released(rows, now):
    """
    The measured completers' rows the course effect counts for a viewer who cannot see every one of
    them: those whose window closed on a complete day, and of those only up to the last day the
    measured completers added since the previous such day reached the minimum cell size
    (docs/decisions/0016-suppression-and-differencing.rst, "The previous day"). A viewer who kept
    yesterday's effect would otherwise subtract it from today's and get the change of the one learner
    whose window ended in between (the completers' sums and count give it exactly).
    """
    today, by_day = utc_day(now), defaultdict(list)
    for row in rows:
        closes_on = row["opened_on"] + timedelta(days=row["window_days"])
        if closes_on < today:
            by_day[closes_on].append(row)
    released, pending = [], []
    for day in sorted(by_day):
        pending += by_day[day]
        if sum(row["measured"] for row in pending) >= min_cell_size():
            released, pending = released + pending, []
    return released


def _effect(definition, metric, now, baseline_days, kpi_rows, viewer="none"):
    """
    :func:`course_effect` with the completers' KPI tally rows (``tallies.read(...).kpi``) read, for a
    ``viewer`` who sees ``every`` run's learners row by row, ``some`` or ``none``
    (:func:`course_effects`).
    """
    rows = [row for row in kpi_rows if row["metric"] == metric and row["ended"] and row["measured"]]
    if viewer != "every":
        rows = _released(rows, now)
    periods = _periods(rows, baseline_days)
    colleagues = []
    if periods:
        people = _untrained_observations(definition, metric, periods, now)
        colleagues = [pair for pair in (_aligned(observations, periods) for observations in people.values()) if pair]
    trained, untrained = _completers(rows), _group(colleagues)
    standardised = _standardised_difference(trained, untrained)
    # Staff of some runs upload and see their own learners' observations: the pooled completers minus
    # theirs would be the others', which the KPI tallies (not kept by run) cannot test apart.
    result = welch_groups(trained, untrained, hidden=viewer == "some")
    return {"metric": metric, "baseline_days": baseline_days, "effect_of": "course", "design": plan_design(definition),
            "alignment": "completers_opening_days", "completers": trained, "untrained": untrained,
            "standardised_difference": None if result["suppressed"] else standardised,
            "estimate": result.pop("estimate"), **result}


def course_effects(definition, now, baselines=None, tallied=None, viewer="none"):
    """
    :func:`course_effect` of every metric the definition's KPI requirements use (``baselines`` and
    ``tallied``, its ``tallies.read``, if read already), for a ``viewer`` who sees ``every`` run's
    learners row by row (the effect as it is), ``some`` (hidden: minus their own learners it would be
    the others') or ``none`` (an org view, a task: the completers counted only as they can be
    released, ``_released``).
    """
    baselines = metric_baselines(definition) if baselines is None else baselines
    if baselines and tallied is None:
        tallied = tallies.read(definition, now, baselines=baselines)
    return [_effect(definition, metric, now, baseline_days, tallied.kpi, viewer)
            for metric, baseline_days in baselines.items()]
