"""The demo's pages in headless Chromium (Debian's), driven by Playwright, against a live server."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api
from tests.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_instructor_sees_the_activation_section_and_learner_submits(page, live_server, make_definition, course_key):
    definition = make_definition(window_days=30)
    for index, user in enumerate(UserFactory.create_batch(20)):
        [window] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=45))
        if index < 5:
            api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                payload={"text": "done"}, idempotency_key=f"k{index}", submitted_at=window.opened_at)
    teacher = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(teacher)
    learner = UserFactory(username="newcomer")
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))

    log_in(page, live_server, "teacher")
    page.click("text=Instructor dashboard")
    section = page.locator("#section-activation")
    assert section.locator("[data-figure=rate]").inner_text() == "25.0 %"
    assert section.locator("[data-figure=open]").inner_text() == "1"
    assert "95% interval" in section.inner_text()
    page.click("text=Open the Activation page")
    assert page.locator("h1").inner_text().startswith("Activation")

    page.context.clear_cookies()
    log_in(page, live_server, "newcomer")
    page.goto(f"{live_server.url}/activation/learner/{course_key}/")
    page.fill("input[name=url]", "https://example.org/my-call")
    page.fill("textarea[name=text]", "Calmed an upset customer with the script.")
    page.set_input_files("input[name=file]", files=[{"name": "call-notes.txt", "mimeType": "text/plain",
                                                     "buffer": b"Customer calmed down after step two."}])
    page.click("button:has-text('Submit')")
    assert "your answer was saved" in page.locator(".activation-messages").inner_text()
    assert page.locator(".activation-file").inner_text() == "call-notes.txt"
    assert page.locator(".activation-window").get_attribute("data-state") == "activated"


def test_learner_answers_and_edits_a_survey(page, live_server, make_definition, course_key):
    from tests.conftest import SURVEY  # pylint: disable=import-outside-toplevel
    survey = {**SURVEY, "config": {"questions": [
        *SURVEY["config"]["questions"],
        {"id": "tools", "type": "multiple_choice", "text": "Which tools?", "options": ["script", "checklist"]},
        {"id": "confidence", "type": "likert", "text": "How confident are you?"},
        {"id": "calls", "type": "number", "text": "Calls handled with it"},
    ], "activation_condition": SURVEY["config"]["activation_condition"]}}
    make_definition(requirements=[survey])
    learner = UserFactory(username="surveyed")
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    log_in(page, live_server, "surveyed")
    page.goto(f"{live_server.url}/activation/learner/{course_key}/")
    page.check("input[name=q-tools][value=script]")
    page.check("input[name=q-tools][value=checklist]")
    page.check("input[name=q-confidence][value='4']")
    page.fill("input[name=q-calls]", "12")
    page.click("button:has-text('Submit')")  # the required first question is unanswered
    assert "Question 'Did you use it?' is required." in page.locator(".activation-messages").inner_text()
    assert learner_evidence(learner) == []
    page.check("input[name=q-used][value=yes]")
    page.check("input[name=q-tools][value=script]")
    page.check("input[name=q-confidence][value='4']")
    page.fill("input[name=q-calls]", "12")
    page.click("button:has-text('Submit')")
    assert "your answer was saved" in page.locator(".activation-messages").inner_text()
    assert page.locator(".activation-window").get_attribute("data-state") == "activated"
    # Editable until the window closes: the form comes back filled in, and a change replaces the answer.
    assert page.locator("input[name=q-confidence][value='4']").is_checked()
    page.check("input[name=q-confidence][value='5']")
    page.click("button:has-text('Update my answer')")
    assert page.locator("input[name=q-confidence][value='5']").is_checked()
    evidence = learner_evidence(learner)
    assert len(evidence) == 1 and evidence[0].payload["answers"]["confidence"] == 5


def learner_evidence(user):
    from activation_plugin.models import Evidence  # pylint: disable=import-outside-toplevel
    return list(Evidence.objects.filter(window__user=user))
