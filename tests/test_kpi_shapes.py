"""
KPI sources as training departments have them (issue 17): each API shape against a local fake
that answers like the service, and the defects that lost data or stopped pulls without an error.
"""
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from activation_plugin.kpi import pull
from activation_plugin.kpi.rest import link_next
from activation_plugin.models import MetricObservation, MetricSource
from tests.factories import UserFactory
from tests.kpi_server import Reply, rest_source

BASE = (timezone.now() - timedelta(days=3)).replace(microsecond=0)


pytestmark = pytest.mark.usefixtures("agents")


def test_page_pagination_goes_on_past_a_page_the_records_filter_empties(settings, kpi_server):
    """GitHub-style issues list filtered to drop pull requests: a page of only PRs stopped the run (800 of 1,880)."""
    def page(query):
        number = int(query["page"])
        if number > 4:
            return Reply(body=[])
        items = [{"id": number * 100 + n, "user": "agent1@example.com", "closed_at": (
            BASE + timedelta(minutes=number * 100 + n)).isoformat(), **({"pull_request": {}} if number == 2 else {})}
            for n in range(5)]
        return Reply(body=items)
    kpi_server.route("/issues", page)
    settings.ACTIVATION_METRIC_SOURCES = {"github": rest_source(
        kpi_server, "/issues", records="[?pull_request == null]", pagination={"style": "page"},
        mapping={"external_id": "user", "metric": "'issues_closed'", "value": "`1`", "observed_at": "closed_at",
                 "record_id": "to_string(id)"})}
    result = pull.pull("github")
    assert (result["status"], result["stored"]) == ("ok", 15)  # pages 1, 3 and 4; page 2 was all pull requests
    assert [request["query"]["page"] for request in kpi_server.requests] == ["1", "2", "3", "4", "5"]


def test_two_records_in_the_same_second_stay_two_observations(settings, kpi_server):
    """Two tickets closed by one agent in the same second collapsed into one (2,142 → 2,141)."""
    at = BASE.isoformat()
    tickets = [{"id": 1, "agent": "agent1@example.com", "at": at, "csat": 4},
               {"id": 2, "agent": "agent1@example.com", "at": at, "csat": 5},
               {"id": 2, "agent": "agent1@example.com", "at": at, "csat": 5}]  # a duplicate across pages
    kpi_server.route("/tickets", Reply(body={"tickets": tickets}))
    settings.ACTIVATION_METRIC_SOURCES = {"helpdesk": rest_source(
        kpi_server, "/tickets", records="tickets",
        mapping={"external_id": "agent", "metric": "'csat'", "value": "csat", "observed_at": "at",
                 "record_id": "id"})}
    first = pull.pull("helpdesk")
    assert (first["stored"], first["duplicates"]) == (2, 1)
    assert sorted(MetricObservation.objects.values_list("record_id", "value")) == [("1", 4.0), ("2", 5.0)]
    assert pull.pull("helpdesk")["stored"] == 0


def test_a_misconfigured_source_does_not_stop_the_others(settings, kpi_server):
    """sources.declared() raised for a typo in another source, so --source A and the beat task pulled nothing."""
    kpi_server.route("/tickets", Reply(body={"data": [
        {"agent": "agent0@example.com", "aht": 300, "at": BASE.isoformat()}]}))
    good = rest_source(kpi_server, "/tickets", records="data",
                       mapping={"external_id": "agent", "metric": "'aht'", "value": "aht", "observed_at": "at"})
    settings.ACTIVATION_METRIC_SOURCES = {"good": good, "typo": {**good, "pagination": {"style": "pages"}}}
    out = StringIO()
    call_command("activation_pull_metrics", "--source", "good", stdout=out)
    assert "good: ok" in out.getvalue() and MetricObservation.objects.count() == 1
    assert set(pull.due_sources(now=timezone.now() + timedelta(hours=2))) == {"good", "typo"}
    MetricSource.objects.create(name="typo", kind="rest")  # it ran before the typo was made
    with pytest.raises(CommandError, match="1 source"):
        call_command("activation_pull_metrics", "--all", stdout=StringIO())
    typo = MetricSource.objects.get(name="typo")
    assert typo.last_status == "error" and "pagination style" in typo.last_error
    assert MetricSource.objects.get(name="good").last_status == "ok"


