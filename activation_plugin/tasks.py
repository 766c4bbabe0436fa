"""Celery tasks; each is also a management command so operators can use cron instead."""
import logging
from datetime import datetime

from celery import shared_task

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError

log = logging.getLogger(__name__)


@shared_task(name="activation_plugin.tasks.tick", ignore_result=True)
def tick():
    """Send due prompts and reminders and expire windows whose end passed. Safe to overlap with itself."""
    result = api.tick()
    log.info("activation tick: %s", result)
    return result


@shared_task(name="activation_plugin.tasks.record_completion", ignore_result=True, bind=True,
             max_retries=None, default_retry_delay=300)
def record_completion(self, user_id, course_key, trigger, occurred_at):
    """A completion the receiver could not even store (the database was down): retried until it is."""
    try:
        api.record_completion(user_id, course_key, trigger, datetime.fromisoformat(occurred_at))
    except ActivationRequestError:
        log.warning("activation: dropped a malformed %s completion of user %s in %s", trigger, user_id, course_key)
    except Exception as exc:
        raise self.retry(exc=exc)


@shared_task(name="activation_plugin.tasks.pull_due_metric_sources", ignore_result=True)
def pull_due_metric_sources():
    """Start a pull for each KPI source whose schedule is due; each runs as its own task."""
    from activation_plugin.kpi import pull  # pylint: disable=import-outside-toplevel
    for name in pull.due_sources():
        pull_metric_source.delay(name)


@shared_task(name="activation_plugin.tasks.pull_metric_source", ignore_result=True)
def pull_metric_source(name):
    """One run of one KPI source; failures are recorded on the source, not raised."""
    from activation_plugin.kpi import pull  # pylint: disable=import-outside-toplevel
    return pull.pull(name)


@shared_task(name="activation_plugin.tasks.sweep_orphan_files", ignore_result=True)
def sweep_orphan_files():
    """Daily: files of rolled-back uploads and CSV previews never committed."""
    log.info("activation: %s orphan files deleted", api.sweep_orphan_files())


@shared_task(name="activation_plugin.tasks.backfill", ignore_result=True)
def backfill(definition_id):
    """Windows for a definition's past completers, off the request that asked for them."""
    from activation_plugin.models import ActivationDefinition  # pylint: disable=import-outside-toplevel
    definition = ActivationDefinition.objects.filter(
        pk=definition_id, status=ActivationDefinition.Status.ACTIVE).first()
    if definition is not None:
        log.info("activation backfill of definition %s: %s", definition_id, api.backfill(definition))


@shared_task(name="activation_plugin.tasks.refresh_figures", ignore_result=True)
def refresh_figures(definition_id, visible_runs=()):
    """
    Recompute a large definition's figures off the request, for the pages that showed stale ones, as
    the viewer who asked sees them (``visible_runs``: the runs they see row by row).
    """
    from activation_plugin.models import ActivationDefinition  # pylint: disable=import-outside-toplevel
    definition = ActivationDefinition.objects.filter(pk=definition_id).first()
    if definition is not None:
        api.analytics(definition, visible_runs=visible_runs)
