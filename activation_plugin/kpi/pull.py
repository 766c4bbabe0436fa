"""
Scheduled pulls: read a source's pages and hand each to the api, then record the run's outcome.

Each page commits before the next is fetched; the cursor (the high-water mark of observation
times) moves only when the whole run succeeded, so it never passes data that was not stored. A
failed run is simply re-read next time: upserts make that harmless.
"""
import logging
from datetime import timedelta

from django.utils import timezone
from django.utils.module_loading import import_string

from activation_plugin import api
from activation_plugin.kpi import sources
from activation_plugin.kpi.http import FetchError, scrub
from activation_plugin.kpi.rest import RestConnector

log = logging.getLogger(__name__)
PULLED_KINDS = ("rest", "python")
COUNTS = ("received", "stored", "updated", "duplicates", "rejected", "future", "matched")


def connector_for(config):
    if config.kind == "rest":
        return RestConnector(config)
    return import_string(config.class_path)(config)


def pull(name, now=None):
    """
    One run of one declared REST or Python source.

    Returns:
        dict: the run's counts, ``status`` (``ok`` or ``error``) and ``error``.
    """
    config = sources.get(name)
    if config.kind not in PULLED_KINDS:
        raise ValueError(f"Source {name!r} is a {config.kind} source; only rest and python sources are pulled.")
    source = api.sync_metric_source(config)
    totals = dict.fromkeys(COUNTS, 0)
    high_water, resolved = None, {}
    try:
        for records in connector_for(config).pages(source.cursor):
            result = api.ingest_observations(source, records, now=now, resolved=resolved)
            for key in COUNTS:
                totals[key] += result[key]
            if result["high_water"] and (high_water is None or result["high_water"] > high_water):
                high_water = result["high_water"]
    except FetchError as exc:
        error = scrub(str(exc), config.secrets())
        log.warning("metric source %s: run failed: %s", name, error)
        api.finish_pull(source, error=error, now=now)
        return {**totals, "status": "error", "error": error}
    cursor = high_water.isoformat() if high_water and high_water.isoformat() > source.cursor else ""
    api.finish_pull(source, cursor=cursor, now=now)
    log.info("metric source %s: %s", name, totals)
    return {**totals, "status": "ok", "error": ""}


def due_sources(now=None):
    """Names of pulled sources whose schedule says they should run now."""
    now = now or timezone.now()
    due = []
    for name, config in sources.declared().items():
        if config.kind not in PULLED_KINDS:
            continue
        source = api.sync_metric_source(config)
        if source.last_run_at is None or source.last_run_at + timedelta(minutes=config.schedule_minutes) <= now:
            due.append(name)
    return due