class BrokenConnector:
    """A Python connector with a bug: the pull records it instead of stopping the other sources."""

    def __init__(self, config):
        self.config = config

    def pages(self, cursor):
        raise KeyError("assignee")


def test_a_connector_s_crash_is_recorded_and_the_next_source_still_runs(settings, kpi_server):
    kpi_server.route("/tickets", Reply(body={"data": [
        {"agent": "agent0@example.com", "aht": 300, "at": BASE.isoformat()}]}))
    settings.ACTIVATION_METRIC_SOURCES = {
        "crashing": {"kind": "python", "class": f"{__name__}.BrokenConnector"},
        "good": rest_source(kpi_server, "/tickets", records="data", mapping={
            "external_id": "agent", "metric": "'aht'", "value": "aht", "observed_at": "at"})}
    with pytest.raises(CommandError):
        call_command("activation_pull_metrics", "--all", stdout=StringIO())
    assert "KeyError" in MetricSource.objects.get(name="crashing").last_error
    assert MetricObservation.objects.count() == 1


def test_a_connection_dropped_mid_body_is_retried(settings, kpi_server):
    body = {"data": [{"agent": "agent0@example.com", "aht": 300, "at": BASE.isoformat()}]}
    kpi_server.route("/tickets", Reply(body=body, drop_after=10), Reply(body=body))
    settings.ACTIVATION_METRIC_SOURCES = {"crm": rest_source(kpi_server, "/tickets", records="data", mapping={
        "external_id": "agent", "metric": "'aht'", "value": "aht", "observed_at": "at"})}
    result = pull.pull("crm")
    assert (result["status"], result["stored"], len(kpi_server.requests)) == ("ok", 1, 2)


def test_throttling_by_403_with_retry_after_is_waited_out(settings, kpi_server):
    body = {"data": [{"agent": "agent0@example.com", "aht": 300, "at": BASE.isoformat()}]}
    kpi_server.route("/tickets", Reply(status=403, body={"message": "API rate limit exceeded"},
                                       headers={"Retry-After": "1"}), Reply(body=body))
    settings.ACTIVATION_METRIC_SOURCES = {"crm": rest_source(kpi_server, "/tickets", records="data", mapping={
        "external_id": "agent", "metric": "'aht'", "value": "aht", "observed_at": "at"})}
    started = time.monotonic()
    assert pull.pull("crm")["stored"] == 1
    assert time.monotonic() - started >= 0.9


def test_rfc_8288_link_headers_carry_the_next_page(settings, kpi_server):
    """GitHub and many REST APIs: ``Link: <…?page=2>; rel="next", <…>; rel="last"``."""
    def page(query):
        number = int(query.get("page", 1))
        links = [f'<{kpi_server.url("/events")}?page={number + 1}>; rel="next"'] if number < 3 else []
        links.append(f'<{kpi_server.url("/events")}?page=3>; rel="last"')
        return Reply(body=[{"login": "agent2@example.com", "n": number, "at": (
            BASE + timedelta(hours=number)).isoformat()}], headers={"Link": ", ".join(links)})
    kpi_server.route("/events", page)
    settings.ACTIVATION_METRIC_SOURCES = {"github": rest_source(
        kpi_server, "/events", pagination={"style": "link_header"}, headers={"Accept": "application/vnd.github+json"},
        mapping={"external_id": "login", "metric": "'prs_merged'", "value": "n", "observed_at": "at"})}
    assert pull.pull("github")["stored"] == 3
    assert kpi_server.requests[0]["headers"]["Accept"] == "application/vnd.github+json"
    assert link_next({"Link": '<https://x/a?p=2>; rel="prev", <https://x/a?p=4>; rel=next'}) == "https://x/a?p=4"


