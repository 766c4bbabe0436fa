"""Celery tasks; each is also a management command so operators can use cron instead."""
import logging

from celery import shared_task

from activation_plugin import api

log = logging.getLogger(__name__)


@shared_task(name="activation_plugin.tasks.tick", ignore_result=True)
def tick():
    """Send due prompts and reminders and expire windows whose end passed. Safe to overlap with itself."""
    result = api.tick()
    log.info("activation tick: %s", result)
    return result
