"""Job-signal nudges: a prompt when a KPI observation arrives, or after N days without evidence."""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import MetricObservation, MetricSource, PromptDelivery
from tests.conftest import PROJECT
from tests.factories import UserFactory

KPI = {"kind": "metric", "title": "Handle time drops", "config": {
    "metric": "handle_time", "threshold": 300, "direction": "lower"}}


@pytest.fixture
def source(db):
    return MetricSource.objects.create(name="crm", kind="rest")


def observe(source, user, metric="handle_time", minutes_ago=0, external_id="E1", observed_at=None):
    """One observation of ``user`` (above the threshold: a nudge, not yet evidence); ``(observation, created)``."""
    observed_at = observed_at or timezone.now() - timedelta(minutes=minutes_ago)
    counts = api.ingest_observations(source, [{"metric": metric, "external_id": external_id, "value": 320.0,
                                               "observed_at": observed_at}], strict=True,
                                     resolved={external_id: user.pk})
    return MetricObservation.objects.get(metric=metric, observed_at=observed_at), counts["stored"] == 1


def test_a_kpi_observation_wakes_the_window_and_nudges_once(make_definition, learner, course_key, source):
    make_definition(requirements=[{**KPI, "prompts": [{
        "condition": "metric_observed", "subject": "Your handle time moved", "body": "Tell us what you changed."}]}])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    api.tick()
    window.refresh_from_db()
    assert mail.outbox == [] and window.next_action_at == window.closes_at
    observation, created = observe(source, learner)
    assert created and observation.user == learner
    window.refresh_from_db()
    assert window.next_action_at <= timezone.now()
    api.tick()
    observe(source, learner, minutes_ago=1)  # a second observation
    assert observe(source, learner, observed_at=observation.observed_at)[1] is False  # a replay changes nothing
    api.tick()
    assert [m.subject for m in mail.outbox] == ["Your handle time moved"]
    assert PromptDelivery.objects.get().kind == "nudge"


def test_observations_before_the_window_or_of_other_metrics_do_not_nudge(make_definition, learner, course_key,
                                                                         source):
    make_definition(requirements=[{**KPI, "prompts": [{
        "condition": "metric_observed", "subject": "s", "body": "b"}]}])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(minutes=1))
    observe(source, learner, minutes_ago=5)  # measured before completion, arriving now: a baseline
    observe(source, learner, metric="error_rate")
    api.tick()
    assert mail.outbox == []


def test_no_evidence_prompt_goes_only_to_learners_who_have_not_responded(make_definition, course_key):
    definition = make_definition(requirements=[{**PROJECT, "prompts": [{
        "condition": "no_evidence", "send_after_days": 10, "subject": "Still time", "body": "b"}]}])
    quiet, active = UserFactory.create_batch(2)
    opened = timezone.now() - timedelta(days=11)
    for user in (quiet, active):
        api.open_windows(user.pk, course_key, "passing", opened)
    [window] = definition.windows.filter(user=active)
    api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                        payload={"text": "did it"}, idempotency_key="k", submitted_at=opened + timedelta(days=3))
    api.tick()
    assert [m.to for m in mail.outbox] == [[quiet.email]]


@pytest.mark.parametrize("fields, message", [
    ({"metric": ""}, "metric must be 1 to 100 characters"),
    ({"metric": "m" * 101}, "metric must be 1 to 100 characters"),
    ({"value": float("nan")}, "finite number"),
    ({"value": "twelve"}, "must be a number"),
])
def test_the_deprecated_single_upsert_checks_like_every_delivery(source, fields, message):
    """``record_observation`` is a strict delivery of one: it refuses what deliveries refuse, never truncates."""
    arguments = {"source": source, "metric": "m", "external_id": "E", "observed_at": timezone.now(), "value": 1.0,
                 **fields}
    with pytest.warns(DeprecationWarning, match="ingest_observations"):
        with pytest.raises(ActivationRequestError, match=message):
            api.record_observation(**arguments)
    assert not MetricObservation.objects.exists()


def test_the_deprecated_single_upsert_still_stores_once(source, learner):
    arguments = {"source": source, "metric": "csat", "external_id": "E", "observed_at": timezone.now(),
                 "value": 4.0, "user": learner}
    with pytest.warns(DeprecationWarning):
        first, created = api.record_observation(**arguments)
    with pytest.warns(DeprecationWarning):
        again, created_again = api.record_observation(**arguments)
    assert (created, created_again, first.pk, first.user) == (True, False, again.pk, learner)


def test_unknown_prompt_condition_is_refused(make_definition):
    with pytest.raises(ActivationRequestError, match="Unknown prompt condition"):
        make_definition(requirements=[{**PROJECT, "prompts": [{"condition": "sometimes", "subject": "s",
                                                               "body": "b"}]}])
