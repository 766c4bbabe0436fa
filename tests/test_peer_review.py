"""Volunteer peer review: assignment rules, the rubric, the timeout and what each side can see."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.models import Evidence, PeerAssignment
from tests.factories import UserFactory

PEER_PROJECT = {"kind": "project", "title": "Applied project", "verification": "peer", "reviews_required": 2,
                "config": {"instructions": "Show it.", "pass_ratio": 0.5,
                           "rubric": [{"criterion": "Uses the steps", "max_score": 3},
                                      {"criterion": "Describes the outcome", "max_score": 2}]}}


@pytest.fixture
def course(make_definition, course_key):
    definition = make_definition(requirements=[PEER_PROJECT])
    people = {}
    for name in ("ann", "bob", "cat", "dan"):
        user = UserFactory(username=name)
        [window] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=5))
        people[name] = (user, window)
    return definition, people


def submit(people, name):
    _user, window = people[name]
    return api.save_learner_response(window=window, requirement=window.definition.requirements.get(),
                                     payload={"text": f"{name}'s call"}, idempotency_key=f"e-{name}")


def review(assignment, user, scores=(3, 2), comment="Good"):
    return api.submit_peer_review(assignment.pk, user, comment=comment,
                                  scores={"Uses the steps": scores[0], "Describes the outcome": scores[1]})


def test_never_own_never_twice_and_filled_to_reviews_required(course, course_key):
    _definition, people = course
    ann_work = submit(people, "ann")
    ann, bob, cat, dan = (people[name][0] for name in ("ann", "bob", "cat", "dan"))
    assert api.request_peer_assignment(ann, course_key) is None  # only her own work exists
    first = api.request_peer_assignment(bob, course_key)
    assert first.evidence == ann_work
    assert api.request_peer_assignment(bob, course_key) == first  # one at a time
    review(first, bob)
    assert api.request_peer_assignment(bob, course_key) is None  # never the same twice
    second = api.request_peer_assignment(cat, course_key)
    review(second, cat, scores=(2, 1))  # 3 of 5 points: at least the pass ratio of one half
    assert api.request_peer_assignment(dan, course_key) is None  # two reviews were required
    ann_work.refresh_from_db()
    assert (ann_work.status, ann_work.strength) == ("verified", "peer")


def test_reciprocal_pairs_are_avoided_when_another_submission_waits(course, course_key):
    _definition, people = course
    ann, bob = people["ann"][0], people["bob"][0]
    submit(people, "ann")
    bob_work = submit(people, "bob")
    cat_work = submit(people, "cat")
    review(api.request_peer_assignment(ann, course_key), ann)  # ann reviews bob (oldest first)
    assert PeerAssignment.objects.get(reviewer=ann).evidence == bob_work
    # bob would otherwise get ann's work first; he reviewed nobody but ann reviewed him: prefer cat.
    assert api.request_peer_assignment(bob, course_key).evidence == cat_work


def test_an_expired_assignment_returns_to_the_pool(course, course_key):
    _definition, people = course
    submit(people, "ann")
    bob, cat, dan = (people[name][0] for name in ("bob", "cat", "dan"))
    late = api.request_peer_assignment(bob, course_key)
    api.request_peer_assignment(cat, course_key)
    assert api.request_peer_assignment(dan, course_key) is None
    PeerAssignment.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert api.request_peer_assignment(dan, course_key) is not None
    with pytest.raises(ActivationRequestError, match="ran out"):
        review(late, bob)


def test_a_split_vote_rejects(course, course_key):
    _definition, people = course
    work = submit(people, "ann")
    review(api.request_peer_assignment(people["bob"][0], course_key), people["bob"][0], scores=(3, 2))
    review(api.request_peer_assignment(people["cat"][0], course_key), people["cat"][0], scores=(1, 0))
    work.refresh_from_db()
    assert work.status == "rejected"


def test_scores_and_comment_are_checked(course, course_key):
    _definition, people = course
    submit(people, "ann")
    bob = people["bob"][0]
    assignment = api.request_peer_assignment(bob, course_key)
    with pytest.raises(ActivationRequestError, match="from 0 to 3"):
        review(assignment, bob, scores=(4, 0))
    with pytest.raises(ActivationRequestError, match="comment"):
        review(assignment, bob, comment="  ")
    with pytest.raises(ActivationNotFound):
        review(assignment, people["cat"][0])  # someone else's assignment


def test_non_completers_cannot_volunteer(course, course_key):
    with pytest.raises(ActivationRequestError, match="completed this course"):
        api.request_peer_assignment(UserFactory(), course_key)


def test_pages_show_the_reviewer_only_the_work_and_the_learner_the_feedback(client, course, course_key):
    _definition, people = course
    submit(people, "ann")
    ann, bob = people["ann"][0], people["bob"][0]
    url = reverse("activation_plugin:peer_review", kwargs={"course_id": str(course_key)})
    client.force_login(bob)
    client.post(url, {"action": "request"})
    page = client.get(url)
    assert b"ann&#x27;s call" in page.content
    assert b">ann<" not in page.content and b"ann@example.com" not in page.content
    assignment = PeerAssignment.objects.get()
    client.post(url, {"assignment": assignment.pk, "criterion": ["Uses the steps", "Describes the outcome"],
                      "score-0": "3", "score-1": "2", "comment": "Clear steps, good outcome"})
    assert PeerAssignment.objects.get().completed_at is not None
    client.force_login(ann)
    learner_page = client.get(reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)}))
    assert b"Peer: Clear steps, good outcome" in learner_page.content and b"bob" not in learner_page.content


def test_a_project_cannot_change_while_a_peer_holds_it(course, course_key):
    """A learner used to swap the text under an open assignment; the peer's 2/2 then verified 'SWAPPED: nothing'."""
    _definition, people = course
    submit(people, "ann")
    assignment = api.request_peer_assignment(people["bob"][0], course_key)
    assert assignment.evidence.window.user == people["ann"][0]
    _user, window = people["ann"]
    with pytest.raises(ActivationRequestError, match="A peer is reviewing this project"):
        api.save_learner_response(window=window, requirement=window.definition.requirements.get(),
                                  payload={"text": "SWAPPED: nothing"}, idempotency_key="e-ann-2")
    assert Evidence.objects.get(window=window).payload["text"] == "ann's call"
