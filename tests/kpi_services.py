"""
Imitations of real KPI services, written from their public API documentation, served by the local
``KpiServer`` so the recipes in ``activation_plugin.kpi.recipes`` are pulled for real.

Each keeps its records as the service would (a modification time it filters on, a creation order
it pages by, fields in the service's own formats) and answers the documented request with the
documented response shape, pages and end marker, in small pages so every pull spans several.
"""
import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.utils import timezone

from tests.kpi_server import Reply


@dataclass
class Item:
    """One record as the service holds it: who, how much, when observed, when last changed."""

    id: str
    owner: str
    value: float
    observed: datetime
    modified: datetime
    done: bool = True  # solved, won, resolved: what the recipe's filter keeps
    hidden: bool = False  # a row the integration account may not read (ServiceNow ACLs)


class Service:
    """The records and the changes a test makes between pulls; subclasses answer like one service."""

    page_size = 3  # the service's cap on a page, small so that every pull spans several
    hides = False  # whether rows the account may not read are left out (ServiceNow's ACLs)

    def __init__(self, server, items):
        self.server, self.items = server, list(items)

    def now(self):
        return timezone.now().replace(microsecond=0)

    def upsert(self, item):
        self.items = [old for old in self.items if old.id != item.id] + [item]

    def record_id(self, number):
        """The service's id of its ``number``-th record, in creation order."""
        return str(number)

    def owner_key(self, item):
        """What the record names its owner by (an email, or an id the identity links resolve)."""
        return item.owner

    def expected(self):
        """What a pull must have stored: ``{(record_id, external_id, value, observed_at)}``."""
        return {(item.id, self.owner_key(item), float(item.value), item.observed)
                for item in self.items if item.done and not (item.hidden and self.hides)}


