"""One KPI observation about a learner the caller already knows: deprecated, a delivery of one."""
import warnings

from activation_plugin.api.metrics import clean_observation, ingest_observations
from activation_plugin.models import MetricObservation


def record_observation(*, source, metric, external_id, observed_at, value, user=None):
    """
    Deprecated since 2026-11 (kept so callers do not break): use ``ingest_observations``, the one
    path every observation takes. This is a strict delivery of one record, checked like every
    other (it no longer truncates what the others refuse), with ``user`` taken as the learner
    behind ``external_id``.

    Returns:
        tuple: (observation, created).

    Raises:
        ActivationRequestError: the record is invalid; nothing is stored.
    """
    warnings.warn("api.record_observation is deprecated: use api.ingest_observations", DeprecationWarning,
                  stacklevel=2)
    record = {"metric": metric, "external_id": external_id, "observed_at": observed_at, "value": value}
    metric, external_id, observed_at, _value = clean_observation(record)
    counts = ingest_observations(source, [record], strict=True,
                                 resolved={external_id: user.pk} if user is not None else None)
    observation = MetricObservation.objects.get(source=source, metric=metric, external_id=external_id,
                                                observed_at=observed_at, record_id="")
    return observation, counts["stored"] == 1
