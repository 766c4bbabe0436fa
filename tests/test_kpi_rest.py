"""The generic REST connector against a real local HTTP server: pagination, retries, guards, cursor."""
import logging
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin.kpi import pull
from activation_plugin.models import MetricObservation, MetricSource
from tests.factories import UserFactory
from tests.kpi_server import Reply

MAPPING = {"external_id": "agent", "metric": "'handle_time'", "value": "aht", "observed_at": "at"}
TOKEN = "s3cret-token-value"


def declare(settings, server, name="crm", **config):
    config = {"kind": "rest", "url": server.url("/tickets"), "allowed_hosts": ["127.0.0.1"],
              "allow_private": True, "records": "data", "mapping": MAPPING, **config}
    settings.ACTIVATION_METRIC_SOURCES = {name: config}
    return config


def records(start, count, agent="ann@example.com"):
    base = timezone.now() - timedelta(days=3)
    return [{"agent": agent, "aht": 300 - n, "at": (base + timedelta(minutes=n)).isoformat()}
            for n in range(start, start + count)]


@pytest.fixture(autouse=True)
def ann(db, fast_retries):
    return UserFactory(username="ann", email="ann@example.com")


def test_next_link_pages_are_stored_matched_and_a_second_run_changes_nothing(settings, kpi_server, ann):
    declare(settings, kpi_server, since_param="since",
            pagination={"style": "next_link", "next": "links.next"})
    kpi_server.route("/tickets", lambda query: Reply(body={
        "data": records(int(query.get("offset", 0)), 2), "links": {
            "next": f"/tickets?offset={int(query.get('offset', 0)) + 2}" if int(query.get("offset", 0)) < 4 else None},
    }) if "since" not in query else Reply(body={"data": [], "links": {}}))
    result = pull.pull("crm")
    assert result["status"] == "ok" and result["stored"] == 6 and result["matched"] == 6
    assert set(MetricObservation.objects.values_list("user_id", flat=True)) == {ann.pk}
    source = MetricSource.objects.get(name="crm")
    latest = MetricObservation.objects.order_by("-observed_at").first().observed_at
    assert source.cursor == latest.isoformat() and source.records_pulled == 6
    again = pull.pull("crm")
    assert again["stored"] == 0 and MetricObservation.objects.count() == 6
    assert kpi_server.requests[-1]["query"]["since"] == latest.isoformat()


def test_a_replayed_page_changes_nothing(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(body={"data": records(0, 3)}))
    pull.pull("crm")
    again = pull.pull("crm")
    assert (again["stored"], again["duplicates"]) == (0, 3)
    assert MetricObservation.objects.count() == 3
    assert MetricSource.objects.get(name="crm").duplicates_dropped == 3


def test_cursor_pagination_sends_the_cursor_back(settings, kpi_server):
    declare(settings, kpi_server, pagination={"style": "cursor", "next_cursor": "meta.next", "cursor_param": "after"})
    pages = {None: ("c1", 0), "c1": ("c2", 2), "c2": (None, 4)}
    kpi_server.route("/tickets", lambda query: Reply(body={
        "data": records(pages[query.get("after")][1], 2), "meta": {"next": pages[query.get("after")][0]}}))
    assert pull.pull("crm")["stored"] == 6
    assert [request["query"].get("after") for request in kpi_server.requests] == [None, "c1", "c2"]


def test_page_number_pagination_stops_at_an_empty_page(settings, kpi_server):
    declare(settings, kpi_server, pagination={"style": "page", "page_param": "p", "start": 1})
    kpi_server.route("/tickets", lambda query: Reply(body={"data": records(int(query["p"]) * 10, 2)
                                                           if int(query["p"]) <= 3 else []}))
    assert pull.pull("crm")["stored"] == 6
    assert [request["query"]["p"] for request in kpi_server.requests] == ["1", "2", "3", "4"]


def test_5xx_and_connection_trouble_are_retried_then_succeed(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(status=503), Reply(status=500), Reply(body={"data": records(0, 1)}))
    result = pull.pull("crm")
    assert result["status"] == "ok" and result["stored"] == 1 and len(kpi_server.requests) == 3


def test_429_waits_for_retry_after(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(status=429, headers={"Retry-After": "0.4"}), Reply(body={"data": records(0, 1)}))
    started = time.monotonic()
    assert pull.pull("crm")["status"] == "ok"
    assert time.monotonic() - started >= 0.4  # the backoff alone would be 0.01-0.02 s


def test_429_retry_after_is_capped(settings, kpi_server):
    settings.ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS = 0.1
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(status=429, headers={"Retry-After": "3600"}), Reply(body={"data": []}))
    started = time.monotonic()
    assert pull.pull("crm")["status"] == "ok"
    assert time.monotonic() - started < 5


