"""Staff review queue, staff decisions and attachments, with the course checked on every id."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import Review
from demo.models import DemoCourse
from tests.conftest import PROJECT, SURVEY, api_url, committed
from tests.factories import UserFactory

STAFF_PROJECT = {**PROJECT, "verification": "staff"}


@pytest.fixture
def submitted(make_definition, course_key, learner, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    definition = make_definition(requirements=[STAFF_PROJECT, SURVEY])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    project, survey = definition.requirements.all()
    evidence = api.save_learner_response(window=window, requirement=project, payload={"text": "My call"},
                                         idempotency_key="p", file=SimpleUploadedFile("notes.txt", b"hello"))
    api.save_learner_response(window=window, requirement=survey, payload={"answers": {"used": "yes"}},
                              idempotency_key="s")
    return evidence


def queue_url(course_key, **params):
    url = reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def test_queue_lists_submissions_to_review_and_filters(client, submitted, course_staff, course_key):
    client.force_login(course_staff)
    page = client.get(queue_url(course_key))
    assert page.status_code == 200
    assert f'data-evidence="{submitted.pk}"'.encode() in page.content and b"My call" in page.content
    assert page.content.count(b"data-evidence=") == 1  # the self-verified survey is not waiting
    assert client.get(queue_url(course_key, status="verified")).content.count(b"data-evidence=") == 1
    today = timezone.now().date()
    assert client.get(queue_url(course_key, **{"from": today + timedelta(days=1)})).content.count(
        b"data-evidence=") == 0
    other_requirement = submitted.window.definition.requirements.exclude(pk=submitted.requirement_id).get()
    assert client.get(queue_url(course_key, requirement=other_requirement.pk, status="")).content.count(
        b"data-evidence=") == 1
    assert client.get(queue_url(course_key, status="bogus")).status_code == 404


def test_staff_decision_is_recorded_with_who_and_when(client, submitted, course_staff, course_key):
    client.force_login(course_staff)
    url = reverse("activation_plugin:review", kwargs={"course_id": str(course_key), "evidence_id": submitted.pk})
    version = submitted.submitted_at.isoformat()  # what the queue's form carries
    client.post(url, {"verdict": "verified", "comment": "Clear", "version": version})
    review = Review.objects.get()
    assert (review.reviewer, review.role, review.verdict, review.comment) == (course_staff, "staff", "verified",
                                                                              "Clear")
    submitted.refresh_from_db()
    assert (submitted.status, submitted.strength, submitted.window.state) == ("verified", "staff", "activated")
    page = client.post(url, {"verdict": "rejected", "version": version}, follow=True)
    assert b"already reviewed" in page.content


@pytest.mark.parametrize("who", ["learner", "other_course_staff", "anonymous"])
def test_only_course_staff_reach_the_queue_and_decisions(client, submitted, course_key, learner, who):
    if who == "learner":
        client.force_login(learner)
    elif who == "other_course_staff":
        other = UserFactory()
        Group.objects.create(name="activation-staff:course-v1:TestX+OTHER+2026").user_set.add(other)
        client.force_login(other)
    review_url = reverse("activation_plugin:review", kwargs={"course_id": str(course_key),
                                                             "evidence_id": submitted.pk})
    assert client.get(queue_url(course_key)).status_code in (302, 403)
    assert client.post(review_url, {"verdict": "verified"}).status_code in (302, 403)
    assert not Review.objects.exists()


def test_evidence_ids_are_checked_against_the_course(client, submitted, db):
    other_key = CourseKey.from_string("course-v1:OtherX+ELSE+2026")
    DemoCourse.objects.create(course_key=other_key, display_name="Else")
    other_staff = UserFactory()
    Group.objects.create(name=f"activation-staff:{other_key}").user_set.add(other_staff)
    client.force_login(other_staff)
    url = reverse("activation_plugin:review", kwargs={"course_id": str(other_key), "evidence_id": submitted.pk})
    assert client.post(url, {"verdict": "verified"}).status_code == 404
    file_url = reverse("activation_plugin:evidence_file", kwargs={"course_id": str(other_key),
                                                                  "evidence_id": submitted.pk})
    assert client.get(file_url).status_code == 404
    assert not Review.objects.exists()


def test_attachment_goes_to_its_learner_and_course_staff_only(client, submitted, course_key, learner, course_staff):
    url = reverse("activation_plugin:evidence_file", kwargs={"course_id": str(course_key),
                                                             "evidence_id": submitted.pk})
    for user, status in ((learner, 200), (course_staff, 200), (UserFactory(), 404)):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == status
        if status == 200:
            assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'
            assert b"".join(response.streaming_content) == b"hello"


def test_staff_resend_and_revoke_supervisor_invitations(client, make_definition, course_key, learner,
                                                        course_staff):
    from django.core import mail  # pylint: disable=import-outside-toplevel

    from activation_plugin.models import SupervisorInvite  # pylint: disable=import-outside-toplevel
    definition = make_definition(requirements=[{"kind": "observation", "title": "Supervisor",
                                                "verification": "supervisor", "config": {"checklist": ["Greets"]}}])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    with committed():
        invite = api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    client.force_login(course_staff)
    page = client.get(queue_url(course_key))
    assert page.content.count(f'data-invite="{invite.pk}"'.encode()) == 1
    assert b"<title>Review queue" in page.content and b"Resend" not in page.content.split(b"</title>")[0]
    url = reverse("activation_plugin:manage_invite", kwargs={"course_id": str(course_key), "invite_id": invite.pk})
    client.post(url, {"action": "resend"})
    assert len(mail.outbox) == 2 and SupervisorInvite.objects.filter(revoked_at__isnull=True).count() == 1
    fresh = SupervisorInvite.objects.get(revoked_at__isnull=True)
    client.post(reverse("activation_plugin:manage_invite", kwargs={"course_id": str(course_key),
                                                                   "invite_id": fresh.pk}), {"action": "revoke"})
    assert not SupervisorInvite.objects.filter(revoked_at__isnull=True).exists()
    client.force_login(learner)
    assert client.post(url, {"action": "resend"}).status_code == 403


def test_a_verdict_on_a_version_the_learner_has_changed_is_refused(client, course_staff, course_key, make_definition,
                                                                   learner):
    """In the staff queue, the learner swapped the text; the verdict then applied to the new text."""
    definition = make_definition(requirements=[{"kind": "project", "title": "Project", "verification": "staff",
                                                "config": {"instructions": "Show it."}}])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    requirement = definition.requirements.get()
    evidence = api.save_learner_response(window=window, requirement=requirement, payload={"text": "What I did"},
                                         idempotency_key="v1")
    client.force_login(course_staff)
    queue_url = reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)})
    queue = client.get(queue_url).content.decode()
    seen = re.search(r'name="version" value="([^"]+)"', queue).group(1)
    api.save_learner_response(window=window, requirement=requirement, payload={"text": "SWAPPED: nothing"},
                              idempotency_key="v2")
    review_url = reverse("activation_plugin:review", kwargs={"course_id": str(course_key), "evidence_id": evidence.pk})
    page = client.post(review_url, {"verdict": "verified", "version": seen}, follow=True).content.decode()
    assert "changed this evidence after you opened it" in page
    evidence.refresh_from_db()
    assert evidence.status == "submitted" and not evidence.reviews.exists()
    fresh = re.search(r'name="version" value="([^"]+)"', page).group(1)
    client.post(review_url, {"verdict": "verified", "version": fresh})
    evidence.refresh_from_db()
    assert (evidence.status, evidence.payload["text"]) == ("verified", "SWAPPED: nothing")
    api_response = client.post(api_url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk),
                               {"verdict": "rejected", "version": seen}, content_type="application/json")
    assert api_response.status_code == 400 and api_response.json()["field"] == "version"


def test_the_queue_pages_settled_items_keep_their_verdict_and_the_tab_counts_what_waits(
        client, make_definition, course_key, course_staff):
    """Issue 18: no Verify/Reject up front on settled items, an All filter, pagination, the pending count."""
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}])
    evidence = []
    for number, user in enumerate(UserFactory.create_batch(53)):
        [window] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=2))
        evidence.append(api.record_evidence(window=window, requirement=definition.requirements.get(),
                                            source="learner", payload={"text": f"t{number}"},
                                            idempotency_key=f"q{number}"))
    api.review_evidence(evidence[0], verdict="verified", role="staff", reviewer=course_staff)
    client.force_login(course_staff)
    tab = client.get(reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)})).content.decode()
    assert 'data-pending="52"' in tab and "52 waiting" in tab
    first = client.get(queue_url(course_key)).content.decode()
    assert first.count("data-evidence=") == 50 and 'rel="next"' in first
    second = client.get(queue_url(course_key, page=2)).content.decode()
    assert second.count("data-evidence=") == 2 and 'rel="prev"' in second and 'rel="next"' not in second
    everything = client.get(queue_url(course_key, status="", page=2)).content.decode()
    assert everything.count("data-evidence=") == 3
    settled = client.get(queue_url(course_key, status="verified")).content.decode()
    assert "Settled: verified" in settled and "<details" in settled


def test_survey_answers_show_under_their_questions_not_their_ids(client, make_definition, course_key, learner,
                                                                 course_staff):
    definition = make_definition(requirements=[SURVEY | {"verification": "staff"}, {
        "kind": "survey", "title": "Several", "verification": "staff", "config": {"questions": [
            {"id": "tools", "type": "multiple_choice", "text": "Which tools?", "options": ["script", "checklist"]}],
            "activation_condition": {"match": "any_answer"}}}])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    first, second = definition.requirements.all()
    api.save_learner_response(window=window, requirement=first, payload={"answers": {"used": "yes", "how": "Daily"}},
                              idempotency_key="a")
    api.save_learner_response(window=window, requirement=second,
                              payload={"answers": {"tools": ["script", "checklist"]}}, idempotency_key="b")
    client.force_login(course_staff)
    page = client.get(queue_url(course_key)).content.decode()
    assert "<dt>Did you use it?</dt><dd>yes</dd>" in page and "<dt>How?</dt><dd>Daily</dd>" in page
    assert "<dt>Which tools?</dt><dd>script, checklist</dd>" in page and "<dt>used</dt>" not in page


RUBRIC_PROJECT = {**STAFF_PROJECT, "config": {
    "instructions": "Show your work.", "pass_ratio": 0.6,
    "rubric": [{"criterion": "Real situation", "max_score": 2}, {"criterion": "Uses the method", "max_score": 3}]}}


@pytest.fixture
def rubric_projects(make_definition, course_key):
    """Two learners' projects under a staff-reviewed requirement with a rubric."""
    definition = make_definition(requirements=[RUBRIC_PROJECT])
    requirement = definition.requirements.get()
    projects = []
    for number in range(2):
        user = UserFactory()
        [window] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=2))
        projects.append(api.save_learner_response(window=window, requirement=requirement,
                                                  payload={"text": f"Call {number}"}, idempotency_key=f"p{number}"))
    return projects