def test_zendesk_incremental_export_with_end_of_stream_epoch_since_and_sideloaded_users(settings, kpi_server):
    """Zendesk: ``start_time`` in epoch seconds, ``end_of_stream``, and assignee ids joined to the sideloaded users."""
    users = [{"id": 10 + n, "email": f"agent{n}@example.com"} for n in range(3)]

    def export(query):
        start = int(query["start_time"])
        tickets = [{"id": 500 + n, "assignee_id": 10 + n % 3, "satisfaction": 4 + n % 2,
                    "solved_at": int((BASE + timedelta(minutes=n)).timestamp())} for n in range(6)
                   if int((BASE + timedelta(minutes=n)).timestamp()) > start]
        half = int(query.get("page", 0))
        chunk = tickets[half * 3:half * 3 + 3]
        last = half * 3 + 3 >= len(tickets)
        # The last page names itself as next_page, as Zendesk does: only end_of_stream tells the end.
        return Reply(body={"tickets": chunk, "users": users, "end_of_stream": last,
                           "next_page": f"/export?start_time={start}&page={half if last else half + 1}"})
    kpi_server.route("/export", export)
    settings.ACTIVATION_METRIC_SOURCES = {"zendesk": rest_source(
        kpi_server, "/export", params={"start_time": "{since}"}, since_format="epoch", records="tickets",
        join={"list": "users", "key": "id", "field": "assignee_id", "as": "assignee"},
        pagination={"style": "next_link", "next": "next_page", "end": "end_of_stream"},
        mapping={"external_id": "assignee.email", "metric": "'csat'", "value": "satisfaction",
                 "observed_at": "solved_at", "record_id": "id"})}
    first = pull.pull("zendesk")
    assert (first["status"], first["stored"], first["matched"]) == ("ok", 6, 6)
    assert kpi_server.requests[0]["query"]["start_time"] == "0"
    again = pull.pull("zendesk")
    assert again["status"] == "ok" and again["received"] == 0  # epoch since: nothing re-read
    latest = int(MetricObservation.objects.order_by("-observed_at").first().observed_at.timestamp())
    assert kpi_server.requests[-1]["query"]["start_time"] == str(latest)


def test_offset_and_limit_with_a_total(settings, kpi_server):
    """Freshdesk/ServiceNow style: ``sysparm_offset``/``sysparm_limit`` and a total count."""
    rows = [{"sys_id": f"r{n}", "assigned_to": f"agent{n % 3}@example.com", "resolved": (
        BASE + timedelta(minutes=n)).isoformat(), "reopen_count": n % 2} for n in range(25)]
    kpi_server.route("/table", lambda query: Reply(body={"result": rows[int(query["sysparm_offset"]):int(
        query["sysparm_offset"]) + int(query["sysparm_limit"])], "total": 25}))
    settings.ACTIVATION_METRIC_SOURCES = {"servicenow": rest_source(
        kpi_server, "/table", records="result",
        pagination={"style": "offset", "offset_param": "sysparm_offset", "limit_param": "sysparm_limit", "limit": 10,
                    "total": "total"},
        mapping={"external_id": "assigned_to", "metric": "'reopens'", "value": "reopen_count",
                 "observed_at": "resolved", "record_id": "sys_id"})}
    assert pull.pull("servicenow")["stored"] == 25
    assert [request["query"]["sysparm_offset"] for request in kpi_server.requests] == ["0", "10", "20"]


