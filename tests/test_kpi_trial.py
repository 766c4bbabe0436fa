"""
Issue 28: "Test this source" fetched page 1 only and said ok for sources that lose data; it now
runs the whole pull a scheduled run would make, stores nothing, and says where and why it stopped.
"""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activation_plugin.kpi import trial
from activation_plugin.models import MetricObservation, MetricSource
from tests.factories import UserFactory
from tests.kpi_server import Reply

BASE = (timezone.now() - timedelta(days=3)).replace(microsecond=0)


@pytest.fixture(autouse=True)
def agents(db, fast_retries):
    return [UserFactory(username=f"agent{n}", email=f"agent{n}@example.com") for n in range(3)]


def table(kpi_server, rows, hidden=()):
    """ServiceNow's Table API: hidden rows are dropped after the page is cut; the total counts them."""
    def answer(query):
        offset, limit = int(query["sysparm_offset"]), int(query["sysparm_limit"])
        return Reply(body={"result": [row for row in rows[offset:offset + limit] if row["sys_id"] not in hidden]},
                     headers={"X-Total-Count": str(len(rows))})
    kpi_server.route("/api/now/table/incident", answer)


def snow(kpi_server, **extra):
    return {"kind": "rest", "url": kpi_server.url("/api/now/table/incident"), "allowed_hosts": ["127.0.0.1"],
            "allow_private": True, "records": "result",
            "pagination": {"style": "offset", "offset_param": "sysparm_offset", "limit_param": "sysparm_limit",
                           "limit": 10, "total_header": "X-Total-Count"},
            "mapping": {"external_id": "assigned_to", "metric": "'reopens'", "value": "reopen_count",
                        "observed_at": "resolved_at", "record_id": "sys_id"}, **extra}


def rows(count):
    return [{"sys_id": f"r{n}", "assigned_to": f"agent{n % 3}@example.com" if n != 7 else "stranger@example.com",
             "reopen_count": "n/a" if n == 4 else n % 2,
             "resolved_at": (BASE + timedelta(minutes=n) + (timedelta(days=30) if n == 5 else timedelta())).isoformat()}
            for n in range(count)]


def test_the_test_reads_every_page_and_reports_what_a_pull_would_store(settings, kpi_server):
    table(kpi_server, rows(25), hidden={"r12", "r13"})
    settings.ACTIVATION_METRIC_SOURCES = {"snow": snow(kpi_server)}
    tried = trial.try_source("snow")
    assert {key: tried[key] for key in ("status", "pages", "stop", "received", "expected", "rejected", "future",
                                        "repeated", "matched")} == {
        "status": "ok", "pages": 3, "stop": "end", "received": 23, "expected": 25, "rejected": 1, "future": 1,
        "repeated": 0, "matched": 20}
    assert len(tried["rows"]) == trial.TRY_ROWS
    assert not MetricObservation.objects.exists()
    assert MetricSource.objects.get(name="snow").last_run_at is None


def test_the_test_says_a_pull_would_stop_at_max_pages(settings, kpi_server, client):
    table(kpi_server, rows(45))
    settings.ACTIVATION_METRIC_SOURCES = {"snow": snow(kpi_server, max_pages=2)}
    client.force_login(UserFactory(is_staff=True))
    page = client.post(reverse("activation_plugin:kpi_source_test", kwargs={"name": "snow"})).content.decode()
    assert 'data-tried="partial"' in page and 'data-stop="max_pages"' in page and "max_pages" in page
    assert len(kpi_server.requests) == 2


def test_the_test_stops_at_its_own_page_limit_and_says_so(settings, kpi_server, monkeypatch):
    monkeypatch.setattr(trial, "TRY_MAX_PAGES", 2)
    table(kpi_server, rows(45))
    settings.ACTIVATION_METRIC_SOURCES = {"snow": snow(kpi_server)}
    tried = trial.try_source("snow")
    assert (tried["status"], tried["stop"], tried["pages"], tried["received"]) == ("ok", "test_limit", 2, 20)


def test_records_delivered_twice_in_one_pull_are_reported(settings, kpi_server):
    """Offset pages that shift while they are read deliver a record twice and skip another."""
    data = rows(20)
    table(kpi_server, data[:10] + data[9:19])
    settings.ACTIVATION_METRIC_SOURCES = {"snow": snow(kpi_server)}
    assert trial.try_source("snow")["repeated"] == 1
