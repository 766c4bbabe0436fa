"""
Issue 28: the cursor follows the field the API filters on (its modification time), with an overlap,
and a record the API identifies is one observation however often it is delivered.
"""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from activation_plugin import api
from activation_plugin.kpi import pull
from activation_plugin.models import MetricObservation, MetricSource
from tests.kpi_server import Reply, rest_source

NOW = timezone.now().replace(microsecond=0)


pytestmark = pytest.mark.usefixtures("agents")


def stamp(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deals_api(kpi_server, deals):
    """Salesforce-like: ``LastModifiedDate > since`` to the second, the close date a separate field."""
    def query(params):
        since = datetime.fromisoformat(params["since"].replace("Z", "+00:00")) if "since" in params else None
        chosen = [deal for deal in deals if since is None or deal["LastModifiedDate"] > since]
        return Reply(body={"done": True, "records": [
            {**deal, "LastModifiedDate": stamp(deal["LastModifiedDate"]), "CloseDate": deal["CloseDate"].isoformat()}
            for deal in chosen]})
    kpi_server.route("/query", query)


SOURCE = {"records": "records", "since_param": "since", "since_format": "iso_z",
          "mapping": {"external_id": "Owner", "metric": "'deal_amount'", "value": "Amount", "observed_at": "CloseDate",
                      "record_id": "Id", "modified_at": "LastModifiedDate"}}


def test_the_cursor_is_the_api_s_modification_time_read_with_an_overlap(settings, kpi_server):
    """
    The cursor was the latest close date: a deal closing later than it was last edited moved it past
    deals saved afterwards, and one saved in the cursor's second was lost to the strict ``>``.
    """
    saved = NOW - timedelta(hours=2)
    deals = [{"Id": "A", "Owner": "agent0@example.com", "Amount": 10, "LastModifiedDate": saved,
              "CloseDate": NOW - timedelta(minutes=1)}]
    deals_api(kpi_server, deals)
    settings.ACTIVATION_METRIC_SOURCES = {"sf": rest_source(kpi_server, "/query", lookback_seconds=60, **SOURCE)}
    assert pull.pull("sf")["stored"] == 1
    assert MetricSource.objects.get(name="sf").cursor == saved.isoformat()
    deals += [{"Id": "B", "Owner": "agent1@example.com", "Amount": 20, "LastModifiedDate": saved,  # same second
               "CloseDate": NOW - timedelta(days=2)},
              {"Id": "C", "Owner": "agent2@example.com", "Amount": 30, "LastModifiedDate": saved + timedelta(
                  minutes=30), "CloseDate": NOW - timedelta(days=3)}]  # late: dated before everything stored
    second = pull.pull("sf")
    assert (second["stored"], second["duplicates"]) == (2, 1)  # A read again in the overlap, not stored twice
    assert kpi_server.requests[-1]["query"]["since"] == stamp(saved - timedelta(seconds=60))
    assert sorted(MetricObservation.objects.values_list("record_id", flat=True)) == ["A", "B", "C"]


def test_a_record_dated_in_the_future_is_read_again_once_its_date_has_come(settings, kpi_server):
    """A won deal with a forecast close date was refused once and never read again."""
    deals = [{"Id": "A", "Owner": "agent0@example.com", "Amount": 10, "LastModifiedDate": NOW - timedelta(hours=3),
              "CloseDate": NOW + timedelta(days=10)},
             {"Id": "B", "Owner": "agent1@example.com", "Amount": 20, "LastModifiedDate": NOW - timedelta(hours=1),
              "CloseDate": NOW - timedelta(hours=2)}]
    deals_api(kpi_server, deals)
    settings.ACTIVATION_METRIC_SOURCES = {"sf": rest_source(kpi_server, "/query", **SOURCE)}
    first = pull.pull("sf")
    assert (first["stored"], first["future"]) == (1, 1)
    assert pull.pull("sf")["future"] == 1  # still read while its date is ahead
    later = pull.pull("sf", now=NOW + timedelta(days=11))
    assert later["stored"] == 1
    assert sorted(MetricObservation.objects.values_list("record_id", flat=True)) == ["A", "B"]
    assert MetricSource.objects.get(name="sf").cursor == (NOW - timedelta(hours=1)).isoformat()


def ticket(number, solved, csat, assignee="agent0@example.com"):
    return {"id": number, "assignee": assignee, "solved_at": solved.isoformat(), "csat": csat}


def test_a_record_delivered_again_with_a_new_time_updates_its_observation(settings, kpi_server):
    """A ticket updated after it was solved became a second observation (223 rows for 220 tickets)."""
    tickets = [ticket(1, NOW - timedelta(days=2), 3), ticket(2, NOW - timedelta(days=2), 4)]
    kpi_server.route("/tickets", lambda query: Reply(body={"tickets": tickets}))
    settings.ACTIVATION_METRIC_SOURCES = {"zd": rest_source(
        kpi_server, "/tickets", records="tickets",
        mapping={"external_id": "assignee", "metric": "'csat'", "value": "csat", "observed_at": "solved_at",
                 "record_id": "id"})}
    assert pull.pull("zd")["stored"] == 2
    tickets[0] = ticket(1, NOW - timedelta(days=1), 5)  # reopened, solved again, rated again
    tickets[1] = ticket(2, NOW - timedelta(days=2), 4, assignee="agent1@example.com")  # reassigned
    again = pull.pull("zd")
    assert (again["stored"], again["updated"], again["duplicates"]) == (0, 2, 0)
    assert sorted(MetricObservation.objects.values_list("record_id", "external_id", "value", "observed_at")) == [
        ("1", "agent0@example.com", 5.0, NOW - timedelta(days=1)),
        ("2", "agent1@example.com", 4.0, NOW - timedelta(days=2))]
    assert pull.pull("zd")["duplicates"] == 2  # a replay changes nothing


def test_copies_of_one_record_stored_before_are_folded_into_one():
    """Rows the earlier key kept apart (one per solve time) become the one observation of their record."""
    source = MetricSource.objects.create(name="zd", kind="rest")
    for days in (3, 2):
        api.ingest_observations(source, [{"external_id": "agent0@example.com", "metric": "csat", "value": days,
                                          "observed_at": (NOW - timedelta(days=days)).isoformat()}])
    MetricObservation.objects.update(record_id="1")  # as the old key let them be stored
    result = api.ingest_observations(source, [{"external_id": "agent0@example.com", "metric": "csat", "value": 5,
                                               "observed_at": (NOW - timedelta(days=1)).isoformat(), "record_id": 1}])
    assert result["updated"] == 1
    assert list(MetricObservation.objects.values_list("record_id", "value")) == [("1", 5.0)]


def test_a_record_changed_while_the_pull_reads_later_pages_is_read_next_time(settings, kpi_server):
    """The cursor took the latest change seen, later than a change made meanwhile to a page already read."""
    deals = {"A": {"Id": "A", "Owner": "agent0@example.com", "Amount": 10, "CloseDate": NOW - timedelta(days=1),
                   "LastModifiedDate": NOW - timedelta(days=1)}}

    def query(params):
        since = datetime.fromisoformat(params["since"].replace("Z", "+00:00")) if "since" in params else None
        if params.get("page") == "2":  # meanwhile, A is edited, then B is saved
            deals["A"] = {**deals["A"], "Amount": 11, "LastModifiedDate": timezone.now() + timedelta(seconds=1)}
            deals["B"] = {"Id": "B", "Owner": "agent1@example.com", "Amount": 20, "CloseDate": NOW - timedelta(days=1),
                          "LastModifiedDate": timezone.now() + timedelta(seconds=2)}
            chosen = [deals["B"]]
        else:
            chosen = [deal for deal in deals.values() if since is None or deal["LastModifiedDate"] > since]
        return Reply(body={"records": [{**deal, "LastModifiedDate": deal["LastModifiedDate"].isoformat(),
                                        "CloseDate": deal["CloseDate"].isoformat()} for deal in chosen],
                           "nextRecordsUrl": "/query?page=2" if params.get("page") != "2" and since is None else None})
    kpi_server.route("/query", query)
    settings.ACTIVATION_METRIC_SOURCES = {"sf": rest_source(
        kpi_server, "/query", pagination={"style": "next_link", "next": "nextRecordsUrl"}, **SOURCE)}
    assert pull.pull("sf")["stored"] == 2
    assert pull.pull("sf")["updated"] == 1
    assert sorted(MetricObservation.objects.values_list("record_id", "value")) == [("A", 11.0), ("B", 20.0)]
