"""
Keyboard only (issue 18, WCAG 2.1.1): the three workflows of the product done without a mouse, in
Debian's Chromium — configure and activate a definition, submit a project as a learner, verify
it in the review queue. Every control is reached with Tab, operated with Enter, Space or the
arrow keys, and shows where the focus is.
"""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, Evidence
from tests.conftest import PROJECT, SURVEY, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MAX_TABS = 200


def tab_to(page, selector):
    """Press Tab until ``selector`` has the focus, as a keyboard user would; fail if Tab never gets there."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            assert page.evaluate("""() => {
                const style = getComputedStyle(document.activeElement);
                return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
            }"""), f"{selector} has the focus but shows no focus outline"
            return
    raise AssertionError(f"Tab never reaches {selector}")


def type_into(page, selector, text):
    tab_to(page, selector)
    page.keyboard.type(text)


@pytest.fixture
def teacher(course_key):
    user = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(user)
    return user


def test_configure_and_activate_with_the_keyboard(page, live_server, course_key, teacher):
    log_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/activation/courses/{course_key}/")
    tab_to(page, "a[href$='/definitions/new/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/definitions/new/")

    type_into(page, "input[name=name]", "Uses the de-escalation script")
    type_into(page, "textarea[name=behavior]", "Calms an upset customer with the script.")
    tab_to(page, "input[name=window_days]")
    page.keyboard.press("Control+A")
    page.keyboard.type("30")
    # The project template, from its button: Space presses a focused button.
    tab_to(page, "button[data-template=project]")
    page.keyboard.press("Space")
    page.wait_for_selector("[data-requirement-form='1']")
    # The blank first requirement becomes a survey with the arrow keys, and gets its first question.
    tab_to(page, "select[name='requirements-0-kind']")
    page.keyboard.press("ArrowDown")
    assert page.locator("select[name='requirements-0-kind']").input_value() == "survey"
    type_into(page, "input[name='requirements-0-title']", "Did you use it?")
    type_into(page, "input[name='requirements-0-questions-0-text']", "How confident are you?")
    tab_to(page, "button[value='requirements-0-questions']")
    page.keyboard.press("Enter")  # a second row, focused in place
    assert page.evaluate("document.activeElement.name") == "requirements-0-questions-1-text"
    page.keyboard.type("What changed?")
    tab_to(page, "select[name='requirements-0-activation_match']")
    for _ in range(3):  # past "all" and "any" to "every answer counts"
        page.keyboard.press("ArrowDown")
    assert page.locator("select[name='requirements-0-activation_match']").input_value() == "any_answer"
    type_into(page, "input[name='requirements-1-title']", "Recorded call")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a field saves
    assert "data-error-summary" not in page.content(), page.locator("[data-error-summary]").inner_text()
    definition = ActivationDefinition.objects.get()
    assert [(r.kind, r.title) for r in definition.requirements.all()] == [
        ("survey", "Did you use it?"), ("project", "Recorded call")]
    assert [q["text"] for q in definition.requirements.first().config["questions"]] == [
        "How confident are you?", "What changed?"]

    tab_to(page, "button[value=activate]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".activation-status[data-status=active]")
    definition.refresh_from_db()
    assert definition.status == "active"


def test_submit_a_project_and_answer_a_survey_with_the_keyboard(page, live_server, course_key, make_definition):
    definition = make_definition(window_days=30, requirements=[PROJECT | {"verification": "staff"}, SURVEY])
    learner = UserFactory(username="learner")
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    log_in(page, live_server, "learner")
    page.goto(f"{live_server.url}/activation/learner/{course_key}/")
    type_into(page, "[data-kind=project] input[name=url]", "https://example.org/my-call")
    type_into(page, "[data-kind=project] textarea[name=text]", "Calmed an upset customer with the script.")
    tab_to(page, "[data-kind=project] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # A radio group takes one Tab stop; Space picks the focused option, the arrows move through them.
    tab_to(page, "[data-kind=survey] input[type=radio]")
    page.keyboard.press("Space")
    type_into(page, "[data-kind=survey] textarea", "Every day.")
    tab_to(page, "[data-kind=survey] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    project, survey = definition.requirements.all()
    assert Evidence.objects.get(requirement=project).payload["url"] == "https://example.org/my-call"
    assert Evidence.objects.get(requirement=survey).payload["answers"] == {"used": "yes", "how": "Every day."}


def test_verify_a_submission_with_the_keyboard(page, live_server, course_key, teacher, make_definition):
    definition = make_definition(window_days=30, requirements=[PROJECT | {"verification": "staff"}])
    learner = UserFactory(username="learner")
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "Calmed a customer down."}, idempotency_key="k",
                                   submitted_at=timezone.now())
    log_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/activation/courses/{course_key}/")
    tab_to(page, "a[data-pending]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/reviews/")
    type_into(page, "textarea[name=comment]", "Clear and well argued.")
    tab_to(page, "button[value=verified]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    evidence.refresh_from_db()
    assert evidence.status == Evidence.Status.VERIFIED
    assert evidence.reviews.get().comment == "Clear and well argued."
