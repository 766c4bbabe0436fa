"""The smaller holes of the penetration test of issue 27, each as it was found."""
import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api, links
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import IdempotentRequest, PromptOptOut, SupervisorInvite
from tests.conftest import OBSERVATION, api_url, definition_post, mint_jwt
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STAFF_PROJECT = {"kind": "project", "title": "p", "config": {"instructions": "i"}, "verification": "staff"}


def test_the_builder_builds_a_bounded_number_of_requirement_forms(client, course_staff, course_key):
    """``requirements-TOTAL_FORMS=999999999`` built 2,000 forms: a minute and 27 MB per request."""
    client.force_login(course_staff)
    data = definition_post({}) | {"requirements-TOTAL_FORMS": "999999999"}
    response = client.post(reverse("activation_plugin:definition_new", kwargs={"course_id": str(course_key)}), data)
    assert response.status_code == 400
    formset = response.context["formset"]
    assert len(formset.forms) <= api.MAX_REQUIREMENTS
    assert f"at most {api.MAX_REQUIREMENTS}" in response.content.decode()
    data["add_requirement"] = "blank"  # the no-JavaScript "add a requirement" button, on the same post
    assert len(client.post(reverse("activation_plugin:definition_new", kwargs={"course_id": str(course_key)}),
                           data).context["formset"].forms) <= api.MAX_REQUIREMENTS


@pytest.mark.parametrize("page", ["999999999999999999999", "²", "0", "-3", "9" * 5000, "0" * 5000 + "2"])
def test_a_review_queue_page_out_of_range_is_a_page_not_a_server_error(client, course_staff, course_key, page):
    client.force_login(course_staff)
    response = client.get(reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)}),
                          {"page": page})
    assert response.status_code in (200, 404)


