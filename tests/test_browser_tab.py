"""
The instructor's journey in headless Chromium: configure activation on the plugin's pages, watch
real completion events open windows, a learner submit, staff verify, and the figures change.
Screenshots go to ``ACTIVATION_SCREENSHOTS`` when set (``make screenshots`` writes the docs' images).
"""
import os
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from openedx_events.learning.data import CourseData, CoursePassingStatusData, UserData, UserPersonalData
from openedx_events.learning.signals import COURSE_PASSING_STATUS_UPDATED

from activation_plugin.models import ActivationDefinition, ActivationWindow
from tests.conftest import log_in, screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def complete(user, course_key, when):
    COURSE_PASSING_STATUS_UPDATED.send_event(time=when, course_passing_status=CoursePassingStatusData(
        is_passing=True, course=CourseData(course_key=course_key),
        user=UserData(id=user.pk, is_active=True, pii=UserPersonalData(
            username=user.username, email=user.email, name=user.username))))


def test_instructor_configures_and_sees_the_rate_change(page, live_server, course_key, settings):  # noqa: F811  # pylint: disable=too-many-statements
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # six learners, every figure shown
    teacher = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(teacher)
    log_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/activation/courses/{course_key}/")
    page.click("text=New definition")

    page.fill("input[name=name]", "Uses the de-escalation script")
    page.fill("textarea[name=behavior]", "Calms an upset customer with the four-step script.")
    page.fill("input[name=window_days]", "30")
    form = page.locator("[data-requirement-form='0']")
    form.locator("select[name$='-kind']").select_option("survey")
    # Only the chosen kind's fields show once the script runs.
    assert form.locator("[data-field=questions]").is_visible()
    assert not form.locator("[data-field=instructions]").is_visible()
    form.locator("input[name$='-title']").fill("Did you use it?")
    form.locator("input[name$='-questions-0-text']").fill("Did you use the script?")
    form.locator("select[name$='-questions-0-type']").select_option("single_choice")
    form.locator("textarea[name$='-questions-0-options']").fill("yes\nno")
    form.locator("textarea[name$='-questions-0-counts']").fill("yes")  # only a "yes" means applied
    form.locator("select[name$='-activation_match']").select_option("all")
    form.locator("input[name$='-subject']").fill("Did {course_name} help, {learner_name}?")
    form.locator("textarea[name$='-body']").fill("Tell us by {deadline}: {link}")
    # A second row appears in place; a field that does not apply (options of a text question) stays hidden.
    form.locator("button:has-text('Add a question')").click()
    assert page.evaluate("document.activeElement.name") == "requirements-0-questions-1-text"
    assert not form.locator("[data-row='1'] textarea[name$='-options']").is_visible()
    form.locator("input[name$='-questions-1-text']").fill("What happened next?")
    form.locator("input[name$='-questions-1-optional']").check()
    page.click("button[data-template=project]")  # a project with a rubric, from the templates
    second = page.locator("[data-requirement-form='1']")
    assert second.locator("select[name$='-kind']").input_value() == "project"
    assert second.locator("input[name$='-rubric-0-criterion']").input_value()
    second.locator("input[name$='-title']").fill("Recorded call")
    assert not second.locator("[data-field=pass_percent]").is_visible()  # staff review: no peer settings
    second.locator("textarea[name$='-instructions']").fill("Upload a recorded call where you used it.")
    page.select_option("select[name=rule]", "all")
    screenshot(page, "configure")
    page.fill("input[name=window_days]", "0")
    page.click("button:has-text('Save')")
    assert "greater than or equal to 1" in page.locator("[data-field=window_days]").inner_text()
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    page.fill("input[name=window_days]", "30")
    page.click("button:has-text('Save')")
    assert "The definition was saved." in page.locator(".activation-messages").inner_text()

    page.click("text=Preview the learner page and emails")
    assert "Did teacher" not in page.content() and "Did Applying Things help, Alex Example?" in page.content()
    screenshot(page, "preview")
    page.go_back()
    page.click("button:has-text('Activate')")
    assert page.locator(".activation-status").get_attribute("data-status") == "active"
    definition = ActivationDefinition.objects.get()

    learners = UserFactory.create_batch(6)
    for learner in learners[:5]:
        complete(learner, course_key, timezone.now() - timedelta(days=40))
    complete(learners[5], course_key, timezone.now() - timedelta(days=1))
    assert ActivationWindow.objects.filter(definition=definition).count() == 6

    page.reload()
    assert page.locator("[data-figure=completers]").inner_text() == "6"
    assert page.locator("[data-figure=rate]").inner_text() == "0.0 %"
    assert page.locator("[data-figure=km_rate]").inner_text() == "0.0 %"

    # The open learner answers the survey and submits the project; staff verify it.
    page.context.clear_cookies()
    learners[5].set_password("password")
    learners[5].save()
    log_in(page, live_server, learners[5].username)
    page.goto(f"{live_server.url}/activation/learner/{course_key}/")
    page.check("input[value=yes]")
    page.locator("[data-kind=survey] button:has-text('Submit')").click()
    page.fill("input[name=url]", "https://example.org/call")
    page.locator("[data-kind=project] button:has-text('Submit')").click()
    assert page.locator(".activation-window").get_attribute("data-state") == "open"
    screenshot(page, "learner")
    page.context.clear_cookies()
    log_in(page, live_server, "teacher")
    page.goto(f"{live_server.url}/activation/courses/{course_key}/reviews/")
    screenshot(page, "reviews")
    # The template's project has a rubric: staff score it, and the pass mark decides (full marks here).
    for index, points in enumerate(("2", "3", "1")):
        page.fill(f"input[name=score-{index}]", points)
    page.click("button:has-text('Record the scores')")
    page.goto(f"{live_server.url}/activation/courses/{course_key}/definitions/{definition.pk}/")
    # The running window's activation moves the Kaplan–Meier estimate, not the rate: the rate
    # counts ended windows only, and that learner's classmates in running windows have had no
    # chance to activate yet (issue 16).
    assert page.locator("[data-figure=open_activated]").inner_text() == "1"
    assert page.locator("[data-figure=rate]").inner_text() == "0.0 %"
    assert page.locator("[data-figure=km_rate]").inner_text() != "0.0 %"
    screenshot(page, "definition")

    # Now that windows exist, history fields are locked on the edit page.
    page.click("text=Edit")
    assert page.locator("[data-locked]").is_visible()
    assert page.locator("input[name=window_days]").is_disabled()


