"""
Metric evidence: a learner's own KPI observations meeting a ``metric`` requirement's threshold.

For a window, the observations of the requirement's metric inside the window are read in time
order; at each one, the mean over the trailing ``period_days`` (or since the window opened)
is compared with the threshold — an absolute value, or with ``relative`` a change against the
mean of the ``baseline_days`` before the window opened (``-0.1``: 10 % lower). The first
observation at which it holds becomes verified evidence (strength ``kpi``) dated at that
observation, with an idempotency key derived from it, so re-ingesting changes nothing.
"""
from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from activation_plugin.api.evidence import record_evidence
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    FollowUpPrompt,
    MetricObservation,
)

USER_BATCH = 500


def wake_kpi_nudges(user_ids, now=None):
    """Bring forward the next action of open, prompted windows that have a KPI nudge, so the tick sends it."""
    now = now or timezone.now()
    user_ids = list(user_ids)
    for start in range(0, len(user_ids), USER_BATCH):
        ActivationWindow.objects.filter(
            user_id__in=user_ids[start:start + USER_BATCH], state=ActivationWindow.State.OPEN,
            arm=ActivationWindow.Arm.PROMPTED,
            definition__requirements__prompts__condition=FollowUpPrompt.Condition.METRIC_OBSERVED,
        ).update(next_action_at=now)


def _met(config, mean, baseline):
    if config["relative"]:
        if not baseline:
            return False
        change = (mean - baseline) / abs(baseline)
    else:
        change = mean
    return change <= config["threshold"] if config["direction"] == "lower" else change >= config["threshold"]


def first_met(config, window, observations):
    """
    ``(observation pk, observed_at, mean, baseline)`` for the first observation at which the
    requirement holds, or None. ``observations``: ``(pk, observed_at, value)`` of the learner's metric, time-ordered.
    """
    opened, closes = window.opened_at, window.closes_at
    baseline_from = opened - timedelta(days=config["baseline_days"])
    before = [value for _pk, at, value in observations if baseline_from <= at < opened]
    baseline = sum(before) / len(before) if before else None
    if config["relative"] and baseline is None:
        return None
    period = timedelta(days=config["period_days"]) if config.get("period_days") else None
    inside = [(pk, at, value) for pk, at, value in observations if opened <= at <= closes]
    for index, (pk, at, _value) in enumerate(inside):
        since = max(opened, at - period) if period else opened
        values = [value for _pk, moment, value in inside[:index + 1] if moment >= since]
        if len(values) < config.get("min_observations", 1):
            continue
        mean = sum(values) / len(values)
        if _met(config, mean, baseline):
            return pk, at, mean, baseline
    return None


def evaluate_metric_evidence(user_ids):
    """
    Record metric evidence for these learners' windows (open, or closed but not yet activated:
    data often arrives late) where their observations now meet a metric requirement. In batches
    of learners: three queries per batch plus one write per new piece of evidence.

    Returns:
        int: evidence recorded.
    """
    requirements = list(EvidenceRequirement.objects.filter(
        kind=EvidenceRequirement.Kind.METRIC, definition__status=ActivationDefinition.Status.ACTIVE,
    ))
    if not requirements:
        return 0
    by_definition = defaultdict(list)
    for requirement in requirements:
        by_definition[requirement.definition_id].append(requirement)
    metrics = {requirement.config["metric"] for requirement in requirements}
    longest_baseline = max(requirement.config.get("baseline_days", 30) for requirement in requirements)
    user_ids = sorted(user_ids)
    recorded = 0
    for start in range(0, len(user_ids), USER_BATCH):
        recorded += _evaluate_batch(user_ids[start:start + USER_BATCH], by_definition, metrics, longest_baseline)
    return recorded


def _evaluate_batch(user_ids, by_definition, metrics, longest_baseline):
    """
    One batch of learners: three reads (their windows, the evidence already recorded, their
    observations), however many windows they have.
    """
    windows = list(ActivationWindow.objects.filter(
        user_id__in=user_ids, definition_id__in=by_definition,
        state__in=[ActivationWindow.State.OPEN, ActivationWindow.State.EXPIRED],
    ))
    if not windows:
        return 0
    done = set(Evidence.objects.filter(
        window__in=windows, source=Evidence.Source.METRIC, status=Evidence.Status.VERIFIED,
    ).values_list("window_id", "requirement_id"))
    earliest = min(window.opened_at for window in windows) - timedelta(days=longest_baseline)
    latest = max(window.closes_at for window in windows)
    series = defaultdict(list)
    for user_id, metric, pk, observed_at, value in MetricObservation.objects.filter(
            user_id__in=user_ids, metric__in=metrics, observed_at__gte=earliest, observed_at__lte=latest,
    ).order_by("observed_at", "pk").values_list("user_id", "metric", "pk", "observed_at", "value"):
        series[user_id, metric].append((pk, observed_at, value))
    recorded = 0
    for window in windows:
        for requirement in by_definition[window.definition_id]:
            if (window.pk, requirement.pk) in done:
                continue
            config = requirement.config
            found = first_met(config, window, series.get((window.user_id, config["metric"]), []))
            if found is None:
                continue
            pk, observed_at, mean, baseline = found
            record_evidence(
                window=window, requirement=requirement, source=Evidence.Source.METRIC, submitted_at=observed_at,
                idempotency_key=f"metric:{window.pk}:{requirement.pk}:{pk}",
                payload={"value": mean, "metric": config["metric"], "observation": pk, "baseline": baseline},
            )
            recorded += 1
    return recorded
