"""
The generic REST connector: JSON pages (GET, or POST for search and GraphQL endpoints), six
pagination styles, a JMESPath mapping per record, sideloaded lists joined in.

``pages(cursor)`` yields lists of mapped records (dicts with ``external_id``, ``metric``,
``value``, ``observed_at``, not yet checked: the api checks and counts them). The stored
``cursor`` is the high-water mark of observation times, sent as ``since_param`` when set.
Python connectors implement the same ``pages(cursor)`` method.
"""
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from django.conf import settings
from jmespath.exceptions import JMESPathError

from activation_plugin.kpi.http import FetchError, Request, api_errors, fetch

UNMAPPABLE = {"external_id": None, "metric": None, "value": None, "observed_at": None}
# What evaluating a valid expression on a record can raise: jmespath 1.1 compares strings with ``>``
# and lets a string against a number raise a bare TypeError, not a JMESPathError.
SEARCH_ERRORS = (JMESPathError, TypeError)


def map_record(mapping, record):
    """Apply the mapping's expressions to one record; a record they cannot read maps to nothing (rejected later)."""
    try:
        return {name: expression.search(record) for name, expression in mapping.items()}
    except SEARCH_ERRORS:
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
        except SEARCH_ERRORS:
            mapped = None
        if isinstance(mapped, list) and len(mapped) == len(records):
            return mapped
    return [map_record(config.mapping, record) for record in records]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def since_value(cursor, since_format, lookback_seconds=0):
    """
    The high-water mark as the API wants it in ``since_param`` or a ``{since}`` template, moved
    back by ``lookback_seconds`` so records saved late in the cursor's second (or minute) are read
    again: ISO text (``iso``), ISO with a ``Z`` (``iso_z``, Salesforce's SOQL), ``YYYY-MM-DD
    HH:MM:SS`` in UTC (``datetime``, ServiceNow's ``sysparm_query``), epoch seconds (``epoch``,
    Zendesk), epoch milliseconds (``epoch_ms``, HubSpot) or a date. Before the first successful
    run, the start of the epoch.
    """
    moment = datetime.fromisoformat(cursor) if cursor else EPOCH
    if cursor and lookback_seconds:
        moment = max(moment - timedelta(seconds=lookback_seconds), EPOCH)
    if since_format == "epoch":
        return str(int(moment.timestamp()))
    if since_format == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if since_format == "date":
        return moment.date().isoformat()
    if since_format == "iso_z":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if since_format == "datetime":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat() if cursor else EPOCH.isoformat()


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
        # How the last ``pages`` ended (``end`` or ``max_pages``), after how many pages, and the
        # total the API announced, if it did: what a pull and the operators' test report.
        self.stopped, self.pages_read, self.total = "", 0, None

    def _raw(self, body, page):
        """
        The page's records before mapping, each with its sideloaded ``join`` items; a page where 'records'
        finds no list fails rather than pass for an empty last page.
        """
        try:
            records = self.config.records.search(body)
        except JMESPathError:
            records = None
        if not isinstance(records, list):
            messages, _throttled = api_errors(body)
            raise FetchError(f"Page {page}: the 'records' expression did not find a list" + (
                f"; the API answered with errors: {'; '.join(messages)}." if messages else "."))
        for join in self.config.join:
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

    def _in_body(self):
        """
        Whether paging parameters go in the JSON body: a POST search or GraphQL endpoint reads them
        there (HubSpot's ``after``, Jira's ``startAt``, ``variables.after``), so that is the default
        for a POST with an object body; ``pagination.in`` says otherwise.
        """
        where = self.config.pagination.get("in")
        if where:
            return where == "body"
        return self.config.method == "POST" and isinstance(self.config.body, dict)

    def _total(self, response):
        """The number of records the API says the whole result holds, from the body or a header, or None."""
        pagination = self.config.pagination
        total = _search(pagination["total"], response.body) if "total" in pagination else None
        header = pagination.get("total_header")
        if total is None and header:
            named = {key.lower(): value for key, value in response.headers.items()}.get(header.lower(), "")
            total = int(named) if str(named).strip().isdigit() else None
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        self.total = total if total is not None else self.total
        return total

    def _step(self, body):
        """
        How far the next offset moves: the page size the server used where it says so (``page_size``,
        or the limit parameter echoed back smaller, as Jira caps ``maxResults``), else the limit asked
        for, never what a page returned, since some APIs drop hidden rows after cutting the page.
        """
        pagination = self.config.pagination
        used = _search(pagination["page_size"], body) if "page_size" in pagination else (
            body.get(pagination["limit_param"]) if isinstance(body, dict) else None)
        if isinstance(used, int) and not isinstance(used, bool) and 0 < used < pagination["limit"]:
            return used
        return pagination["limit"]

    def _following(self, style, response, raw, state):
        """
        Move ``state`` (url, paging parameters) to the next page; return the marker that names it
        (to catch an API that sends a page again), or None when this was the last page.
        """
        pagination = self.config.pagination
        if "end" in pagination and _search(pagination["end"], response.body) is True:
            return None
        if style in ("next_link", "link_header"):
            following = (self._next(pagination["next"], response.body) if style == "next_link"
                         else link_next(response.headers))
            if following is None:
                return None
            state["url"], state["params"], state["paging"] = urljoin(state["url"], following), None, {}
            return state["url"]
        if style == "cursor":
            following = self._next(pagination["next_cursor"], response.body)
            if following is not None:
                state["paging"] = {pagination["cursor_param"]: following}
            return following
        if style == "page":
            if self._page_empty(response.body, raw):
                return None
            state["paging"] = {pagination["page_param"]: state["paging"][pagination["page_param"]] + 1}
            return state["paging"][pagination["page_param"]]
        if style == "offset":
            offset = state["paging"][pagination["offset_param"]] + self._step(response.body)
            total = self._total(response)
            # Only the total, or an empty page where there is none, ends the run: a short page does not.
            if (offset >= total) if total is not None else self._page_empty(response.body, raw):
                return None
            state["paging"] = {pagination["offset_param"]: offset, pagination["limit_param"]: pagination["limit"]}
            return offset
        return None

    def pages(self, cursor="", max_pages=None):
        """
        Mapped records, one list per page, in the declared pagination style from ``cursor`` (the last
        high-water mark) on. After ``max_pages`` (the source's, or the one given) ``stopped`` says
        ``max_pages`` if the API had more, else ``end``; an API that sends a page again fails
        instead of looping forever.
        """
        config = self.config
        pagination = config.pagination
        style = pagination.get("style", "none")
        max_pages = max_pages or config.options.get("max_pages", settings.ACTIVATION_METRIC_MAX_PAGES)
        since = since_value(cursor, config.since_format, config.options.get("lookback_seconds", 0))
        state = {"url": config.url, "params": fill(dict(config.params), since), "paging": {
            "page": {pagination.get("page_param"): pagination.get("start", 1)},
            "offset": {pagination.get("offset_param"): 0, pagination.get("limit_param"): pagination.get("limit")},
        }.get(style, {})}
        body = fill(config.body, since)
        if config.since_param and cursor:
            state["params"][config.since_param] = since
        in_body = self._in_body()
        self.stopped, self.pages_read, self.total = "", 0, None
        seen = set()
        for page in range(1, max_pages + 1):
            params, sent = state["params"], body
            if in_body:
                for name, value in state["paging"].items():
                    sent = with_value(sent, name, value)
            elif state["paging"]:
                params = {**(params or {}), **state["paging"]}
            response = fetch(state["url"], config, Request(config.method, params, sent, format=config.format))
            raw = self._raw(response.body, page)
            self.pages_read = page
            yield map_records(config, raw)
            marker = self._following(style, response, raw, state)
            if marker is None:
                self.stopped = "end"
                return
            if marker in seen:
                raise FetchError(f"Page {page}: the API sent the same next page again.")
            seen.add(marker)
        self.stopped = "max_pages"


def with_value(body, dotted, value):
    """A copy of the JSON ``body`` with ``value`` at ``dotted`` (``variables.after`` sets a nested key)."""
    head, _dot, rest = dotted.partition(".")
    body = dict(body) if isinstance(body, dict) else {}
    body[head] = with_value(body.get(head), rest, value) if rest else value
    return body


def _search(expression, body):
    try:
        return expression.search(body)
    except JMESPathError:
        return None
