"""
The generic REST connector: JSON pages, three pagination styles, a JMESPath mapping per record.

``pages(cursor)`` yields lists of mapped records (dicts with ``external_id``, ``metric``,
``value``, ``observed_at``, not yet checked: the api checks and counts them). The stored
``cursor`` is the high-water mark of observation times, sent as ``since_param`` when set.
Python connectors implement the same ``pages(cursor)`` method.
"""
from urllib.parse import urljoin

from django.conf import settings
from jmespath.exceptions import JMESPathError

from activation_plugin.kpi.http import FetchError, get_json

UNMAPPABLE = {"external_id": None, "metric": None, "value": None, "observed_at": None}


def map_record(mapping, record):
    """Apply the mapping's expressions to one record; a record they cannot read maps to nothing (rejected later)."""
    try:
        return {name: expression.search(record) for name, expression in mapping.items()}
    except JMESPathError:
        return dict(UNMAPPABLE)


def map_records(config, records):
    """
    Map a page of records. One search of the page-wide projection is several times faster than
    four searches per record; it is used only when it provably gives one mapped dict per record
    (a projection drops null records, and a function error would lose the whole page).
    """
    if config.page_mapping is not None:
        try:
            mapped = config.page_mapping.search(records)
        except JMESPathError:
            mapped = None
        if isinstance(mapped, list) and len(mapped) == len(records):
            return mapped
    return [map_record(config.mapping, record) for record in records]


class RestConnector:
    """A source declared with ``kind: rest``."""

    def __init__(self, config):
        self.config = config

    def _records(self, body, page):
        try:
            records = self.config.records.search(body)
        except JMESPathError:
            records = None
        if not isinstance(records, list):
            raise FetchError(f"Page {page}: the 'records' expression did not find a list.")
        return map_records(self.config, records)

    def _next(self, expression, body):
        try:
            value = expression.search(body)
        except JMESPathError:
            return None
        return str(value) if value not in (None, "") and not isinstance(value, (dict, list, bool)) else None

    def pages(self, cursor=""):
        config = self.config
        pagination = config.pagination
        style = pagination.get("style", "none")
        max_pages = config.options.get("max_pages", settings.ACTIVATION_METRIC_MAX_PAGES)
        url, params = config.url, dict(config.params)
        if config.since_param and cursor:
            params[config.since_param] = cursor
        page_number = pagination.get("start", 1)
        seen = set()
        for page in range(1, max_pages + 1):
            if style == "page":
                params[pagination["page_param"]] = page_number
            body = get_json(url, config, params)
            records = self._records(body, page)
            yield records
            if style == "next_link":
                following = self._next(pagination["next"], body)
                if following is None:
                    return
                url, params = urljoin(url, following), None
                marker = url
            elif style == "cursor":
                following = self._next(pagination["next_cursor"], body)
                if following is None:
                    return
                params[pagination["cursor_param"]] = following
                marker = following
            elif style == "page":
                if not records:
                    return
                page_number += 1
                marker = page_number
            else:
                return
            if marker in seen:
                raise FetchError(f"Page {page}: the API sent the same next page again.")
            seen.add(marker)
