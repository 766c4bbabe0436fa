"""Source settings and JMESPath mappings: bad settings fail loudly, odd records never crash ingestion."""
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from activation_plugin import api
from activation_plugin.api.metrics import parse_time
from activation_plugin.kpi import sources
from activation_plugin.kpi.rest import map_record, map_records
from activation_plugin.models import MetricObservation, MetricSource
from tests.kpi_server import Reply

BASE = {"kind": "rest", "url": "https://api.example.com/v1", "allowed_hosts": ["api.example.com"],
        "mapping": {"external_id": "a", "metric": "'m'", "value": "v", "observed_at": "t"}}


@pytest.mark.parametrize("change, message", [
    ({"kind": "ftp"}, "kind must be one of"),
    ({"url": "file:///etc/passwd"}, "'url' must start with https://"),
    ({"allowed_hosts": []}, "'allowed_hosts' must list"),
    ({"mapping": {"external_id": "a"}}, "the mapping lacks metric, value, observed_at"),
    ({"mapping": {**BASE["mapping"], "value": "v[?"}}, "mapping 'value' is not a valid JMESPath"),
    ({"pagination": {"style": "scroll"}}, "pagination style must be one of"),
    ({"auth": {"type": "bearer", "token_env": "KPI_UNSET_VARIABLE"}}, "KPI_UNSET_VARIABLE for 'token' is not set"),
    ({"auth": {"type": "basic", "password": "x"}}, "basic auth needs a 'username'"),
    ({"schedule_minutes": 0}, "schedule_minutes must be"),
    ({"allow_private": "yes"}, "allow_private must be"),
])
def test_bad_source_settings_are_refused_with_the_reason(change, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        sources.parse("crm", {**BASE, **change})


def test_a_config_never_shows_its_secret():
    config = sources.parse("crm", {**BASE, "auth": {"type": "bearer", "token": "tok-123"}})
    assert "tok-123" not in repr(config) and "tok-123" not in str(config.public_mapping())
    assert config.auth.headers() == {"Authorization": "Bearer tok-123"}


JSONISH = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
                       lambda children: st.lists(children, max_size=3) | st.dictionaries(
                           st.sampled_from(["a", "v", "t", "x", "items"]), children, max_size=4), max_leaves=10)
EXPRESSIONS = st.sampled_from(["a", "v", "t", "x.a", "items[0].v", "to_number(v)", "to_string(a)", "length(a)",
                               "sum(items)", "max(items)", "t || a", "abs(v)", "'k'",
                               "join(',', items)", "items[?v > `1`] | [0].v", "keys(@)"])


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(JSONISH, max_size=6), expressions=st.fixed_dictionaries(
    {"external_id": EXPRESSIONS, "metric": EXPRESSIONS, "value": EXPRESSIONS, "observed_at": EXPRESSIONS}))
def test_any_record_under_any_mapping_is_stored_or_counted_never_a_crash(db, records, expressions):
    source, _created = MetricSource.objects.get_or_create(name="fuzz", kind="rest")
    config = sources.parse("fuzz", {**BASE, "mapping": expressions})
    mapped = map_records(config, records)
    # the page-wide projection, when used, must agree with mapping record by record
    assert mapped == [map_record(config.mapping, record) for record in records]
    before = MetricObservation.objects.count()
    result = api.ingest_observations(source, mapped)
    assert result["received"] == len(records)
    accounted = result["stored"] + result["updated"] + result["duplicates"] + result["rejected"] + result["future"]
    assert accounted == len(records)
    assert MetricObservation.objects.count() == before + result["stored"]


def test_a_comparison_jmespath_cannot_make_maps_the_record_to_nothing_and_keeps_the_page():
    """
    jmespath 1.1.0 compares strings with ``>`` and raises a bare TypeError for a string against a
    number: one such record must be rejected, not lose the page (found by the fuzz test above).
    """
    config = sources.parse("fuzz", {**BASE, "mapping": {**BASE["mapping"], "value": "items[?v > `1`] | [0].v"}})
    records = [{"a": "E1", "t": "2026-06-01", "items": [{"v": "high"}]},
               {"a": "E2", "t": "2026-06-01", "items": [{"v": 3}]}]
    mapped = map_records(config, records)
    assert mapped == [{"external_id": None, "metric": None, "value": None, "observed_at": None},
                      {"external_id": "E2", "metric": "m", "value": 3, "observed_at": "2026-06-01"}]
    assert mapped == [map_record(config.mapping, record) for record in records]


def test_parse_time_accepts_iso_and_unix_and_refuses_the_rest():
    assert parse_time("2026-06-01T12:00:00Z") == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert parse_time("2026-06-01 12:00") == datetime(2026, 6, 1, 12, tzinfo=UTC)  # naive: UTC
    assert parse_time(0) == datetime(1970, 1, 1, tzinfo=UTC)
    for bad in ("yesterday", None, True, float("nan"), 1e20, [1]):
        with pytest.raises(Exception, match="time"):
            parse_time(bad)


def test_the_management_command_and_task_pull_sources(settings, kpi_server, fast_retries, db):
    settings.ACTIVATION_METRIC_SOURCES = {
        "crm": {**BASE, "url": kpi_server.url("/x"), "allowed_hosts": ["127.0.0.1"], "allow_private": True,
                "records": "rows"},
        "hook": {"kind": "webhook", "secret": "s"},
    }
    kpi_server.route("/x", Reply(body={"rows": [{"a": "E1", "v": 3, "t": "2026-01-01T00:00:00Z"}]}))
    call_command("activation_pull_metrics", "--source", "crm", stdout=open("/dev/null", "w", encoding="utf-8"))  # noqa: SIM115
    assert MetricObservation.objects.count() == 1
    with pytest.raises(CommandError, match="No rest or python source named 'hook'"):
        call_command("activation_pull_metrics", "--source", "hook")
    from activation_plugin import tasks  # pylint: disable=import-outside-toplevel
    tasks.pull_due_metric_sources.delay()  # eager in the demo host: crm is not due again yet
    assert len(kpi_server.requests) == 1
    kpi_server.route("/x", Reply(status=404))
    with pytest.raises(CommandError, match="1 source"):
        call_command("activation_pull_metrics", "--all", stdout=open("/dev/null", "w", encoding="utf-8"))  # noqa: SIM115
    assert MetricSource.objects.get(name="crm").last_error == "HTTP 404 from 127.0.0.1."


class StaticConnector:
    """A Python connector as an operator would write one: ``pages(cursor)`` yields lists of records."""

    def __init__(self, config):
        self.config = config

    def pages(self, cursor):
        yield [{"external_id": "E1", "metric": "m", "value": 1, "observed_at": "2026-01-01T00:00:00Z"}]
        if not cursor:
            yield [{"external_id": "E2", "metric": "m", "value": 2, "observed_at": "2026-01-02T00:00:00Z"}]


def test_a_python_connector_class_is_pulled_like_a_rest_source(settings, db):
    from activation_plugin.kpi import pull  # pylint: disable=import-outside-toplevel
    settings.ACTIVATION_METRIC_SOURCES = {"hris": {"kind": "python", "class": f"{__name__}.StaticConnector"}}
    assert pull.pull("hris")["stored"] == 2
    assert MetricSource.objects.get(name="hris").cursor == "2026-01-02T00:00:00+00:00"
    assert pull.pull("hris")["duplicates"] == 1