def test_a_source_that_keeps_timing_out_fails_keeps_its_cursor_and_is_marked_failing(settings, kpi_server):
    settings.ACTIVATION_METRIC_FAILING_AFTER = 2
    declare(settings, kpi_server)
    MetricSource.objects.create(name="crm", kind="rest", cursor="2026-01-01T00:00:00+00:00")
    kpi_server.route("/tickets", Reply(body={"data": records(0, 1)}, delay=1.0))
    first = pull.pull("crm")
    assert first["status"] == "error" and "timed out" in first["error"]
    assert len(kpi_server.requests) == 3  # ACTIVATION_METRIC_MAX_ATTEMPTS
    source = MetricSource.objects.get(name="crm")
    assert (source.failing, source.consecutive_failures, source.cursor) == (False, 1, "2026-01-01T00:00:00+00:00")
    pull.pull("crm")
    source.refresh_from_db()
    assert source.failing and source.last_status == "error" and MetricObservation.objects.count() == 0
    kpi_server.route("/tickets", Reply(body={"data": records(0, 1)}))
    pull.pull("crm")
    source.refresh_from_db()
    assert not source.failing and source.consecutive_failures == 0 and source.last_error == ""


def test_the_cursor_never_passes_a_page_that_failed(settings, kpi_server):
    declare(settings, kpi_server, pagination={"style": "page", "page_param": "p"})
    kpi_server.route("/tickets", lambda query: Reply(body={"data": records(0, 2)}) if query["p"] == "1"
                     else Reply(status=502))
    result = pull.pull("crm")
    assert result["status"] == "error" and result["stored"] == 2  # page 1 committed, kept
    assert MetricSource.objects.get(name="crm").cursor == ""


def test_malformed_json_fails_the_run_without_retrying(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(raw=b'{"data": [ {"agent": '))
    result = pull.pull("crm")
    assert result["status"] == "error" and "malformed JSON" in result["error"]
    assert len(kpi_server.requests) == 1


def test_records_that_are_not_a_list_fail_the_run(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(body={"data": {"agent": "x"}}))
    assert "did not find a list" in pull.pull("crm")["error"]


def test_an_oversize_body_is_refused(settings, kpi_server):
    settings.ACTIVATION_METRIC_MAX_RESPONSE_BYTES = 1000
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(body={"data": records(0, 50)}))
    result = pull.pull("crm")
    assert result["status"] == "error" and "larger than 1000 bytes" in result["error"]
    assert MetricObservation.objects.count() == 0


def test_redirects_are_followed_only_within_the_allowlist(settings, kpi_server):
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(status=302, headers={"Location": "/v2/tickets"}))
    kpi_server.route("/v2/tickets", Reply(body={"data": records(0, 1)}))
    assert pull.pull("crm")["stored"] == 1
    port = kpi_server.httpd.server_address[1]
    kpi_server.route("/tickets", Reply(status=302, headers={"Location": f"http://localhost:{port}/v2/tickets"}))
    result = pull.pull("crm")
    assert result["status"] == "error" and "localhost: not in the source's allowed_hosts" in result["error"]


def test_a_private_address_is_refused_unless_the_operator_allows_it(settings, kpi_server):
    declare(settings, kpi_server, allow_private=False)
    kpi_server.route("/tickets", Reply(body={"data": records(0, 1)}))
    result = pull.pull("crm")
    assert result["status"] == "error" and "private or local address" in result["error"]
    assert kpi_server.requests == []  # nothing was sent


def test_a_redirect_to_a_private_address_is_refused(settings, kpi_server):
    # Only the test server's own host may be private; the redirect target is allowed by name but not by address.
    declare(settings, kpi_server, allowed_hosts=["127.0.0.1", "10.0.0.1"], allow_private=["127.0.0.1"])
    kpi_server.route("/tickets", Reply(status=307, headers={"Location": "http://10.0.0.1/admin"}))
    result = pull.pull("crm")
    assert "10.0.0.1: it resolves to a private or local address" in result["error"]
    assert len(kpi_server.requests) == 1


def test_a_host_outside_the_allowlist_is_never_contacted(settings, kpi_server):
    declare(settings, kpi_server, allowed_hosts=["api.example.com"])
    result = pull.pull("crm")
    assert "not in the source's allowed_hosts" in result["error"] and kpi_server.requests == []


@pytest.mark.parametrize("auth, header, expected", [
    ({"type": "bearer", "token": TOKEN}, "Authorization", f"Bearer {TOKEN}"),
    ({"type": "basic", "username": "api", "password": TOKEN}, "Authorization",
     "Basic YXBpOnMzY3JldC10b2tlbi12YWx1ZQ=="),
    ({"type": "header", "header": "X-API-Key", "value_env": "KPI_TEST_KEY"}, "X-API-Key", TOKEN),
])
def test_auth_styles_send_their_secret_and_never_leak_it(settings, kpi_server, monkeypatch, caplog, auth, header,
                                                         expected):
    monkeypatch.setenv("KPI_TEST_KEY", TOKEN)
    declare(settings, kpi_server, auth=auth)
    kpi_server.route("/tickets", Reply(status=500, body={"error": f"bad token {TOKEN}"}))
    with caplog.at_level(logging.DEBUG):
        result = pull.pull("crm")
    assert kpi_server.requests[0]["headers"][header] == expected
    source = MetricSource.objects.get(name="crm")
    for text in (result["error"], source.last_error, caplog.text, repr(source.__dict__), str(source.mapping)):
        assert TOKEN not in text