def test_retirement_erases_the_learner_from_stored_rest_replies(make_definition, course_key, course_staff):
    """A staff review sent with an Idempotency-Key stored the learner's username and evidence text."""
    definition = make_definition(requirements=[STAFF_PROJECT])
    learner = UserFactory(username="retiring-learner")
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "my secret project notes"}, idempotency_key="e")
    other = UserFactory(username="staying-learner")
    [kept_window] = api.open_windows(other.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    kept = api.record_evidence(window=kept_window, requirement=definition.requirements.get(), source="learner",
                               payload={"text": "still here"}, idempotency_key="k")
    from rest_framework.test import APIClient  # pylint: disable=import-outside-toplevel
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(course_staff)}")
    for item, key in ((evidence, "review-1"), (kept, "review-2")):
        response = client.post(api_url("evidence_reviews", course_id=course_key, evidence_id=item.pk),
                               {"verdict": "verified"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 201
    assert "my secret project notes" in json.dumps([row.response for row in IdempotentRequest.objects.all()])
    api.retire_user(learner.pk)
    stored = json.dumps([row.response for row in IdempotentRequest.objects.all()])
    assert "retiring-learner" not in stored and "my secret project notes" not in stored
    assert "still here" in stored  # another learner's reply is kept for its client's retries


def test_one_global_opt_out_per_learner_even_when_inserted_twice(learner):
    """The unique key (user, definition) let two rows with an empty definition in."""
    api.opt_out(learner.pk)
    api.opt_out(learner.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptOptOut.objects.create(user=learner, definition=None)
    assert PromptOptOut.objects.filter(user=learner).count() == 1


# Evidence is frozen once a reviewer holds it or it is settled, whatever its kind.

STAFF_SURVEY = {"kind": "survey", "title": "Follow-up survey", "verification": "staff", "config": {
    "questions": [{"id": "used", "type": "single_choice", "text": "Did you use it?", "options": ["yes", "no"]}],
    "activation_condition": {"match": "any_answer"}}}


@pytest.fixture
def survey_window(make_definition, learner, course_key):
    definition = make_definition(requirements=[STAFF_SURVEY])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    return window, definition.requirements.get()


def answer(window, requirement, key, used):
    return api.save_learner_response(window=window, requirement=requirement, payload={"answers": {"used": used}},
                                     idempotency_key=key)


@pytest.mark.parametrize("verdict", ["verified", "rejected"])
def test_a_reviewed_survey_answer_stays_as_reviewed_and_a_change_is_a_new_submission(survey_window, staff_user,
                                                                                     verdict):
    window, requirement = survey_window
    first = answer(window, requirement, "a1", "yes")
    api.review_evidence(first, verdict=verdict, role="staff", reviewer=staff_user, version=first.submitted_at)
    changed = answer(window, requirement, "a2", "no")
    first.refresh_from_db()
    assert (first.payload["answers"], first.status) == ({"used": "yes"}, verdict)
    assert changed.pk != first.pk and changed.status == "submitted" and not changed.reviews.exists()
    assert changed.payload["answers"] == {"used": "no"}


def test_a_survey_answer_changed_under_review_moves_its_version_and_the_stale_verdict_is_refused(survey_window,
                                                                                                 staff_user):
    window, requirement = survey_window
    first = answer(window, requirement, "a1", "yes")
    read = first.submitted_at  # what the reviewer opened
    edited = answer(window, requirement, "a2", "no")
    assert edited.pk == first.pk and edited.submitted_at > read  # the version a verdict is about
    with pytest.raises(ActivationRequestError, match="changed this evidence"):
        api.review_evidence(edited, verdict="verified", role="staff", reviewer=staff_user, version=read)


# Self- and mutual confirmation of supervisors, with addresses compared as their providers deliver them.

@pytest.fixture
def observed(make_definition, course_key):
    make_definition(requirements=[OBSERVATION], window_days=30)

    def window_of(email):
        user = UserFactory(email=email)
        [window] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=1))
        return window
    return window_of


@pytest.mark.parametrize("learner_email, supervisor_email", [
    ("ol1@gmail.com", "ol1@googlemail.com"),  # one mailbox, two domains
    ("ol1@googlemail.com", "O.L.1+boss@Gmail.com"),
    ("ol2@gmail.com", '"ol2"@gmail.com'),  # a quoted local part
])
def test_a_learner_cannot_invite_their_own_mailbox(observed, learner_email, supervisor_email):
    window = observed(learner_email)
    with pytest.raises(ActivationRequestError, match="own address|plain address"):
        api.invite_supervisor(window, window.definition.requirements.get(), supervisor_email)
    assert not SupervisorInvite.objects.exists()


def test_a_quoted_local_part_is_refused(observed):
    window = observed("ann@example.com")
    with pytest.raises(ActivationRequestError, match="plain address"):
        api.invite_supervisor(window, window.definition.requirements.get(), '"boss"@example.com')


@pytest.mark.parametrize("a_invites, b_invites", [
    ("b.b+work@gmail.com", "aa+x@googlemail.com"),
    ("BB@gmail.com", "a.a@gmail.com"),
])
def test_two_learners_cannot_confirm_each_other_through_address_variants(observed, a_invites, b_invites):
    a, b = observed("aa@gmail.com"), observed("bb@gmail.com")
    api.invite_supervisor(a, a.definition.requirements.get(), a_invites)
    with pytest.raises(ActivationRequestError, match="asked you to confirm"):
        api.invite_supervisor(b, b.definition.requirements.get(), b_invites)


def test_a_mutual_pair_from_before_is_flagged_to_staff(observed, course_key, client, course_staff):
    a, b = observed("aa@gmail.com"), observed("bb@gmail.com")
    stranger = observed("cc@example.com")
    for window, email in ((a, "b.b@gmail.com"), (b, "aa+1@googlemail.com"), (stranger, "boss@example.com")):
        SupervisorInvite.objects.create(window=window, requirement=window.definition.requirements.get(),
                                        email=email, nonce=f"n{window.pk}",
                                        expires_at=timezone.now() + timedelta(days=7))
    flagged = {invite.window_id: invite.mutual for invite in api.invites_for_course(course_key)}
    assert flagged == {a.pk: True, b.pk: True, stranger.pk: False}
    client.force_login(course_staff)
    page = client.get(reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)})).content
    assert page.decode().count('data-flag="mutual"') == 2


def test_a_learner_s_name_is_never_a_link_in_the_mail_to_their_supervisor(observed, mailoutbox,
                                                                          django_capture_on_commit_callbacks):
    window = observed("ann@example.com")
    window.user.first_name, window.user.last_name = "Claim prize at", "paypa1-login.com"
    window.user.save()
    with django_capture_on_commit_callbacks(execute=True):  # the invitation is mailed once it commits
        api.invite_supervisor(window, window.definition.requirements.get(), "boss@example.com")
    [invitation] = mailoutbox
    html = invitation.alternatives[0][0]
    assert "paypa1-login.com" in html and 'href="http://paypa1-login.com"' not in html
    confirm = links.supervisor_url(SupervisorInvite.objects.get())
    assert f'href="{confirm}"' in html  # the button still leads the supervisor to the form
