"""KPI observations: the idempotent single upsert, for callers that already know the learner."""
import math
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from activation_plugin import figures
from activation_plugin.api.metric_evidence import evaluate_metric_evidence, wake_kpi_nudges
from activation_plugin.errors import (
    ActivationRequestError,
)
from activation_plugin.models import (
    MetricObservation,
)


def record_observation(*, source, metric, external_id, observed_at, value, user=None):
    """
    Upsert one KPI observation, idempotent by (source, metric, external_id, observed_at), wake
    the learner's open windows so a KPI nudge can go out on the next tick, and record metric
    evidence if it now meets a requirement. Bulk deliveries use ``ingest_observations``.

    Returns:
        tuple: (observation, created).

    Raises:
        ActivationRequestError: empty metric or id, naive time, or a non-finite value.
    """
    if not str(metric).strip() or not str(external_id).strip():
        raise ActivationRequestError("An observation needs a metric and an external id.", field="metric")
    if not isinstance(observed_at, datetime) or timezone.is_naive(observed_at):
        raise ActivationRequestError("The observation time must be timezone-aware.", field="observed_at")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ActivationRequestError("The observed value must be a finite number.", field="value")
    with transaction.atomic():
        observation, created = MetricObservation.objects.get_or_create(
            source=source, metric=str(metric).strip()[:100], external_id=str(external_id).strip()[:255],
            observed_at=observed_at, defaults={"value": float(value), "user": user},
        )
        if created:
            figures.invalidate_observations()
        if created and user is not None:
            wake_kpi_nudges([user.pk])
            evaluate_metric_evidence([user.pk])
    return observation, created
