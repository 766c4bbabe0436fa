"""Can the figures be trusted? Response rate, review backlog, KPI identity and timestamp problems, failing sources."""
import operator
from datetime import timedelta
from functools import reduce

from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils import timezone

from activation_plugin.figures import headline
from activation_plugin.figures.base import counted_evidence, counted_windows, min_cell_size
from activation_plugin.figures.kpi import metric_baselines
from activation_plugin.models import ActivationWindow, Evidence, MetricObservation, MetricSource

# ``MetricSource.last_status`` is free text written by the connectors; these values mean the last run failed.
FAILING_STATUSES = ("error", "failed", "failing")


def _outside_every_window(windows, metric, baseline_days):
    """An observation of a learner of this definition that no figure uses: not in their baseline or window."""
    observed = OuterRef("observed_at")
    used = windows.filter(
        user=OuterRef("user_id"), closes_at__gte=observed,
        opened_at__lte=ExpressionWrapper(observed + timedelta(days=baseline_days), output_field=DateTimeField()))
    return Q(metric=metric) & Exists(windows.filter(user=OuterRef("user_id"))) & ~Exists(used)


def data_quality(definition, now=None, funnel_counts=None):
    """
    The figures that tell whether the others can be trusted.

    ``response_rate`` is the share of prompted-arm completers with any evidence that was not
    rejected (None below ``ACTIVATION_MIN_CELL_SIZE`` of them). Observation checks cover the
    metrics the definition's KPI requirements use: ``unmatched_identities`` counts distinct
    external ids with no learner linked (whatever the course: they could be anyone's),
    ``future_observations`` timestamps after now, ``observations_outside_windows`` observations
    of this definition's learners that fall in neither their baseline period nor their window.
    ``failing_sources`` lists every KPI source whose last run failed (``last_status`` in
    ``FAILING_STATUSES``), whatever metric it feeds: a source that never delivered could not be
    tied to a metric.

    Args:
        funnel_counts: :func:`~activation_plugin.figures.headline.funnel_counts` when the caller
            has them already (``analytics``), which saves the query that counts responses.

    Returns:
        dict: prompted, responded, response_rate, awaiting_review, metrics, unmatched_identities,
        future_observations, observations_outside_windows, failing_sources
        (``[{"name", "last_status", "last_error", "last_run_at"}]``).
    """
    now = now or timezone.now()
    windows = counted_windows(definition)
    baselines = metric_baselines(definition)
    prompted_arm = (funnel_counts or headline.funnel_counts(definition, now))[ActivationWindow.Arm.PROMPTED]
    response = {"prompted": prompted_arm["completed"], "responded": prompted_arm["responded"]}
    hidden = 0 < response["prompted"] < min_cell_size()
    observation_counts = {"unmatched_identities": 0, "future_observations": 0, "observations_outside_windows": 0}
    if baselines:
        outside = reduce(operator.or_, (_outside_every_window(windows, metric, baseline_days)
                                        for metric, baseline_days in baselines.items()))
        observation_counts = MetricObservation.objects.filter(metric__in=list(baselines)).aggregate(
            unmatched_identities=Count("external_id", distinct=True, filter=Q(user__isnull=True)),
            future_observations=Count("pk", filter=Q(observed_at__gt=now)),
            observations_outside_windows=Count("pk", filter=outside),
        )
    return {
        "prompted": None if hidden else response["prompted"],
        "responded": None if hidden else response["responded"],
        "response_rate": None if hidden or not response["prompted"] else response["responded"] / response["prompted"],
        "awaiting_review": counted_evidence(definition).filter(status=Evidence.Status.SUBMITTED).count(),
        "metrics": list(baselines),
        **observation_counts,
        "failing_sources": list(MetricSource.objects.filter(last_status__in=FAILING_STATUSES).order_by("name")
                                .values("name", "last_status", "last_error", "last_run_at")),
    }
