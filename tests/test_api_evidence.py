"""Evidence through the api: self-reported, replayed, reviewed."""
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError, IdempotencyConflict
from activation_plugin.figures.headline import funnel_counts
from activation_plugin.models import Evidence, Review
from tests.conftest import NOW, OBSERVATION, PROJECT, SURVEY, committed
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff"}


@pytest.fixture
def window_for(learner, course_key):
    def make(definition):
        return next(w for w in api.open_windows(learner.id, course_key, "passing", NOW)
                    if w.definition_id == definition.pk)
    return make


def submit(window, requirement, day, key=None, **payload):
    return api.record_evidence(
        window=window, requirement=requirement, source="learner", submitted_at=NOW + timedelta(days=day),
        payload=payload or {"url": "https://example.org/project"}, idempotency_key=key or f"k-{requirement.pk}-{day}",
    )


def test_self_reported_evidence_activates_at_submission(make_definition, window_for):
    definition = make_definition()
    window = window_for(definition)
    evidence = submit(window, definition.requirements.get(), day=4)
    window.refresh_from_db()
    assert evidence.status == "verified"
    assert (window.state, window.activated_at, window.days_to_activation) == ("activated", evidence.submitted_at, 4)
    assert window.next_action_at is None


def test_replayed_submission_returns_the_stored_evidence(make_definition, window_for):
    definition = make_definition(requirements=[STAFF_PROJECT])
    window, requirement = window_for(definition), definition.requirements.get()
    first = submit(window, requirement, day=2, key="same")
    second = submit(window, requirement, day=5, key="same", text="changed")
    assert first.pk == second.pk and Evidence.objects.count() == 1
    assert second.payload == {"url": "https://example.org/project", "text": ""}


def test_reused_key_for_other_evidence_is_a_conflict(make_definition, window_for):
    definition = make_definition(requirements=[PROJECT, SURVEY])
    window = window_for(definition)
    project, survey = definition.requirements.all()
    submit(window, project, day=2, key="same")
    with pytest.raises(IdempotencyConflict):
        api.record_evidence(window=window, requirement=survey, source="learner", idempotency_key="same",
                            payload={"answers": {"used": "yes"}}, submitted_at=NOW + timedelta(days=3))


@pytest.mark.parametrize("day, payload, message", [
    (31, {"url": "https://example.org"}, "between"),
    (-1, {"url": "https://example.org"}, "between"),
    (3, {}, "link, a description or a file"),
    (3, {"url": "ftp://example.org"}, "https://"),
    (3, ["url"], "must be an object"),
])
def test_invalid_evidence_writes_nothing(make_definition, window_for, day, payload, message):
    definition = make_definition()
    window = window_for(definition)
    with pytest.raises(ActivationRequestError, match=message):
        api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                            payload=payload, idempotency_key="k", submitted_at=NOW + timedelta(days=day))
    assert not Evidence.objects.exists()


def test_requirement_of_another_definition_is_refused(make_definition, window_for):
    definition = make_definition(name="one")
    other = make_definition(name="two", activate=False)
    with pytest.raises(ActivationRequestError, match="another definition"):
        submit(window_for(definition), other.requirements.get(), day=1)


def test_staff_verification_activates_at_submission_not_review_time(make_definition, window_for, staff_user):
    definition = make_definition(requirements=[STAFF_PROJECT])
    window = window_for(definition)
    evidence = submit(window, definition.requirements.get(), day=6)
    window.refresh_from_db()
    assert (evidence.status, window.state) == ("submitted", "open")
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    window.refresh_from_db()
    assert (window.state, window.activated_at) == ("activated", NOW + timedelta(days=6))


def test_verification_after_the_window_closed_still_counts_evidence_submitted_in_time(
        make_definition, window_for, staff_user):
    definition = make_definition(requirements=[STAFF_PROJECT])
    window = window_for(definition)
    evidence = submit(window, definition.requirements.get(), day=29)
    assert api.expire_due_windows(now=NOW + timedelta(days=31)) == 1
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    window.refresh_from_db()
    assert window.state == "activated" and window.days_to_activation == 29


def test_staff_override_of_a_verdict_reopens_the_window(make_definition, learner, course_key, staff_user):
    definition = make_definition(requirements=[STAFF_PROJECT])
    [window] = api.open_windows(learner.id, course_key, "passing", timezone.now() - timedelta(days=2))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "done"}, idempotency_key="k")
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=UserFactory(is_staff=True))
    window.refresh_from_db()
    evidence.refresh_from_db()
    assert (evidence.status, window.state, window.activated_at) == ("rejected", "open", None)
    assert window.next_action_at <= timezone.now() < window.closes_at  # due: its reminders go on


def test_rejection_after_the_window_ended_expires_it(make_definition, window_for, staff_user):
    definition = make_definition(requirements=[STAFF_PROJECT])
    evidence = submit(window_for(definition), definition.requirements.get(), day=1)
    api.review_evidence(evidence, verdict="verified", role="staff", reviewer=staff_user)
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=UserFactory(is_staff=True))
    evidence.window.refresh_from_db()
    assert (evidence.window.state, evidence.window.next_action_at) == ("expired", None)


