"""
Issue 32 §3 and §8, in headless Chromium at 1280 and 390 px: the builder, the Activation page, the
review queue and the supervisor's page fit a phone without sideways scrolling, and their controls
are sized to be used (tap targets, labels on one line, the destructive button set apart).
"""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from activation_plugin import api
from tests.conftest import OBSERVATION, PROJECT, SURVEY, committed, log_in, screenshot
from tests.factories import UserFactory
from tests.figures_data import make_windows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PRIMARY_GREEN = "rgb(11, 110, 79)"


@pytest.fixture(params=list(WIDTHS))
def sized(request, browser):
    context = browser.new_context(viewport=WIDTHS[request.param], locale="en")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.width_name = request.param
    yield page
    context.close()


@pytest.fixture
def teacher(course_key):
    user = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(user)
    return user


def page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def sideways(page, selector):
    """The elements matching ``selector`` whose content is wider than they are (they scroll sideways)."""
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)]
        .filter(element => element.scrollWidth > element.clientWidth + 1).map(element => element.className)""",
                         selector)


def viewport(page):
    return page.viewport_size["width"]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_builder_and_the_edit_form_fit_the_screen(
        sized, live_server, course_key, make_definition, teacher, language):
    draft = make_definition(requirements=[SURVEY], activate=False)
    log_in(sized, live_server, "teacher")
    sized.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    for path in (f"/activation/courses/{course_key}/definitions/new/",
                 f"/activation/courses/{course_key}/definitions/{draft.pk}/edit/"):
        sized.goto(f"{live_server.url}{path}")
        assert page_width(sized) <= viewport(sized), path
    screenshot(sized, f"builder-edit-{sized.width_name}-{language}")


def test_the_activation_pages_cards_do_not_scroll_sideways(
        sized, live_server, course_key, make_definition, teacher):
    definition = make_definition(requirements=[PROJECT, SURVEY], holdout_percent=20)
    make_windows(definition, 12, state="activated", days=4)
    make_windows(definition, 12)
    log_in(sized, live_server, "teacher")
    for path in (f"/activation/courses/{course_key}/",
                 f"/activation/courses/{course_key}/definitions/{definition.pk}/"):
        sized.goto(f"{live_server.url}{path}")
        assert page_width(sized) <= viewport(sized), path
        assert sideways(sized, ".activation-panel, .activation-summary, .activation-scorecard") == [], path
        # A table wider than its card scrolls on its own, its caption and every column reachable inside it.
        for table in sized.locator(".activation-table").all():
            box = table.bounding_box()
            card = table.evaluate("t => t.closest('section, article').getBoundingClientRect().right")
            assert box is None or box["x"] + box["width"] <= card + 1, path
    screenshot(sized, f"activation-definition-{sized.width_name}")


def test_the_review_queue_controls_are_usable(sized, live_server, course_key, make_definition, teacher, learner):
    definition = make_definition(requirements=[OBSERVATION])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    with committed():
        api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    log_in(sized, live_server, "teacher")
    sized.goto(f"{live_server.url}/activation/courses/{course_key}/reviews/")
    assert page_width(sized) <= viewport(sized)
    for control in sized.locator(".activation-filters select, .activation-filters input").all():
        assert control.bounding_box()["height"] >= 36
    for label in sized.locator(".activation-filters label").all():
        assert label.evaluate("l => { const r = document.createRange(); r.selectNodeContents(l.firstChild);"
                              " return r.getClientRects().length; }") == 1
    resend, revoke = sized.locator("button[value=resend]"), sized.locator("button[value=revoke]")
    assert abs(resend.bounding_box()["y"] - revoke.bounding_box()["y"]) < 2
    assert revoke.evaluate("b => getComputedStyle(b).backgroundColor") != PRIMARY_GREEN
    screenshot(sized, f"review-queue-{sized.width_name}")
    sized.goto(f"{live_server.url}/activation/courses/{course_key}/definitions/{definition.pk}/#plan")
    form = sized.locator(".activation-plan-form")
    assert sized.locator(".activation-plan-form textarea").bounding_box()["width"] >= 0.9 * form.bounding_box()[
        "width"] - 40
    assert sideways(sized, ".activation-panel") == []
    screenshot(sized, f"plan-form-{sized.width_name}")


def test_the_supervisor_page_is_easy_on_a_phone(sized, live_server, course_key, make_definition, learner):
    definition = make_definition(requirements=[OBSERVATION])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    with committed():
        api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    link = re.search(r"https?://[^/\s]+(/activation/observe/\S+/)", mail.outbox[0].body).group(1)
    sized.goto(f"{live_server.url}{link}")
    assert "“Applying Things”" in sized.locator("main").inner_text()
    assert page_width(sized) <= viewport(sized)
    for radio in sized.locator("input[type=radio]").all():
        box = radio.bounding_box()
        assert box["width"] >= 20 and box["height"] >= 20
    for label in sized.locator(".activation-observation fieldset label").all():
        assert label.bounding_box()["height"] >= 44
        assert label.evaluate("l => { const r = document.createRange(); r.selectNodeContents(l.lastChild);"
                              " return r.getClientRects().length; }") == 1
    form = sized.locator(".activation-observation").bounding_box()
    assert sized.locator("textarea[name=comment]").bounding_box()["width"] >= 0.9 * form["width"]
    screenshot(sized, f"supervisor-page-{sized.width_name}")