@pytest.mark.parametrize("who", ["learner", "other_staff"])
def test_others_are_refused(page, live_server, course_key, make_definition, who):  # noqa: F811
    definition = make_definition()
    user = UserFactory(username="outsider")
    if who == "other_staff":
        Group.objects.create(name="activation-staff:course-v1:OtherX+OTHER+2026").user_set.add(user)
    log_in(page, live_server, "outsider")
    for path in ("", "definitions/new/", f"definitions/{definition.pk}/"):
        response = page.goto(f"{live_server.url}/activation/courses/{course_key}/{path}")
        assert response.status == 403
        assert "Uses it at work." not in page.content()


def test_the_demo_course_shows_its_runs_compared(page, live_server, settings):  # noqa: F811
    """The seeded demo, as an instructor sees it: the later run's improvement with its uncertainty."""
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    from demo.management.commands.seed_demo import RUNS  # pylint: disable=import-outside-toplevel
    call_command("seed_demo", stdout=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    later_run = RUNS[1][0]
    log_in(page, live_server, "instructor", password="instructor")
    page.goto(f"{live_server.url}/courses/{later_run}/instructor/")
    section = page.locator("#section-activation")
    assert section.locator("[data-figure=rate]").first.inner_text().endswith("%")
    screenshot(page, "legacy-dashboard")
    section.locator("h3 a").first.click()
    page.wait_for_load_state("load")
    reading = page.locator("[data-figure=difference]").last.inner_text()
    assert reading.startswith("2026_T2 vs 2026_T1: +") and "95% interval" in reading  # the runs' names, not keys
    assert page.locator("canvas[data-chart=km]").is_visible()
    assert page.evaluate("() => window.Chart !== undefined && Object.keys(window.Chart.instances).length === 2")
    screenshot(page, "activation-tab")
