"""The webhook endpoint: signed, fresh, capped, all-or-nothing, idempotent."""
import json
import time
from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from activation_plugin.kpi.webhook import sign
from activation_plugin.models import MetricObservation, MetricSource
from tests.factories import UserFactory

SECRET = "whsec-test-secret"


@pytest.fixture(autouse=True)
def webhook_source(settings, db):
    settings.ACTIVATION_METRIC_SOURCES = {"tickets": {"kind": "webhook", "secret": SECRET}}


def post(client, body, signature=None, name="tickets"):
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(reverse("activation_plugin:metric_webhook", kwargs={"name": name}), data=body,
                       content_type="application/json",
                       HTTP_X_ACTIVATION_SIGNATURE=sign(SECRET, body) if signature is None else signature)


def delivery(count=2, external_id="ann@example.com"):
    at = timezone.now() - timedelta(hours=1)
    return {"observations": [{"external_id": external_id, "metric": "csat", "value": 4 + n / 10,
                              "observed_at": (at + timedelta(minutes=n)).isoformat()} for n in range(count)]}


def test_a_signed_delivery_is_stored_and_a_replay_changes_nothing(client):
    ann = UserFactory(username="ann", email="ann@example.com")
    body = json.dumps(delivery()).encode()
    signature = sign(SECRET, body)
    first = post(client, body, signature)
    assert first.status_code == 200 and first.json() == {"received": 2, "stored": 2, "updated": 0, "duplicates": 0,
                                                         "matched": 2}
    replay = post(client, body, signature)
    assert replay.status_code == 200 and replay.json()["stored"] == 0 and replay.json()["duplicates"] == 2
    assert set(MetricObservation.objects.values_list("user_id", flat=True)) == {ann.pk}


def test_a_bare_list_is_accepted(client):
    assert post(client, delivery()["observations"]).json()["stored"] == 2


@pytest.mark.parametrize("signature, message", [
    ("", "Missing or malformed"),
    ("t=abc,v1=00", "Missing or malformed"),
    ("t={now},v1=" + "0" * 64, "does not match"),
    ("t={old},v1={sig_old}", "outside the accepted window"),
])
def test_bad_or_stale_signatures_are_refused(client, signature, message):
    body = json.dumps(delivery()).encode()
    old = int(time.time()) - 3600
    signature = signature.format(now=int(time.time()), old=old, sig_old=sign(SECRET, body, old).split("v1=")[1])
    response = post(client, body, signature)
    assert response.status_code == 401 and message in response.json()["error"]
    assert not MetricObservation.objects.exists()


def test_a_signature_for_another_body_is_refused(client):
    response = post(client, delivery(), sign(SECRET, b"[]"))
    assert response.status_code == 401


def test_one_bad_observation_refuses_the_whole_delivery(client):
    body = delivery(3)
    body["observations"][2]["value"] = "NaN"
    response = post(client, body)
    assert response.status_code == 400 and response.json()["field"] == "value"
    assert "Record 3" in response.json()["error"] and not MetricObservation.objects.exists()


def test_refusals_have_the_rest_apis_error_body(client):
    """``{"field", "message"}`` like every endpoint under /api/activation/v1/; ``error`` stays for old senders."""
    bad_value = delivery(1)
    bad_value["observations"][0]["value"] = "NaN"
    for response in (post(client, bad_value), post(client, delivery(), signature="t=1,v1=00"),
                     post(client, delivery(), name="nope")):
        body = response.json()
        assert set(body) == {"field", "message", "error"} and body["message"] == body["error"], body
    assert post(client, bad_value).json()["field"] == "value"


def test_oversize_bodies_unknown_sources_and_gets_are_refused(client, settings):
    settings.ACTIVATION_WEBHOOK_MAX_BYTES = 100
    assert post(client, delivery(5)).status_code == 413
    assert post(client, delivery(), name="nope").status_code == 404
    settings.ACTIVATION_METRIC_SOURCES["crm"] = {"kind": "csv"}
    assert post(client, [], name="crm").status_code == 404
    assert client.get(reverse("activation_plugin:metric_webhook", kwargs={"name": "tickets"})).status_code == 405
    settings.ACTIVATION_METRIC_SOURCES["broken"] = {"kind": "webhook", "secret_env": "KPI_UNSET_SECRET"}
    response = post(client, [], name="broken")
    assert response.status_code == 503 and "KPI_UNSET_SECRET" not in response.content.decode()


def test_the_secret_never_appears_in_responses_or_the_source_row(client):
    for body in (delivery(), b"not json", {"observations": "x"}):
        response = post(client, body)
        assert SECRET not in response.content.decode()
    assert SECRET not in repr(MetricSource.objects.get(name="tickets").__dict__)


JSONISH = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                       lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12),
                                                                                         children, max_size=4),
                       max_leaves=12)
OBSERVATIONISH = st.fixed_dictionaries({}, optional={
    "external_id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
    "metric": st.one_of(st.text(max_size=120), st.none(), st.floats()),
    "value": st.one_of(st.floats(), st.integers(), st.text(max_size=10), st.booleans()),
    "observed_at": st.one_of(st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
                             st.text(max_size=30), st.integers(), st.floats()),
})


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(JSONISH, st.lists(OBSERVATIONISH, max_size=5),
                      st.fixed_dictionaries({"observations": st.lists(OBSERVATIONISH, max_size=5)})))
def test_any_body_gets_a_clear_answer_and_never_a_partial_write(client, body):
    before = MetricObservation.objects.count()
    response = post(client, body)
    assert response.status_code in (200, 400)
    assert "error" in response.json() or response.status_code == 200
    if response.status_code == 400:
        assert MetricObservation.objects.count() == before
    else:
        assert MetricObservation.objects.count() == before + response.json()["stored"]


def test_a_deeply_nested_delivery_is_refused_with_a_400(client):
    response = post(client, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400 and "nested more than 64 levels" in response.json()["error"]
    assert not MetricObservation.objects.exists()
