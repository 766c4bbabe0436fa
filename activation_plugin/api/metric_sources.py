"""The database side of KPI sources: their non-secret state and the outcome of each run."""
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin.errors import ActivationNotFound
from activation_plugin.models import MetricObservation, MetricSource

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000


def sync_metric_source(config):
    """
    The ``MetricSource`` row of a declared source, created or brought in line with the settings
    (kind, public mapping, schedule); never a secret or a host. Idempotent.
    """
    fields = {"kind": config.kind, "mapping": config.public_mapping(), "schedule_minutes": config.schedule_minutes}
    source, created = MetricSource.objects.get_or_create(name=config.name, defaults=fields)
    if not created and any(getattr(source, name) != value for name, value in fields.items()):
        for name, value in fields.items():
            setattr(source, name, value)
        source.save(update_fields=list(fields))
    return source


def declared_source_state(config):
    """
    The stored row of a declared source, or an unsaved one like it: pages list every declared
    source without writing on a GET (its row is created by its first pull, delivery or upload).
    """
    return MetricSource.objects.filter(name=config.name).first() or MetricSource(
        name=config.name, kind=config.kind, mapping=config.public_mapping(), schedule_minutes=config.schedule_minutes)


def metric_source(name):
    """
    A source row by name.

    Raises:
        ActivationNotFound: no such source.
    """
    source = MetricSource.objects.filter(name=name).first()
    if source is None:
        raise ActivationNotFound(_("No metric source {name}.").format(name=repr(name)), field="source")
    return source


@transaction.atomic
def finish_pull(source, *, error="", warning="", cursor=None, now=None):
    """
    Record how a run ended. A success clears the failure streak and may advance the cursor (only
    ever to data already stored); a failure keeps the cursor and, after
    ``ACTIVATION_METRIC_FAILING_AFTER`` failures in a row, marks the source failing. A ``warning``
    (a run that stored what it read but stopped before the end) is ``partial``: the cursor stays,
    and the streak neither grows nor clears. ``error`` and ``warning`` must already be free of
    secrets (``kpi.http`` builds them so).
    """
    now = now or timezone.now()
    source = MetricSource.objects.select_for_update().get(pk=source.pk)
    source.last_run_at = now
    if warning and not error:
        source.last_status = "partial"
        source.last_error = warning[:MAX_ERROR_CHARS]
    elif error:
        source.last_status = "error"
        source.last_error = error[:MAX_ERROR_CHARS]
        source.consecutive_failures += 1
        if source.consecutive_failures >= settings.ACTIVATION_METRIC_FAILING_AFTER and not source.failing:
            source.failing = True
            log.error("metric source %s is failing after %d runs in a row: %s", source.name,
                      source.consecutive_failures, source.last_error)
    else:
        source.last_status = "ok"
        source.last_error = ""
        source.last_success_at = now
        source.consecutive_failures = 0
        source.failing = False
        if cursor:
            source.cursor = cursor[:255]
    source.save()
    return source


MAX_KNOWN_METRICS = 200


def known_metrics():
    """
    The metric names observations arrived under, for the configuration page to offer: a KPI
    requirement on a name no source sends would never be met. One pass over the
    ``(metric, observed_at)`` index, bounded.
    """
    return list(MetricObservation.objects.order_by("metric").values_list("metric", flat=True)
                .distinct()[:MAX_KNOWN_METRICS])