def test_salesforce_soql_with_the_since_inside_the_query(settings, kpi_server):
    """Salesforce: the high-water mark goes inside the SOQL WHERE; relative nextRecordsUrl pages."""
    def query(params):
        soql = params.get("q", "")
        records = [{"Id": "006A", "Owner": {"Email": "agent1@example.com"}, "Amount": 1200,
                    "CloseDate": (BASE + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")}]
        return Reply(body={"totalSize": 1, "done": True, "records": records if "1970-01-01T00:00:00Z" in soql else []})
    kpi_server.route("/services/data/v60.0/query", query)
    settings.ACTIVATION_METRIC_SOURCES = {"salesforce": rest_source(
        kpi_server, "/services/data/v60.0/query", since_format="iso_z",
        params={"q": "SELECT Id, Owner.Email, Amount, CloseDate FROM Opportunity WHERE LastModifiedDate > {since}"},
        records="records", pagination={"style": "next_link", "next": "nextRecordsUrl"},
        mapping={"external_id": "Owner.Email", "metric": "'deal_amount'", "value": "Amount",
                 "observed_at": "CloseDate", "record_id": "Id"})}
    assert pull.pull("salesforce")["stored"] == 1
    assert "LastModifiedDate > 1970-01-01T00:00:00Z" in kpi_server.requests[0]["query"]["q"]
    assert pull.pull("salesforce")["received"] == 0
    stored = MetricObservation.objects.get().observed_at
    assert f"LastModifiedDate > {stored.strftime('%Y-%m-%dT%H:%M:%SZ')}" in kpi_server.requests[-1]["query"]["q"]


def test_hubspot_search_by_post_with_epoch_milliseconds(settings, kpi_server):
    """HubSpot: a POST search body holding the since in epoch milliseconds, times in epoch milliseconds."""
    def search(query):
        body = query["_body"]
        since = int(body["filterGroups"][0]["filters"][0]["value"])
        deals = [{"id": str(900 + n), "properties": {"owner_email": f"agent{n}@example.com", "amount": str(100 * n),
                                                     "closedate": int((BASE + timedelta(hours=n)).timestamp() * 1000)}}
                 for n in range(3) if int((BASE + timedelta(hours=n)).timestamp() * 1000) > since]
        return Reply(body={"results": deals, "paging": {}})
    kpi_server.route("/crm/v3/objects/deals/search", search)
    settings.ACTIVATION_METRIC_SOURCES = {"hubspot": rest_source(
        kpi_server, "/crm/v3/objects/deals/search", method="POST", since_format="epoch_ms",
        body={"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT",
                                             "value": "{since}"}]}], "limit": 100},
        records="results", pagination={"style": "cursor", "next_cursor": "paging.next.after", "cursor_param": "after"},
        mapping={"external_id": "properties.owner_email", "metric": "'deal_amount'",
                 "value": "to_number(properties.amount)", "observed_at": "properties.closedate", "record_id": "id"})}
    assert pull.pull("hubspot")["stored"] == 3
    assert kpi_server.requests[0]["method"] == "POST"
    stored = MetricObservation.objects.order_by("observed_at").first().observed_at
    assert abs(stored - BASE) < timedelta(seconds=1)  # epoch milliseconds, not refused as out of range
    assert pull.pull("hubspot")["received"] == 0


def test_oauth2_client_credentials_fetches_a_token_once_and_refreshes_it_on_401(settings, kpi_server):
    tokens = iter(["token-1", "token-2"])
    kpi_server.route("/oauth/token", lambda query: Reply(body={"access_token": next(tokens), "expires_in": 3600}))
    answers = {"token-1": [Reply(body={"data": []}), Reply(status=401, body={})], "token-2": [Reply(body={"data": []})]}
    seen = []

    def api(query):
        token = kpi_server.requests[-1]["headers"].get("Authorization", "").removeprefix("Bearer ")
        seen.append(token)
        return answers[token].pop(0)
    kpi_server.route("/workers", api)
    settings.ACTIVATION_METRIC_SOURCES = {"workday": rest_source(
        kpi_server, "/workers", records="data",
        auth={"type": "oauth2", "token_url": kpi_server.url("/oauth/token"), "client_id": "activation",
              "client_secret": "client-s3cret", "scope": "reports"},
        mapping={"external_id": "email", "metric": "'x'", "value": "v", "observed_at": "at"})}
    assert pull.pull("workday")["status"] == "ok"
    assert pull.pull("workday")["status"] == "ok"  # the cached token got a 401: refreshed once, then fine
    assert seen == ["token-1", "token-1", "token-2"]
    token_requests = [r for r in kpi_server.requests if r["path"] == "/oauth/token"]
    assert token_requests[0]["body"]["client_secret"] == ["client-s3cret"]
    assert token_requests[0]["body"]["grant_type"] == ["client_credentials"]
    assert "client-s3cret" not in MetricSource.objects.get(name="workday").last_error


