"""
The generic REST connector: JSON pages (GET, or POST for search and GraphQL endpoints), six
pagination styles, a JMESPath mapping per record, sideloaded lists joined in.

``pages(cursor)`` yields lists of mapped records (dicts with ``external_id``, ``metric``,
``value``, ``observed_at``, not yet checked: the api checks and counts them). The stored
``cursor`` is the high-water mark of observation times, sent as ``since_param`` when set.
Python connectors implement the same ``pages(cursor)`` method.
"""
import re
from datetime import UTC, datetime
from urllib.parse import urljoin

from django.conf import settings
from jmespath.exceptions import JMESPathError

from activation_plugin.kpi.http import FetchError, Request, fetch

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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def since_value(cursor, since_format):
    """
    The high-water mark as the API wants it in ``since_param`` or a ``{since}`` template: ISO
    text as stored (``iso``), ISO with a ``Z`` (``iso_z``, Salesforce's SOQL), epoch seconds
    (``epoch``, Zendesk), epoch milliseconds (``epoch_ms``, HubSpot) or a date. Before the first
    successful run, the start of the epoch.
    """
    moment = datetime.fromisoformat(cursor) if cursor else EPOCH
    if since_format == "epoch":
        return str(int(moment.timestamp()))
    if since_format == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if since_format == "date":
        return moment.date().isoformat()
    if since_format == "iso_z":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return cursor or moment.isoformat()


def fill(template, since):
    """``template`` (params or a JSON body) with every ``{since}`` in its text replaced."""
    if isinstance(template, str):
        return template.replace("{since}", since)
    if isinstance(template, dict):
        return {key: fill(value, since) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, since) for value in template]
    return template


def link_next(headers):
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header, or None."""
    for part in (headers.get("Link") or headers.get("link") or "").split(","):
        target, _semicolon, attributes = part.partition(";")
        if re.search(r'rel\s*=\s*"?next"?(\s|;|$)', attributes.strip() + ";") and target.strip().startswith("<"):
            return target.strip()[1:-1]
    return None


class RestConnector:
    """A source declared with ``kind: rest``."""

    def __init__(self, config):
        self.config = config

    def _raw(self, body, page):
        """
        The page's records before mapping, each with its sideloaded ``join`` item; a page where 'records'
        finds no list fails rather than pass for an empty last page.
        """
        try:
            records = self.config.records.search(body)
        except JMESPathError:
            records = None
        if not isinstance(records, list):
            raise FetchError(f"Page {page}: the 'records' expression did not find a list.")
        join = self.config.join
        if join:
            sideloaded = _search(join["list"], body)
            index = {item.get(join["key"]): item for item in sideloaded or [] if isinstance(item, dict)}
            records = [{**record, join["as"]: index.get(record.get(join["field"]))} if isinstance(record, dict)
                       else record for record in records]
        return records

    def _records(self, body, page):
        return map_records(self.config, self._raw(body, page))

    def _next(self, expression, body):
        value = _search(expression, body)
        return str(value) if value not in (None, "") and not isinstance(value, (dict, list, bool)) else None

    def _page_empty(self, body, records):
        """Whether a page-number page is the end: its unfiltered items, not what 'records' kept."""
        expression = self.config.pagination.get("page_items")
        items = _search(expression, body) if expression is not None else (body if isinstance(body, list) else None)
        return not (items if isinstance(items, list) else records)

    def pages(self, cursor=""):  # pylint: disable=too-many-branches
        """
        Mapped records, one list per page, in the declared pagination style from ``cursor`` (the last
        high-water mark) on. Stops after ``max_pages``; an API that sends a page again fails instead of
        looping forever.
        """
        config = self.config
        pagination = config.pagination
        style = pagination.get("style", "none")
        max_pages = config.options.get("max_pages", settings.ACTIVATION_METRIC_MAX_PAGES)
        since = since_value(cursor, config.since_format)
        url, params, body = config.url, fill(dict(config.params), since), fill(config.body, since)
        if config.since_param and cursor:
            params[config.since_param] = since
        page_number, offset = pagination.get("start", 1), 0
        seen = set()
        for page in range(1, max_pages + 1):
            if style == "page":
                params[pagination["page_param"]] = page_number
            elif style == "offset":
                params.update({pagination["offset_param"]: offset, pagination["limit_param"]: pagination["limit"]})
            response = fetch(url, config, Request(config.method, params, body))
            raw = self._raw(response.body, page)
            yield map_records(config, raw)
            if "end" in pagination and _search(pagination["end"], response.body) is True:
                return
            if style == "next_link":
                following = self._next(pagination["next"], response.body)
                if following is None:
                    return
                url, params = urljoin(url, following), None
                marker = url
            elif style == "link_header":
                following = link_next(response.headers)
                if following is None:
                    return
                url, params = urljoin(url, following), None
                marker = url
            elif style == "cursor":
                following = self._next(pagination["next_cursor"], response.body)
                if following is None:
                    return
                params[pagination["cursor_param"]] = following
                marker = following
            elif style == "page":
                if self._page_empty(response.body, raw):
                    return
                page_number += 1
                marker = page_number
            elif style == "offset":
                total = _search(pagination["total"], response.body) if "total" in pagination else None
                offset += pagination["limit"]
                if len(raw) < pagination["limit"] or (isinstance(total, int) and offset >= total):
                    return
                marker = offset
            else:
                return
            if marker in seen:
                raise FetchError(f"Page {page}: the API sent the same next page again.")
            seen.add(marker)


def _search(expression, body):
    try:
        return expression.search(body)
    except JMESPathError:
        return None