def test_bad_records_are_counted_and_future_ones_refused(settings, kpi_server):
    declare(settings, kpi_server)
    future = (timezone.now() + timedelta(days=2)).isoformat()
    kpi_server.route("/tickets", Reply(body={"data": [
        *records(0, 2), {"agent": "ann@example.com", "aht": "fast", "at": "2026-01-01"},
        {"agent": "", "aht": 1, "at": "2026-01-01"}, {"agent": "ann@example.com", "aht": 1, "at": future}, 7,
    ]}))
    result = pull.pull("crm")
    assert (result["stored"], result["rejected"], result["future"]) == (2, 3, 1)
    source = MetricSource.objects.get(name="crm")
    assert (source.records_rejected, source.future_dropped, source.records_pulled) == (3, 1, 6)


def test_due_sources_follow_their_schedule(settings, kpi_server):
    declare(settings, kpi_server, schedule_minutes=30)
    kpi_server.route("/tickets", Reply(body={"data": []}))
    assert pull.due_sources() == ["crm"]
    pull.pull("crm")
    assert pull.due_sources() == []
    assert pull.due_sources(now=timezone.now() + timedelta(minutes=31)) == ["crm"]


def test_a_dns_answer_that_changes_after_the_check_never_reaches_the_other_address(settings, kpi_server,
                                                                                   monkeypatch):
    """
    DNS rebinding: the check resolves crm.test to the KPI API, the connection's own lookup to an
    internal service on 127.0.0.2 (both servers real; DNS, and which address counts as public, are
    faked at the edge). The request and its Authorization header go to the address that was checked.
    """
    from activation_plugin.kpi import http  # pylint: disable=import-outside-toplevel
    from tests.kpi_server import KpiServer  # pylint: disable=import-outside-toplevel

    port = kpi_server.httpd.server_address[1]
    real_getaddrinfo, answers = socket.getaddrinfo, iter(["127.0.0.1"])

    def rebinding(host, *args, **kwargs):
        if host != "crm.test":
            return real_getaddrinfo(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "127.0.0.2"), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(http, "_address_public", lambda address: address == "127.0.0.1")
    with KpiServer(("127.0.0.2", port)) as internal:
        declare(settings, kpi_server, url=f"http://crm.test:{port}/tickets", allowed_hosts=["crm.test"],
                allow_private=False, auth={"type": "bearer", "token": TOKEN})
        kpi_server.route("/tickets", Reply(body={"data": records(0, 1)}))
        result = pull.pull("crm")
        assert internal.requests == []
    assert result["stored"] == 1, result
    assert kpi_server.requests[-1]["headers"]["Host"] == f"crm.test:{port}"
    assert kpi_server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_a_deeply_nested_page_fails_the_run_clearly_and_the_next_source_still_runs(settings, kpi_server):
    """100,000 nested brackets used to raise RecursionError out of the pull: nothing recorded, --all stopped."""
    declare(settings, kpi_server)
    kpi_server.route("/tickets", Reply(raw=b"[" * 100_000 + b"]" * 100_000))
    result = pull.pull("crm")
    assert result["status"] == "error" and "nested more than 64 levels" in result["error"]
    assert MetricSource.objects.get(name="crm").last_status == "error"


def test_another_port_of_an_allowed_host_is_refused_and_credentials_stay_with_the_sources_origin(settings,
                                                                                                 kpi_server):
    """The allow-list ignored ports, and a redirect elsewhere took the source's Authorization header along."""
    from tests.kpi_server import KpiServer  # pylint: disable=import-outside-toplevel
    with KpiServer() as other:
        other_port = other.httpd.server_address[1]
        other.route("/v2/tickets", Reply(body={"data": records(0, 1)}))
        kpi_server.route("/tickets", Reply(status=302, headers={"Location": other.url("/v2/tickets")}))
        declare(settings, kpi_server, auth={"type": "bearer", "token": TOKEN})
        result = pull.pull("crm")
        assert result["status"] == "error"
        assert f"127.0.0.1:{other_port}: that port is not in the source's allowed_hosts" in result["error"]
        assert other.requests == []
        declare(settings, kpi_server, auth={"type": "bearer", "token": TOKEN},
                allowed_hosts=["127.0.0.1", f"127.0.0.1:{other_port}"])
        assert pull.pull("crm")["stored"] == 1
        assert kpi_server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert "Authorization" not in other.requests[-1]["headers"]
