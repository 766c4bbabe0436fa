"""
What the learner page tells a completer (issue 18): what is needed and what is already met, what
happens after they submit and after they activate, in words they understand, and only the actions
that still make sense.
"""
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from tests.conftest import OBSERVATION, PROJECT, SURVEY
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff"}
PEER_PROJECT = {**PROJECT, "title": "Peer project", "verification": "peer", "reviews_required": 2}


@pytest.fixture
def page_of(client, learner, course_key):
    """The learner page as the learner reads it: tags dropped, white space collapsed."""
    client.force_login(learner)

    def read():
        html = client.get(reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})).content.decode()
        return html, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return read


def open_window(learner, course_key, days_ago=1):
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=days_ago))
    return window


def respond(window, requirement, key="k1", **payload):
    return api.save_learner_response(window=window, requirement=requirement, payload=payload, idempotency_key=key)


@pytest.mark.parametrize("requirements, rule, rule_count, sentence", [
    ([PROJECT], "any", None, "Do this to activate."),
    ([PROJECT, SURVEY], "any", None, "Do any one of these 2 to activate."),
    ([PROJECT, SURVEY, OBSERVATION], "all", None, "Do all 3 of these to activate."),
    ([PROJECT, SURVEY, OBSERVATION], "at_least", 2, "Do at least 2 of these 3 to activate."),
])
def test_the_page_says_what_is_needed(page_of, make_definition, learner, course_key, requirements, rule, rule_count,
                                      sentence):
    make_definition(requirements=requirements, rule=rule, rule_count=rule_count)
    open_window(learner, course_key)
    assert sentence in page_of()[1]


def test_the_page_says_which_requirements_are_met(page_of, make_definition, learner, course_key):
    definition = make_definition(requirements=[STAFF_PROJECT, SURVEY], rule="all")
    window = open_window(learner, course_key)
    respond(window, definition.requirements.get(kind="survey"), answers={"used": "yes"})
    html, text = page_of()
    assert "1 of 2 done." in text
    assert 'data-kind="survey" data-met="true"' in html and 'data-kind="project" data-met="false"' in html


def test_open_window_counts_the_days_left(page_of, make_definition, learner, course_key):
    make_definition(window_days=30)
    open_window(learner, course_key, days_ago=20)
    assert re.search(r"Open until .+?\. 10 days left\.", page_of()[1])


@pytest.mark.parametrize("requirement, next_step", [
    (STAFF_PROJECT, "The course team reviews it next"),
    (PEER_PROJECT, "2 learners who completed the course review it next, without seeing your name"),
])
def test_after_a_submission_the_page_says_what_happens_next(page_of, make_definition, learner, course_key,
                                                            requirement, next_step):
    definition = make_definition(requirements=[requirement])
    respond(open_window(learner, course_key), definition.requirements.get(), text="I used it on a call.")
    text = page_of()[1]
    assert next_step in text
    assert "Their decision and any feedback appear on this page" in text
    assert "waiting for review" in text  # the history speaks plainly, not "Submitted — Submitted"


def test_a_rejected_project_says_to_send_a_new_version(page_of, make_definition, learner, course_key, staff_user):
    definition = make_definition(requirements=[STAFF_PROJECT])
    evidence = respond(open_window(learner, course_key), definition.requirements.get(), text="Too short")
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=staff_user, comment="Say more")
    text = page_of()[1]
    assert "not accepted" in text and "Read the feedback and send a new version." in text


def test_after_activation_only_what_still_makes_sense_is_offered(page_of, make_definition, learner, course_key):
    definition = make_definition(requirements=[PROJECT, OBSERVATION], rule="any")
    window = open_window(learner, course_key)
    text = page_of()[1]
    assert "Ask my supervisor" in text and "Stop taking part in this follow-up" in text
    respond(window, definition.requirements.get(kind="project"), text="Done on the job")
    html, text = page_of()
    assert "Nothing more is needed" in text
    assert "Ask my supervisor" not in text and "invite_supervisor" not in html and "/supervisor/" not in html
    assert "Stop taking part" not in text
    # Erasing one's answers stays possible (the product promises it: docs/references/security.rst), quietly.
    assert "Erase my answers" in text
    assert reverse("activation_plugin:withdraw", kwargs={"course_id": str(course_key), "window_id": window.pk}) in html


def test_erasing_after_activation_takes_the_answers_out(client, make_definition, learner, course_key):
    definition = make_definition(requirements=[PROJECT])
    window = open_window(learner, course_key)
    respond(window, definition.requirements.get(), text="Done on the job")
    client.force_login(learner)
    url = reverse("activation_plugin:withdraw", kwargs={"course_id": str(course_key), "window_id": window.pk})
    text = re.sub(r"\s+", " ", client.post(url, follow=True).content.decode())
    assert "Your answers for this follow-up were erased" in text
    window.refresh_from_db()
    assert window.state == "withdrawn" and window.evidence.get().payload == {}


def test_no_peer_review_link_without_peer_review(page_of, make_definition, learner, course_key):
    make_definition(requirements=[STAFF_PROJECT])
    open_window(learner, course_key)
    assert "Review a peer" not in page_of()[1]


def test_peer_review_link_once_a_peers_project_waits(page_of, make_definition, learner, course_key):
    definition = make_definition(requirements=[PEER_PROJECT])
    open_window(learner, course_key)
    assert "Review a peer" not in page_of()[1]  # peer review, but nothing to review yet
    peer_window = open_window(UserFactory(), course_key)
    respond(peer_window, definition.requirements.get(), text="My project")
    assert "Review a peer" in page_of()[1]


def test_the_empty_state_says_what_to_do(page_of, course_key):
    text = page_of()[1]
    assert "Nothing to do here yet" in text and "Finish the course" in text


def test_the_instructors_preview_still_renders_the_requirements(client, course_staff, make_definition, course_key):
    definition = make_definition(requirements=[PEER_PROJECT, OBSERVATION], rule="all")
    client.force_login(course_staff)
    html = client.get(reverse("activation_plugin:definition_preview", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk})).content.decode()
    assert "Ask my supervisor" in html and "without seeing your name" in html


USED_SURVEY = {**SURVEY, "config": {**SURVEY["config"], "activation_condition": {
    "match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}}
CONDITION_TEXT = "It counts as applying the skill when “Did you use it?” is answered “yes”."


def test_a_survey_answer_that_does_not_count_is_said_to_be_recorded_not_done(
        client, page_of, make_definition, learner, course_key):
    make_definition(requirements=[USED_SURVEY])
    window = open_window(learner, course_key)
    assert CONDITION_TEXT in page_of()[1]  # said before the learner answers
    requirement = window.definition.requirements.get()
    url = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": requirement.pk})
    answered = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.post(
        url, {"q-used": "no", "q-how": "I have not had a chance yet", "submission_key": "a"},
        follow=True).content.decode()))
    assert f"Thanks — recorded. This answer does not count as applying the skill yet: {CONDITION_TEXT}" in answered
    assert "Done" not in answered and "This counts towards your activation" not in answered
    html, text = page_of()
    assert 'data-met="false"' in html and 'data-state="not_met"' in html
    assert f"Recorded Thanks — recorded. This answer does not count as applying the skill yet: {CONDITION_TEXT}" in text
    assert "recorded, does not count as applying the skill" in text
    client.post(url, {"q-used": "yes", "submission_key": "b"})
    html, text = page_of()
    assert 'data-met="true"' in html and "This counts towards your activation." in text
