"""
The learner page on a phone (issue 18): most learners read their follow-up on one, from a prompt
email. At 390 px nothing scrolls sideways, every control is a 44 px tap target and forms fill the
width.
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from activation_plugin import api
from tests.conftest import log_in, screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LONG_URL = "https://example.org/" + "unbroken" * 30


@pytest.fixture
def phone(browser):  # noqa: F811
    context = browser.new_context(viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def learner_with_everything(make_definition, course_key, staff_user):
    """A window with each kind of requirement, a rejected project with feedback and a long link."""
    definition = make_definition(window_days=30, rule="at_least", rule_count=2, requirements=[
        {"kind": "project", "title": "Applied project", "verification": "peer", "reviews_required": 2,
         "config": {"instructions": "Show your work.", "rubric": [{"criterion": "Clear", "max_score": 3}]}},
        {"kind": "survey", "title": "Follow-up survey", "config": {"questions": [
            {"id": "used", "type": "single_choice", "text": "Did you use it?", "options": ["yes", "no"]},
            {"id": "tools", "type": "multiple_choice", "text": "With what?", "options": ["script", "checklist"]},
            {"id": "sure", "type": "likert", "text": "How confident are you?"}],
            "activation_condition": {"match": "any", "answers": [{"question": "used", "options": ["yes"]},
                                                                 {"question": "sure", "at_least": 4}]}}},
        {"kind": "observation", "title": "Supervisor", "verification": "supervisor",
         "config": {"checklist": ["Greets", "Resolves"]}}])
    learner = UserFactory(username="learner")
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    project = definition.requirements.get(kind="project")
    evidence = api.save_learner_response(window=window, requirement=project, idempotency_key="k1",
                                         payload={"url": LONG_URL, "text": "First try"})
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=staff_user, comment="Say more " * 40)
    peer = UserFactory()
    [peer_window] = api.open_windows(peer.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    api.save_learner_response(window=peer_window, requirement=project, idempotency_key="k2", payload={"text": "Mine"})
    return learner


def test_the_learner_page_fits_a_phone(phone, live_server, course_key, learner_with_everything):
    log_in(phone, live_server, "learner")
    phone.goto(f"{live_server.url}/activation/learner/{course_key}/")
    assert phone.locator(".activation-window").count() == 1
    screenshot(phone, "learner-phone")
    widths = phone.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == PHONE["width"]
    small = phone.evaluate("""() => [...document.querySelectorAll(
            '.activation-learner button, .activation-learner a, .activation-learner summary,'
            + ' .activation-learner input:not([type=hidden]), .activation-learner label:has(input[type=radio]),'
            + ' .activation-learner label:has(input[type=checkbox])')]
        .filter(element => element.closest('.activation-evidence, blockquote') === null)
        .filter(element => !element.matches('input[type=radio], input[type=checkbox]'))
        .map(element => [element.outerHTML.slice(0, 80), element.getBoundingClientRect().height])
        .filter(([, height]) => height < 44)""")
    assert small == []
    form = phone.locator(".activation-requirement[data-kind=project] form")
    field = phone.locator("input[name=url]").bounding_box()
    assert field["width"] >= form.bounding_box()["width"] - 1
    assert phone.locator("button:has-text('Submit')").first.bounding_box()["width"] >= form.bounding_box()["width"] - 1
