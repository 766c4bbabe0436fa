"""
Issue 28: paging that held on a fake but lost records against the real services (cursors in a POST
body, offsets cut by the server, a page limit reached, GraphQL errors sent with HTTP 200).
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin.kpi import pull
from activation_plugin.models import MetricObservation, MetricSource
from tests.kpi_server import Reply, rest_source

BASE = (timezone.now() - timedelta(days=3)).replace(microsecond=0)


pytestmark = pytest.mark.usefixtures("agents")


def issue(n):
    return {"key": f"SUP-{n}", "fields": {"assignee": {"emailAddress": f"agent{n % 3}@example.com"},
                                          "resolutiondate": (BASE + timedelta(minutes=n)).isoformat(),
                                          "customfield_10016": n % 5}}


JIRA_MAPPING = {"external_id": "fields.assignee.emailAddress", "metric": "'story_points'",
                "value": "fields.customfield_10016", "observed_at": "fields.resolutiondate", "record_id": "key"}


def test_jira_post_search_sends_start_at_in_the_body(settings, kpi_server):
    """Jira POST /search read startAt from the body; the offset went to the URL: 50 of 260, status ok."""
    issues = [issue(n) for n in range(260)]

    def search(query):
        body = query["_body"]
        start, size = body.get("startAt", 0), min(body.get("maxResults", 50), 100)
        return Reply(body={"startAt": start, "maxResults": size, "total": 260, "issues": issues[start:start + size]})
    kpi_server.route("/rest/api/2/search", search)
    settings.ACTIVATION_METRIC_SOURCES = {"jira": rest_source(
        kpi_server, "/rest/api/2/search", method="POST", body={"jql": "project = SUP", "fields": ["assignee"]},
        records="issues", pagination={"style": "offset", "offset_param": "startAt", "limit_param": "maxResults",
                                      "limit": 50, "total": "total"}, mapping=JIRA_MAPPING)}
    result = pull.pull("jira")
    assert (result["status"], result["stored"]) == ("ok", 260)
    assert all(request["query"] == {} for request in kpi_server.requests)


def test_a_cursor_goes_into_a_nested_post_body_for_graphql(settings, kpi_server):
    """GraphQL: ``variables.after``; the cursor went to the URL and page 1 came back ("same next page")."""
    nodes = [{"id": f"d{n}", "owner": f"agent{n % 3}@example.com", "amount": n, "closedAt": (
        BASE + timedelta(minutes=n)).isoformat()} for n in range(7)]

    def graphql(query):
        after = query["_body"]["variables"].get("after")
        start = 0 if after is None else int(after)
        chunk = nodes[start:start + 3]
        return Reply(body={"data": {"deals": {"nodes": chunk, "pageInfo": {
            "endCursor": str(start + 3), "hasNextPage": start + 3 < len(nodes)}}}})
    kpi_server.route("/graphql", graphql)
    settings.ACTIVATION_METRIC_SOURCES = {"gql": rest_source(
        kpi_server, "/graphql", method="POST",
        body={"query": "query($after: String) { deals(after: $after) { nodes { id } } }", "variables": {}},
        records="data.deals.nodes",
        pagination={"style": "cursor", "next_cursor": "data.deals.pageInfo.endCursor",
                    "cursor_param": "variables.after", "end": "data.deals.pageInfo.hasNextPage == `false`"},
        mapping={"external_id": "owner", "metric": "'deal_amount'", "value": "amount", "observed_at": "closedAt",
                 "record_id": "id"})}
    result = pull.pull("gql")
    assert (result["status"], result["stored"]) == ("ok", 7)
    assert [request["body"]["variables"].get("after") for request in kpi_server.requests] == [None, "3", "6"]
    assert kpi_server.requests[0]["body"]["query"].startswith("query(")


def servicenow_route(kpi_server, rows, hidden, total_in):
    """Rows the integration user may not see are dropped after the page is cut, as ServiceNow's ACLs do."""
    def table(query):
        offset, limit = int(query["sysparm_offset"]), int(query["sysparm_limit"])
        visible = [row for row in rows[offset:offset + limit] if row["sys_id"] not in hidden]
        total = str(len(rows))
        return Reply(body={"result": visible, **({"total": len(rows)} if total_in == "body" else {})},
                     headers={"X-Total-Count": total} if total_in == "header" else {})
    kpi_server.route("/api/now/table/incident", table)