def test_staff_score_the_rubric_and_the_pass_mark_decides(client, rubric_projects, course_staff, course_key):
    client.force_login(course_staff)
    page = client.get(queue_url(course_key)).content.decode()
    assert page.count('name="criterion" value="Real situation"') == 2 and 'name="score-1"' in page
    assert 'name="verdict"' not in page and "verified from 60 % of the points" in page
    passing, failing = rubric_projects
    for evidence, points in ((passing, ("2", "1")), (failing, ("1", "1"))):  # 3/5 = the pass mark; 2/5 below
        url = reverse("activation_plugin:review", kwargs={"course_id": str(course_key), "evidence_id": evidence.pk})
        client.post(url, {"criterion": ["Real situation", "Uses the method"], "score-0": points[0],
                          "score-1": points[1], "comment": "Scored", "version": evidence.submitted_at.isoformat()})
    for evidence, status, state, ratio in ((passing, "verified", "activated", 0.6), (failing, "rejected", "open", 0.4)):
        evidence.refresh_from_db()
        review = evidence.reviews.get()
        assert (evidence.status, evidence.window.state, review.role, review.score) == (status, state, "staff", ratio)
    assert passing.reviews.get().checklist == {"Real situation": 2, "Uses the method": 1}
    assert "60 % of the rubric's points" in client.get(queue_url(course_key, status="")).content.decode()