def test_peer_majority_decides_once_enough_reviews_arrive(make_definition, window_for):
    definition = make_definition(requirements=[{**PROJECT, "verification": "peer", "reviews_required": 3}])
    window = window_for(definition)
    evidence = submit(window, definition.requirements.get(), day=1)
    peers = UserFactory.create_batch(3)
    api.review_evidence(evidence, verdict="verified", role="peer", reviewer=peers[0])
    api.review_evidence(evidence, verdict="rejected", role="peer", reviewer=peers[1])
    evidence.refresh_from_db()
    assert evidence.status == "submitted"
    api.review_evidence(evidence, verdict="verified", role="peer", reviewer=peers[2])
    evidence.refresh_from_db()
    window.refresh_from_db()
    assert (evidence.status, window.state) == ("verified", "activated")
    with pytest.raises(ActivationRequestError, match="already reviewed"):
        api.review_evidence(evidence, verdict="rejected", role="peer", reviewer=peers[0])
    assert Review.objects.count() == 3


def test_all_rule_waits_for_every_requirement(make_definition, window_for):
    definition = make_definition(requirements=[PROJECT, SURVEY], rule="all")
    window = window_for(definition)
    project, survey = definition.requirements.all()
    submit(window, project, day=3)
    window.refresh_from_db()
    assert window.state == "open"
    api.record_evidence(window=window, requirement=survey, source="learner", idempotency_key="survey",
                        payload={"answers": {"used": "yes"}}, submitted_at=NOW + timedelta(days=10))
    window.refresh_from_db()
    assert (window.state, window.days_to_activation) == ("activated", 10)


def test_supervisor_observation_checklist_is_validated(make_definition, window_for):
    definition = make_definition(requirements=[OBSERVATION])
    window = window_for(definition)
    with pytest.raises(ActivationRequestError, match="every checklist item"):
        api.record_evidence(window=window, requirement=definition.requirements.get(), source="supervisor",
                            idempotency_key="o", payload={"observed": {"Greets": True}},
                            submitted_at=NOW + timedelta(days=1))


def test_withdrawn_window_takes_no_evidence(make_definition, window_for):
    definition = make_definition()
    window = window_for(definition)
    window.state = "withdrawn"
    window.save()
    with pytest.raises(ActivationRequestError, match="withdrawn"):
        submit(window, definition.requirements.get(), day=1)


def test_strength_records_who_verified(make_definition, window_for, staff_user):
    definition = make_definition(requirements=[PROJECT, STAFF_PROJECT], rule="all")
    window = window_for(definition)
    self_reported = submit(window, definition.requirements.all()[0], day=1)
    reviewed = submit(window, definition.requirements.all()[1], day=2)
    api.review_evidence(reviewed, verdict="verified", role="staff", reviewer=staff_user)
    reviewed.refresh_from_db()
    assert (self_reported.strength, reviewed.strength) == ("self_report", "staff")


def test_staff_verdict_stands_over_later_peer_reviews(make_definition, window_for, staff_user):
    definition = make_definition(requirements=[{**PROJECT, "verification": "peer", "reviews_required": 1}])
    evidence = submit(window_for(definition), definition.requirements.get(), day=1)
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=staff_user)
    api.review_evidence(evidence, verdict="verified", role="peer", reviewer=UserFactory())
    evidence.refresh_from_db()
    assert evidence.status == "rejected"


def test_mean_score_rule_settles_on_the_mean_rubric_ratio(make_definition, window_for):
    config = {"instructions": "i", "peer_rule": "mean_score", "pass_ratio": 0.7}
    definition = make_definition(requirements=[{**PROJECT, "config": config, "verification": "peer",
                                                "reviews_required": 2}])
    evidence = submit(window_for(definition), definition.requirements.get(), day=1)
    api.review_evidence(evidence, verdict="verified", role="peer", reviewer=UserFactory(), score=0.9)
    api.review_evidence(evidence, verdict="rejected", role="peer", reviewer=UserFactory(), score=0.6)
    evidence.refresh_from_db()
    assert (evidence.status, evidence.strength) == ("verified", "peer")  # mean 0.75 >= 0.7


USED_SURVEY = {**SURVEY, "config": {**SURVEY["config"], "activation_condition": {
    "match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}}


def test_a_survey_answer_that_does_not_meet_the_condition_is_a_response_not_an_activation(make_definition,
                                                                                          window_for):
    definition = make_definition(requirements=[USED_SURVEY])
    window, survey = window_for(definition), definition.requirements.get()
    with committed():
        evidence = api.record_evidence(window=window, requirement=survey, source="learner", idempotency_key="no",
                                       payload={"answers": {"used": "no", "how": "not had a chance yet"}},
                                       submitted_at=NOW + timedelta(days=2))
    window.refresh_from_db()
    assert (evidence.status, evidence.strength, evidence.verified_at) == ("not_met", "", None)
    assert (window.state, window.activated_at, window.verified_strengths) == ("open", None, "")
    funnel = funnel_counts(definition, timezone.now())["prompted"]
    assert (funnel["responded"], funnel["verified"], funnel["activated"]) == (1, 0, 0)
    with pytest.raises(ActivationRequestError, match="does not meet its activation condition"):
        api.review_evidence(evidence, verdict="verified", role="staff", reviewer=UserFactory())


def test_a_survey_answer_that_meets_the_condition_activates(make_definition, window_for):
    definition = make_definition(requirements=[USED_SURVEY])
    window, survey = window_for(definition), definition.requirements.get()
    evidence = api.record_evidence(window=window, requirement=survey, source="learner", idempotency_key="yes",
                                   payload={"answers": {"used": "yes"}}, submitted_at=NOW + timedelta(days=2))
    window.refresh_from_db()
    assert (evidence.status, evidence.strength, window.state, window.days_to_activation) == (
        "verified", "self_report", "activated", 2)