@pytest.mark.parametrize("total_in", ["header", "none"])
def test_offset_paging_goes_on_past_short_pages_to_the_total_or_an_empty_page(settings, kpi_server, total_in):
    """ServiceNow cut pages then dropped hidden rows: the first short page ended the run (95 of 320, ok)."""
    rows = [{"sys_id": f"r{n}", "assigned_to": f"agent{n % 3}@example.com", "reopen_count": n % 2,
             "resolved_at": (BASE + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S")} for n in range(320)]
    hidden = {f"r{n}" for n in range(0, 320, 19)} | {f"r{n}" for n in range(200, 300)}  # one page all hidden
    servicenow_route(kpi_server, rows, hidden, total_in)
    pagination = {"style": "offset", "offset_param": "sysparm_offset", "limit_param": "sysparm_limit", "limit": 100}
    if total_in == "header":
        pagination["total_header"] = "X-Total-Count"
    settings.ACTIVATION_METRIC_SOURCES = {"snow": rest_source(
        kpi_server, "/api/now/table/incident", records="result", pagination=pagination,
        mapping={"external_id": "assigned_to", "metric": "'reopens'", "value": "reopen_count",
                 "observed_at": "resolved_at", "record_id": "sys_id"})}
    result = pull.pull("snow")
    expected = 320 - len(hidden) if total_in == "header" else 200 - len(range(0, 200, 19))
    # Without a total, an empty page is all there is to end on: the page of hidden rows ends the run.
    assert (result["status"], result["stored"]) == ("ok", expected)
    offsets = [request["query"]["sysparm_offset"] for request in kpi_server.requests]
    assert offsets == (["0", "100", "200", "300"] if total_in == "header" else ["0", "100", "200"])


def test_a_server_that_caps_the_page_size_is_paged_by_what_it_sent(settings, kpi_server):
    """Jira caps maxResults at 100: a limit of 200 skipped every second hundred (100 of 260)."""
    issues = [issue(n) for n in range(260)]

    def search(query):
        start, size = int(query["startAt"]), min(int(query["maxResults"]), 100)
        return Reply(body={"startAt": start, "maxResults": size, "total": 260, "issues": issues[start:start + size]})
    kpi_server.route("/rest/api/2/search", search)
    settings.ACTIVATION_METRIC_SOURCES = {"jira": rest_source(
        kpi_server, "/rest/api/2/search", records="issues", mapping=JIRA_MAPPING,
        pagination={"style": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 200,
                    "total": "total"})}
    assert pull.pull("jira")["stored"] == 260
    assert [request["query"]["startAt"] for request in kpi_server.requests] == ["0", "100", "200"]


def test_reaching_max_pages_is_partial_and_keeps_the_cursor(settings, kpi_server):
    """max_pages stopped the run silently: status ok and the cursor past records never read."""
    def page(query):
        number = int(query.get("page", 1))
        return Reply(body=[{"id": number * 10 + n, "agent": "agent1@example.com", "v": 1, "at": (
            BASE - timedelta(days=number) + timedelta(minutes=n)).isoformat()} for n in range(2)]
            if number <= 4 else [])
    kpi_server.route("/items", page)
    settings.ACTIVATION_METRIC_SOURCES = {"crm": rest_source(
        kpi_server, "/items", max_pages=2, pagination={"style": "page"}, since_param="since",
        mapping={"external_id": "agent", "metric": "'x'", "value": "v", "observed_at": "at", "record_id": "id"})}
    result = pull.pull("crm")
    assert result["status"] == "partial" and "2 pages" in result["error"]
    source = MetricSource.objects.get(name="crm")
    assert (source.last_status, source.cursor, source.consecutive_failures) == ("partial", "", 0)
    assert "2 pages" in source.last_error
    assert MetricObservation.objects.count() == 4  # what was read is kept


def test_graphql_errors_sent_with_http_200_are_shown_and_throttling_is_retried(settings, kpi_server):
    """``errors: [{message: RATELIMITED}]`` read as "did not find a list", never retried."""
    ok = {"data": {"deals": {"nodes": [{"id": "d1", "owner": "agent0@example.com", "amount": 5,
                                        "closedAt": BASE.isoformat()}]}}}
    kpi_server.route("/graphql", Reply(body={"data": None, "errors": [{"message": "RATELIMITED"}]}),
                     Reply(body={"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}),
                     Reply(body=ok))
    config = rest_source(kpi_server, "/graphql", method="POST", body={"query": "{ deals { nodes { id } } }"},
                         records="data.deals.nodes",
                         mapping={"external_id": "owner", "metric": "'deal_amount'", "value": "amount",
                                  "observed_at": "closedAt", "record_id": "id"})
    settings.ACTIVATION_METRIC_SOURCES = {"gql": config}
    assert pull.pull("gql")["stored"] == 1
    assert len(kpi_server.requests) == 3
    kpi_server.route("/graphql", Reply(body={"data": None, "errors": [
        {"message": "Field 'deals' doesn't exist on type 'Query'"}]}))
    failed = pull.pull("gql")
    assert failed["status"] == "error" and "Field 'deals' doesn't exist on type 'Query'" in failed["error"]
    assert len(kpi_server.requests) == 4  # a query error is not retried
