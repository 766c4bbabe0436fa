"""Metric evidence and identity resolution: observations become KPI evidence for the right learner, once."""
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import ActivationWindow, Evidence, IdentityLink, MetricObservation, MetricSource
from tests.factories import UserFactory

ABSOLUTE = {"kind": "metric", "title": "Handle time under 5 minutes", "config": {
    "metric": "handle_time", "threshold": 300, "direction": "lower"}}
RELATIVE = {"kind": "metric", "title": "Conversion up 10 %", "config": {
    "metric": "conversion", "threshold": 0.1, "direction": "higher", "relative": True, "baseline_days": 14,
    "period_days": 7, "min_observations": 2}}


@pytest.fixture
def source(db):
    return MetricSource.objects.create(name="crm", kind="csv")


def obs(external_id, metric, value, at):
    return {"external_id": external_id, "metric": metric, "value": value, "observed_at": at.isoformat()}


def test_an_observation_meeting_the_threshold_activates_the_window_once(make_definition, learner, course_key,
                                                                        source):
    make_definition(requirements=[ABSOLUTE])
    opened = timezone.now() - timedelta(days=5)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    rows = [obs(learner.email, "handle_time", 340, opened + timedelta(days=1)),
            obs(learner.email, "handle_time", 250, opened + timedelta(days=2))]
    api.ingest_observations(source, rows)
    window.refresh_from_db()
    evidence = Evidence.objects.get()
    assert window.state == ActivationWindow.State.ACTIVATED
    assert (evidence.source, evidence.strength, evidence.status) == ("metric", "kpi", "verified")
    # the running mean (340 + 250) / 2 = 295 crosses 300 at the second observation
    assert evidence.submitted_at == opened + timedelta(days=2) and evidence.payload["value"] == 295
    api.ingest_observations(source, rows)
    assert Evidence.objects.count() == 1


def test_observations_outside_the_window_or_of_another_learner_do_not_count(make_definition, learner, course_key,
                                                                            source):
    make_definition(requirements=[ABSOLUTE], window_days=10)
    other = UserFactory(username="other")
    opened = timezone.now() - timedelta(days=20)
    api.open_windows(learner.pk, course_key, "passing", opened)
    api.ingest_observations(source, [
        obs(learner.email, "handle_time", 100, opened - timedelta(days=1)),   # before
        obs(learner.email, "handle_time", 100, opened + timedelta(days=11)),  # after
        obs(other.email, "handle_time", 100, opened + timedelta(days=1)),     # someone else
        obs(learner.email, "error_rate", 0, opened + timedelta(days=1)),      # another metric
    ])
    assert not Evidence.objects.exists()


def test_a_late_observation_still_activates_a_closed_window(make_definition, learner, course_key, source):
    make_definition(requirements=[ABSOLUTE], window_days=10)
    opened = timezone.now() - timedelta(days=20)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    api.expire_due_windows()
    api.ingest_observations(source, [obs(learner.email, "handle_time", 200, opened + timedelta(days=9))])
    window.refresh_from_db()
    assert window.state == "activated" and window.days_to_activation == 9


def test_a_relative_threshold_compares_with_the_learners_own_baseline(make_definition, learner, course_key, source):
    make_definition(requirements=[RELATIVE])
    opened = timezone.now() - timedelta(days=10)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    baseline = [obs(learner.username, "conversion", 0.20, opened - timedelta(days=d)) for d in (3, 6)]
    api.ingest_observations(source, [*baseline, obs(learner.username, "conversion", 0.30, opened + timedelta(days=1))])
    assert not Evidence.objects.exists()  # one observation in the period is not enough (min_observations 2)
    api.ingest_observations(source, [obs(learner.username, "conversion", 0.21, opened + timedelta(days=2))])
    window.refresh_from_db()
    assert window.state == "activated"  # mean 0.255 vs baseline 0.20: +27.5 %
    assert Evidence.objects.get().payload["baseline"] == pytest.approx(0.20)


def test_a_relative_threshold_without_a_baseline_never_fires(make_definition, learner, course_key, source):
    make_definition(requirements=[RELATIVE])
    opened = timezone.now() - timedelta(days=10)
    api.open_windows(learner.pk, course_key, "passing", opened)
    api.ingest_observations(source, [obs(learner.username, "conversion", v, opened + timedelta(days=d))
                                     for d, v in ((1, 0.9), (2, 0.9))])
    assert not Evidence.objects.exists()


def test_identity_order_explicit_then_email_then_username_and_ambiguity(settings, source):
    ann = UserFactory(username="ann", email="ann@example.com")
    bob = UserFactory(username="bob", email="shared@example.com")
    UserFactory(username="carl", email="SHARED@example.com")
    IdentityLink.objects.create(source=source, external_id="ann@example.com", user=bob, method="explicit")
    matched, ambiguous = api.resolve_identities(source, ["ann@example.com", "Shared@Example.com", "ann", "nobody"])
    assert matched == {"ann@example.com": bob.pk, "ann": ann.pk}
    assert ambiguous == {"Shared@Example.com"}
    settings.ACTIVATION_IDENTITY_ORDER = ["email", "explicit"]
    assert api.resolve_identities(source, ["ann@example.com"])[0] == {"ann@example.com": ann.pk}
    settings.ACTIVATION_IDENTITY_ORDER = ["explicit"]
    assert api.resolve_identities(source, ["ann"]) == ({}, set())


def test_new_links_fix_old_observations_and_their_evidence(make_definition, learner, course_key, source):
    make_definition(requirements=[ABSOLUTE])
    opened = timezone.now() - timedelta(days=5)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    result = api.ingest_observations(source, [obs("EMP-7", "handle_time", 200, opened + timedelta(days=1))])
    assert result["matched"] == 0 and MetricObservation.objects.get().user is None
    linked = api.link_identities(source, [("EMP-7", learner)])
    assert linked == {"linked": 1, "relinked": 1}
    assert MetricObservation.objects.get().user == learner
    window.refresh_from_db()
    assert window.state == "activated"
    assert api.resolve_observations(source) == {"relinked": 0}  # nothing left to fix


def test_ingestion_is_chunked_and_counts_duplicates_within_a_delivery(settings, source, learner):
    settings.ACTIVATION_METRIC_BATCH_SIZE = 3
    at = timezone.now() - timedelta(days=1)
    rows = [obs(learner.email, "m", n, at + timedelta(minutes=n)) for n in range(7)]
    result = api.ingest_observations(source, [*rows, rows[0], rows[4]])
    assert (result["received"], result["stored"], result["duplicates"]) == (9, 7, 2)
    corrected = dict(rows[1], value=99)
    assert api.ingest_observations(source, [corrected])["updated"] == 1
    assert MetricObservation.objects.get(value=99).observed_at == at + timedelta(minutes=1)