def _iso_ms(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Zendesk(Service):
    """
    ``GET /api/v2/incremental/tickets.json?start_time=<epoch>``: tickets whose ``generated_timestamp``
    is at or after ``start_time``, oldest first, without those changed in the last minute;
    ``next_page`` starts at the last ticket's timestamp (it is sent again); ``end_of_stream`` ends.
    """

    path = "/api/v2/incremental/tickets.json"
    users = {"agent0@example.com": 10, "agent1@example.com": 11, "agent2@example.com": 12}

    def answer(self, query):
        """The documented answer to ``query`` (the parsed query string, ``_body`` for a POST)."""
        start = int(query["start_time"])
        cutoff = self.now() - timedelta(minutes=1)
        changed = sorted((item for item in self.items if int(item.modified.timestamp()) >= start
                          and item.modified <= cutoff), key=lambda item: (item.modified, item.id))
        page, rest = changed[:self.page_size], changed[self.page_size:]
        end_time = int(page[-1].modified.timestamp()) if page else start
        include = query.get("include", "")
        body = {"tickets": [self._ticket(item) for item in page], "count": len(page), "end_time": end_time,
                "end_of_stream": not rest,
                "next_page": self.server.url(self.path) + "?" + urlencode({"start_time": end_time,
                                                                           "include": include})}
        if "users" in include:
            body["users"] = [{"id": number, "email": email, "role": "agent"} for email, number in self.users.items()]
        if "metric_sets" in include:
            body["metric_sets"] = [self._metrics(item) for item in page]
        return Reply(body=body)

    def _ticket(self, item):
        return {"id": int(item.id), "status": "solved" if item.done else "open",
                "assignee_id": self.users[item.owner], "updated_at": item.modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "generated_timestamp": int(item.modified.timestamp()),
                "satisfaction_rating": {"score": "unoffered"}}

    def _metrics(self, item):
        return {"ticket_id": int(item.id), "solved_at": item.observed.strftime("%Y-%m-%dT%H:%M:%SZ") if item.done
                else None, "full_resolution_time_in_minutes": {"calendar": item.value, "business": item.value // 2}}


class HubSpot(Service):
    """
    ``POST /crm/v3/objects/deals/search``: the body's filters (``GTE`` on a time in epoch
    milliseconds, ``EQ``), ``sorts``, ``properties``, ``limit`` and ``after``; every property is
    text; ``paging.next.after`` while more remain.
    """

    path = "/crm/v3/objects/deals/search"
    owners = {"agent0@example.com": "1001", "agent1@example.com": "1002", "agent2@example.com": "1003"}

    def owner_key(self, item):
        return self.owners[item.owner]

    def answer(self, query):
        """The documented answer to ``query`` (the parsed query string, ``_body`` for a POST)."""
        body = query["_body"]
        chosen = self.items
        for condition in body["filterGroups"][0]["filters"]:
            name, operator, value = condition["propertyName"], condition["operator"], condition["value"]
            if name == "hs_lastmodifieddate" and operator == "GTE":
                chosen = [item for item in chosen if item.modified.timestamp() * 1000 >= int(value)]
            elif name == "hs_is_closed_won" and operator == "EQ":
                chosen = [item for item in chosen if str(item.done).lower() == value]
        chosen = sorted(chosen, key=lambda item: int(item.id))  # the recipe sorts by hs_object_id
        start, limit = int(body.get("after", 0)), min(int(body.get("limit", 10)), 200, self.page_size)
        page = chosen[start:start + limit]
        wanted = set(body.get("properties", []))
        reply = {"total": len(chosen), "results": [{
            "id": item.id, "archived": False, "createdAt": _iso_ms(item.observed - timedelta(days=30)),
            "updatedAt": _iso_ms(item.modified), "properties": {key: value for key, value in {
                "hs_object_id": item.id, "amount": f"{item.value:.2f}", "closedate": _iso_ms(item.observed),
                "hubspot_owner_id": self.owners[item.owner], "hs_lastmodifieddate": _iso_ms(item.modified),
                "dealname": f"Deal {item.id}"}.items() if key in wanted | {"hs_object_id"}}} for item in page]}
        if start + limit < len(chosen):
            reply["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return Reply(body=reply)


class ServiceNow(Service):
    """
    ``GET /api/now/table/incident``: an encoded ``sysparm_query`` (``field>=YYYY-MM-DD HH:MM:SS``,
    ``ISNOTEMPTY``, ``ORDERBY``), ``sysparm_fields`` with dot-walked names, ``sysparm_offset`` and
    ``sysparm_limit``; every value is text; ``X-Total-Count`` counts the matches, and rows the
    account may not read are dropped after the page is cut.
    """

    path = "/api/now/table/incident"
    hides = True

    def record_id(self, number):
        return f"a9f{number:05d}"
    stamp = "%Y-%m-%d %H:%M:%S"

    def answer(self, query):
        """The documented answer to ``query`` (the parsed query string, ``_body`` for a POST)."""
        encoded = query.get("sysparm_query", "")
        chosen = [item for item in self.items if item.done or "resolved_atISNOTEMPTY" not in encoded]
        since = re.search(r"sys_updated_on>=(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", encoded)
        if since:
            moment = datetime.strptime(since.group(1), self.stamp).replace(tzinfo=UTC)
            chosen = [item for item in chosen if item.modified >= moment]
        chosen = sorted(chosen, key=lambda item: item.id)  # ORDERBYsys_created_on: ids are given in that order
        offset, limit = int(query.get("sysparm_offset", 0)), int(query.get("sysparm_limit", 10000))
        fields = query.get("sysparm_fields", "sys_id").split(",")
        rows = [{key: value for key, value in {
            "sys_id": item.id, "assigned_to.email": item.owner, "resolved_at": item.observed.strftime(self.stamp),
            "reopen_count": str(int(item.value)), "sys_updated_on": item.modified.strftime(self.stamp)}.items()
            if key in fields} for item in chosen[offset:offset + limit] if not item.hidden]
        return Reply(body={"result": rows}, headers={"X-Total-Count": str(len(chosen))})


class Jira(Service):
    """
    ``POST /rest/api/3/search/jql``: JQL in the body (``updated >= 'YYYY-MM-DD'`` read in the
    account's time zone), ``maxResults`` capped at 100, an opaque ``nextPageToken`` and ``isLast``.
    """

    path = "/rest/api/3/search/jql"

    def record_id(self, number):
        return f"SUP-{number:03d}"
    zone = timezone.get_fixed_timezone(-300)  # the account's time zone: JQL dates are read in it
    stamp = "%Y-%m-%dT%H:%M:%S.000%z"

    def answer(self, query):
        """The documented answer to ``query`` (the parsed query string, ``_body`` for a POST)."""
        body = query["_body"]
        chosen = [item for item in self.items if item.done]
        since = re.search(r"updated >= '(\d{4}-\d\d-\d\d)'", body["jql"])
        if since:
            moment = datetime.strptime(since.group(1), "%Y-%m-%d").replace(tzinfo=self.zone)
            chosen = [item for item in chosen if item.modified >= moment]
        chosen = sorted(chosen, key=lambda item: item.id)  # ORDER BY created ASC
        token = body.get("nextPageToken")
        start = int(base64.b64decode(token)) if token else 0
        size = min(int(body.get("maxResults", 50)), 100, self.page_size)
        page = chosen[start:start + size]
        last = start + size >= len(chosen)
        reply = {"issues": [{"id": str(10000 + n), "key": item.id, "fields": {
            "assignee": {"accountId": f"acc-{item.owner}", "emailAddress": item.owner},
            "resolutiondate": item.observed.astimezone(self.zone).strftime(self.stamp),
            "updated": item.modified.astimezone(self.zone).strftime(self.stamp),
            "customfield_10016": item.value}} for n, item in enumerate(page, start=start)], "isLast": last}
        if not last:
            reply["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
        return Reply(body=reply)
