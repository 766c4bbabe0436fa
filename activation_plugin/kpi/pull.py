"""
Scheduled pulls: read a source's pages and hand each to the api, then record the run's outcome.

Each page commits before the next is fetched; the cursor moves only when the whole run succeeded
and read to the end, so it never passes data that was not stored. A failed or partial run is
simply re-read next time: upserts make that harmless.

The cursor is the latest value of the field the API filters on, mapped as ``modified_at`` (when a
record was last changed), kept apart from when it was observed; without that mapping it is the
latest observation time, as before. A record refused as dated in the future holds the cursor just
before its change, so it is read again until its date has come.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from activation_plugin import api, toggles
from activation_plugin.api import metric_sources
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import sources
from activation_plugin.kpi.http import FetchError, scrub
from activation_plugin.kpi.rest import RestConnector
from activation_plugin.models import MetricSource

log = logging.getLogger(__name__)
PULLED_KINDS = ("rest", "python")
COUNTS = ("received", "stored", "updated", "duplicates", "rejected", "future", "matched")


class Marks:
    """The latest ``modified_at`` of a run's records, and the earliest of those refused as dated in the future."""

    def __init__(self, now):
        self.now, self.latest, self.held = now, None, None

    def see(self, records):
        """Before the page is stored: a record's ``modified_at`` counts whether or not it is stored."""
        for record in records:
            try:
                modified = api.parse_time(record.get("modified_at")) if isinstance(record, dict) else None
            except ActivationRequestError:
                modified = None
            if modified is None:
                continue
            self.latest = modified if self.latest is None else max(self.latest, modified)
            try:
                api.clean_observation(record, self.now)
            except api.FutureObservation:
                self.held = modified if self.held is None else min(self.held, modified)
            except ActivationRequestError:
                pass  # malformed: it would be refused again, nothing to wait for

    def cursor(self, observed_high_water, current):
        """The cursor to store after a complete run, or "" to keep ``current``."""
        if self.latest is None:  # no modified_at mapped: the observation times, never moving back
            moment = observed_high_water
            return moment.isoformat() if moment and moment.isoformat() > current else ""
        # One second before a held record, so a strict ">" filter on whole seconds still returns it;
        # never past the run's start, so a record changed while earlier pages were read is read next time.
        moment = min(self.latest, self.held - timedelta(seconds=1)) if self.held else self.latest
        return min(moment, self.now).isoformat()


PAUSED = "KPI pulls are paused (the activation_plugin.pause_kpi_pulls switch is on)."


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
    totals = dict.fromkeys(COUNTS, 0)
    if toggles.kpi_pulls_paused():
        # Not recorded on the source: its cursor and last run stay, so the next pull reads what changed meanwhile.
        return {**totals, "status": "paused", "error": PAUSED}
    try:
        config = sources.get(name)
    except ImproperlyConfigured as exc:
        # Recorded on the source, if it ever ran, so the operators' page shows why it stopped.
        return _failed(MetricSource.objects.filter(name=name).first(), name, str(exc), totals, now)
    if config.kind not in PULLED_KINDS:
        raise ValueError(f"Source {name!r} is a {config.kind} source; only rest and python sources are pulled.")
    source = metric_sources.sync_metric_source(config)
    high_water, resolved = None, {}
    connector, marks = connector_for(config), Marks(now or timezone.now())
    try:
        for records in connector.pages(source.cursor):
            records = records if isinstance(records, list) else list(records)  # read twice: marks, then stored
            marks.see(records)
            result = api.ingest_observations(source, records, now=now, resolved=resolved)
            for key in COUNTS:
                totals[key] += result[key]
            if result["high_water"] and (high_water is None or result["high_water"] > high_water):
                high_water = result["high_water"]
    except FetchError as exc:
        return _failed(source, name, scrub(str(exc), config.secrets()), totals, now)
    except Exception as exc:  # pylint: disable=broad-except  # a connector's bug must not stop the other sources
        log.exception("metric source %s: the connector failed", name)
        return _failed(source, name, scrub(f"The connector failed: {type(exc).__name__}: {exc}"[:500],
                                           config.secrets()), totals, now)
    if getattr(connector, "stopped", "") == "max_pages":
        # What was read is stored; the cursor stays, since the unread pages may hold older changes.
        warning = max_pages_warning(connector.pages_read)
        log.warning("metric source %s: %s", name, warning)
        metric_sources.finish_pull(source, warning=warning, now=now)
        return {**totals, "status": "partial", "error": warning}
    metric_sources.finish_pull(source, cursor=marks.cursor(high_water, source.cursor), now=now)
    log.info("metric source %s: %s", name, totals)
    return {**totals, "status": "ok", "error": ""}


def max_pages_warning(pages):
    return (f"Stopped after {pages} pages (max_pages) with more to read; the cursor did not move. Raise max_pages "
            f"or narrow the query.")


def _failed(source, name, error, totals, now):
    log.warning("metric source %s: run failed: %s", name, error)
    if source is not None:
        metric_sources.finish_pull(source, error=error, now=now)
    return {**totals, "status": "error", "error": error}


def pulled_names():
    """Every declared rest or python source, and the names of those whose configuration is broken."""
    names = []
    for name, config in (getattr(settings, "ACTIVATION_METRIC_SOURCES", {}) or {}).items():
        if not isinstance(config, dict) or config.get("kind", "rest") in PULLED_KINDS:
            names.append(name)
    return names


def due_sources(now=None):
    """
    Names of pulled sources whose schedule says they should run now. A source whose configuration
    is broken is always due: its run records the error, and the others are not held up by it.
    """
    if toggles.kpi_pulls_paused():
        return []
    now = now or timezone.now()
    due = []
    valid = sources.declared(skip_invalid=True)
    due += [name for name in pulled_names() if name not in valid]
    for name, config in valid.items():
        if config.kind not in PULLED_KINDS:
            continue
        source = metric_sources.sync_metric_source(config)
        if source.last_run_at is None or source.last_run_at + timedelta(minutes=config.schedule_minutes) <= now:
            due.append(name)
    return due
