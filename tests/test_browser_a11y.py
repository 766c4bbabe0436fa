"""
Accessibility (issue 18): axe-core, the engine behind most WCAG checkers, run in Debian's Chromium
on every page of the plugin as an instructor, a learner and a supervisor see them: no serious or
critical violation of WCAG 2.1 A/AA. axe-core is vendored from npm in tests/vendor (``make
vendor-axe``), not shipped in the wheel.
"""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from activation_plugin import api
from tests.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
STAFF_PAGES = ["/activation/courses/{course}/", "/activation/courses/{course}/definitions/{definition}/",
               "/activation/courses/{course}/definitions/{definition}/edit/",
               "/activation/courses/{course}/definitions/new/",
               "/activation/courses/{course}/definitions/{definition}/preview/",
               "/activation/courses/{course}/definitions/{definition}/success-cases/",
               "/activation/courses/{course}/reviews/", "/activation/courses/{course}/kpi/"]
LEARNER_PAGES = ["/activation/learner/{course}/", "/activation/learner/{course}/peer-review/"]


def serious_violations(page):
    page.add_script_tag(content=AXE)
    result = page.evaluate("options => axe.run(document, options)", {"runOnly": {"type": "tag", "values": WCAG}})
    return [(violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]][:3])
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]


@pytest.fixture
def course(make_definition, course_key):
    definition = make_definition(window_days=30, requirements=[
        {"kind": "project", "title": "Applied project", "verification": "staff",
         "config": {"instructions": "Show your work.", "rubric": [{"criterion": "Clear", "max_score": 3}]}},
        {"kind": "survey", "title": "Follow-up survey", "config": {"questions": [
            # Every question type: a free-text or number question's field needs its own label (issue 32).
            {"id": "used", "type": "single_choice", "text": "Did you use it?", "options": ["yes", "no"]},
            {"id": "tools", "type": "multiple_choice", "text": "With what?", "options": ["script", "checklist"]},
            {"id": "sure", "type": "likert", "text": "How confident are you?"},
            {"id": "calls", "type": "number", "text": "On how many calls?"},
            {"id": "story", "type": "text", "text": "What happened?"}],
            "activation_condition": {"match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}},
        {"kind": "observation", "title": "Supervisor", "verification": "supervisor",
         "config": {"checklist": ["Greets", "Resolves"]}}])
    learner = UserFactory(username="learner", first_name="Ada")
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    for user in UserFactory.create_batch(12):
        api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=40))
    teacher = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(teacher)
    api.invite_supervisor(window, definition.requirements.get(kind="observation"), "boss@example.com")
    return {"course": str(course_key), "definition": definition.pk}


def test_every_page_has_no_serious_accessibility_violation(page, live_server, course):  # noqa: F811
    found = {}
    log_in(page, live_server, "teacher")
    for path in STAFF_PAGES:
        page.goto(live_server.url + path.format(**course))
        found[path] = serious_violations(page)
    page.context.clear_cookies()
    log_in(page, live_server, "learner")
    for path in LEARNER_PAGES:
        page.goto(live_server.url + path.format(**course))
        found[path] = serious_violations(page)
    page.context.clear_cookies()
    link = re.search(r"http://127.0.0.1:8000(/activation/observe/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(live_server.url + link)
    found["supervisor"] = serious_violations(page)
    assert {path: problems for path, problems in found.items() if problems} == {}


def test_the_check_catches_what_it_should(page):  # noqa: F811
    """The same check on a page with an unlabeled field and an image without text fails: it is not vacuous."""
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input type="text"></main></html>')
    assert {violation for violation, _impact, _nodes in serious_violations(page)} >= {"image-alt", "label"}
