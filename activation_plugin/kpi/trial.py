"""
The operators' "test this source": the pull a first scheduled run would make, with nothing stored.

A first page alone said "ok" for sources that lost most of their records further on (a POST body
that never moved to page 2, pages cut short by the server, a page limit), so the test reads every
page, up to ``TRY_MAX_PAGES``, and reports what a pull would store and where it would stop.
"""
import logging
from itertools import islice

from django.core.exceptions import ImproperlyConfigured

from activation_plugin import api
from activation_plugin.api import metric_sources
from activation_plugin.errors import ActivationRequestError
from activation_plugin.kpi import sources
from activation_plugin.kpi.http import FetchError, scrub
from activation_plugin.kpi.pull import connector_for, max_pages_warning

log = logging.getLogger(__name__)
TRY_ROWS = 10
TRY_MAX_PAGES = 50


class _Tally:
    """What a pull would make of the records: counts, the first rows as mapped, the ids to match."""

    def __init__(self):
        self.counts = {"received": 0, "rejected": 0, "future": 0, "repeated": 0}
        self.rows, self.ids, self.valid, self.seen = [], set(), [], set()

    def add(self, record):
        """The checks ``api.ingest_observations`` would make, and a repeat by the key it would store under."""
        self.counts["received"] += 1
        try:
            metric, external_id, observed_at, value = api.clean_observation(record)
            record_id = api.record_id_of(record)
        except ActivationRequestError as exc:
            self.counts["future" if isinstance(exc, api.FutureObservation) else "rejected"] += 1
            if len(self.rows) < TRY_ROWS:
                self.rows.append({"error": str(exc), "field": exc.field})
            return
        identity = (metric, record_id) if record_id else (metric, external_id, observed_at)
        if identity in self.seen:  # pages that shifted while they were read: another record was skipped
            self.counts["repeated"] += 1
            return
        self.seen.add(identity)
        self.ids.add(external_id)
        self.valid.append(external_id)
        if len(self.rows) < TRY_ROWS:
            self.rows.append({"external_id": external_id, "metric": metric, "observed_at": observed_at,
                              "value": value, "record_id": record_id})


def try_source(name):
    """
    Read every page a first pull would (from the start of the epoch; at most ``TRY_MAX_PAGES``),
    apply the mapping, check and match each record, and store nothing (no observation, no cursor,
    no run status).

    Returns:
        dict: status (``ok``, ``partial`` when a pull would stop at the source's ``max_pages``, or
        ``error``), error, pages, stop (``end``; ``max_pages``; ``test_limit``: the test stopped
        where a pull would go on), received, expected (the total the API announced, where it does),
        rejected, future, repeated (records sent twice in one pull), matched, and rows (the first
        ``TRY_ROWS`` records as mapped, with their ``match`` or their ``error``).
    """
    result = {"status": "ok", "error": "", "pages": 0, "stop": "", "received": 0, "expected": None, "rejected": 0,
              "future": 0, "repeated": 0, "matched": 0, "rows": []}
    try:
        config = sources.get(name)
    except ImproperlyConfigured as exc:
        return {**result, "status": "error", "error": str(exc)}
    source = metric_sources.sync_metric_source(config)
    connector, tally = connector_for(config), _Tally()
    try:
        for records in islice(connector.pages(""), TRY_MAX_PAGES):
            result["pages"] += 1
            for record in records:
                tally.add(record)
    except FetchError as exc:
        return {**result, **tally.counts, "status": "error", "error": scrub(str(exc), config.secrets())}
    except Exception as exc:  # pylint: disable=broad-except  # shown to the operator, not raised into the page
        log.exception("metric source %s: the connector failed while being tested", name)
        return {**result, **tally.counts, "status": "error", "error": f"The connector failed: {type(exc).__name__}."}
    stop = getattr(connector, "stopped", "") or ("test_limit" if result["pages"] == TRY_MAX_PAGES else "end")
    matched, ambiguous = api.resolve_identities(source, sorted(tally.ids)) if tally.ids else ({}, set())
    for row in tally.rows:
        if "external_id" in row:
            row["match"] = ("ambiguous" if row["external_id"] in ambiguous
                            else "matched" if row["external_id"] in matched else "unmatched")
    partial = stop == "max_pages"
    return {**result, **tally.counts, "stop": stop, "expected": getattr(connector, "total", None),
            "status": "partial" if partial else "ok", "error": max_pages_warning(result["pages"]) if partial else "",
            "matched": sum(1 for external_id in tally.valid if external_id in matched), "rows": tally.rows}