def test_a_staff_review_of_a_rubric_needs_every_score_within_range(rubric_projects, course_staff):
    evidence = rubric_projects[0]
    for scores, message in ((None, "Score every rubric criterion"), ({"Real situation": 2}, "Score every rubric"),
                            ({"Real situation": 3, "Uses the method": 1}, "Score 'Real situation' from 0 to 2")):
        with pytest.raises(ActivationRequestError, match=message):
            api.staff_review(evidence, course_staff, scores=scores)
    assert not Review.objects.exists()


def test_staff_rubric_scores_through_rest_decide_and_a_contradicting_verdict_is_refused(
        rubric_projects, course_staff, course_key):
    from rest_framework.test import APIClient  # pylint: disable=import-outside-toplevel
    rest = APIClient()
    rest.force_authenticate(course_staff)
    evidence = rubric_projects[0]
    reviews = api_url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk)
    refused = rest.post(reviews, {"verdict": "verified", "scores": {"Real situation": 1, "Uses the method": 1}},
                        format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "verdict"
    assert "the rubric decides “Rejected”" in refused.json()["message"]
    done = rest.post(reviews, {"scores": {"Real situation": 2, "Uses the method": 2}}, format="json")
    assert done.status_code == 201, done.json()
    assert (done.json()["review"]["verdict"], done.json()["review"]["score"], done.json()["evidence"]["status"]) == (
        "verified", 0.8, "verified")