def test_jira_search_with_start_at_max_results_and_total(settings, kpi_server):
    issues = [{"key": f"SUP-{n}", "fields": {"assignee": {"emailAddress": f"agent{n % 3}@example.com"},
                                             "resolutiondate": (BASE + timedelta(minutes=n)).isoformat(),
                                             "customfield_10016": n % 5}} for n in range(7)]
    kpi_server.route("/rest/api/3/search", lambda query: Reply(body={
        "startAt": int(query["startAt"]), "maxResults": 3, "total": 7,
        "issues": issues[int(query["startAt"]):int(query["startAt"]) + int(query["maxResults"])]}))
    settings.ACTIVATION_METRIC_SOURCES = {"jira": rest_source(
        kpi_server, "/rest/api/3/search", params={"jql": "resolved >= '{since}' ORDER BY resolved ASC"},
        since_format="date", records="issues",
        pagination={"style": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 3,
                    "total": "total"},
        mapping={"external_id": "fields.assignee.emailAddress", "metric": "'story_points'",
                 "value": "fields.customfield_10016", "observed_at": "fields.resolutiondate", "record_id": "key"})}
    assert pull.pull("jira")["stored"] == 7
    assert [request["query"]["startAt"] for request in kpi_server.requests] == ["0", "3", "6"]
    assert kpi_server.requests[0]["query"]["jql"] == "resolved >= '1970-01-01' ORDER BY resolved ASC"


def test_freshdesk_updated_since_with_link_headers_and_an_api_key(settings, kpi_server):
    def tickets(query):
        page = int(query.get("page", 1))
        headers = {"Link": f'<{kpi_server.url("/api/v2/tickets")}?page={page + 1}>; rel="next"'} if page < 2 else {}
        return Reply(body=[{"id": page * 10 + n, "responder_email": "agent0@example.com", "updated_at": (
            BASE + timedelta(minutes=page * 10 + n)).isoformat(), "stats": {"first_responded_minutes": 30 + n}}
            for n in range(2)], headers=headers)
    kpi_server.route("/api/v2/tickets", tickets)
    settings.ACTIVATION_METRIC_SOURCES = {"freshdesk": rest_source(
        kpi_server, "/api/v2/tickets", auth={"type": "basic", "username": "api-key-value", "password": "X"},
        since_param="updated_since", pagination={"style": "link_header"},
        mapping={"external_id": "responder_email", "metric": "'first_response_minutes'",
                 "value": "stats.first_responded_minutes", "observed_at": "updated_at", "record_id": "id"})}
    assert pull.pull("freshdesk")["stored"] == 4
    assert kpi_server.requests[0]["headers"]["Authorization"].startswith("Basic ")
    pull.pull("freshdesk")
    assert "updated_since" not in kpi_server.requests[0]["query"] and "updated_since" in kpi_server.requests[2]["query"]


def test_operators_test_a_source_and_nothing_is_stored(settings, kpi_server, client, agents):
    kpi_server.route("/tickets", Reply(body={"data": [
        {"id": 1, "agent": "agent0@example.com", "aht": 300, "at": BASE.isoformat()},
        {"id": 2, "agent": "stranger@example.com", "aht": 250, "at": BASE.isoformat()},
        {"id": 3, "agent": "agent1@example.com", "aht": "n/a", "at": BASE.isoformat()}], "next": "/tickets?p=2"}),
        Reply(body={"data": [], "next": None}))
    settings.ACTIVATION_METRIC_SOURCES = {"crm": rest_source(
        kpi_server, "/tickets", records="data", pagination={"style": "next_link", "next": "next"},
        auth={"type": "bearer", "token": "t0ken-s3cret"},
        mapping={"external_id": "agent", "metric": "'aht'", "value": "aht", "observed_at": "at", "record_id": "id"})}
    client.force_login(UserFactory(is_staff=True))
    page = client.post(reverse("activation_plugin:kpi_source_test", kwargs={"name": "crm"})).content.decode()
    assert 'data-tried="ok"' in page and 'data-match="matched"' in page and 'data-match="unmatched"' in page
    assert "data-rejected" in page
    assert len(kpi_server.requests) == 2  # the whole pull: both pages
    assert not MetricObservation.objects.exists()
    source = MetricSource.objects.get(name="crm")
    assert (source.cursor, source.last_run_at, source.records_pulled) == ("", None, 0)
    kpi_server.route("/tickets", Reply(status=401, body={}))
    failed = client.post(reverse("activation_plugin:kpi_source_test", kwargs={"name": "crm"})).content.decode()
    assert 'data-tried="error"' in failed and "HTTP 401" in failed and "t0ken-s3cret" not in failed
