"""The smaller holes of the penetration test of issue 27, each as it was found."""
import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import IdempotentRequest, PromptOptOut
from activation_plugin.test_utils.factories import UserFactory
from tests.conftest import api_url, definition_post, mint_jwt

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
