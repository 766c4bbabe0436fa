"""
Known XSS payloads in every text an instructor, learner, reviewer or supervisor can write, rendered
on every page in the real browser: no script may run.
"""
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api, links
from activation_plugin.api import definitions
from activation_plugin.models import SupervisorInvite
from tests.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each payload, if it ever ran, would set window.__xss (or open a dialog, which the test also catches).
PAYLOADS = [
    '<script>window.__xss=1</script>',
    '<img src=x onerror="window.__xss=2">',
    '"><svg onload="window.__xss=3">',
    "'><iframe srcdoc=\"<script>parent.__xss=4</script>\"></iframe>",
    '</textarea><script>window.__xss=5</script>',
    '{{ 7*7 }}${window.__xss=6}',
    '</script><script>window.__xss=7</script>',
]
EVIL = " ".join(PAYLOADS)


def hostile_definition(course_key):
    requirements = [
        {"kind": "project", "title": EVIL, "verification": "staff",
         "config": {"instructions": EVIL, "rubric": [{"criterion": EVIL, "max_score": 2}]},
         "prompts": [{"subject": EVIL, "body": EVIL + " {link}"}]},
        {"kind": "survey", "title": EVIL, "config": {"questions": [
            {"id": "q1", "type": "single_choice", "text": EVIL, "options": [PAYLOADS[1], PAYLOADS[2]]},
            {"id": "q2", "type": "text", "text": EVIL, "required": False}],
            "activation_condition": {"match": "all", "answers": [{"question": "q1", "options": [PAYLOADS[1]]}]}}},
        {"kind": "observation", "title": EVIL, "verification": "supervisor", "config": {"checklist": PAYLOADS}},
        {"kind": "metric", "title": EVIL, "config": {"metric": EVIL[:90], "threshold": 1, "direction": "higher"}},
    ]
    definition = definitions.create_definition(course_key=course_key, name=EVIL[:255], behavior=EVIL,
                                               window_days=30, requirements=requirements)
    return definitions.activate_definition(definition)  # the row: the pages render its requirements


def assert_no_script_ran(page, url):  # noqa: F811
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("load")
    # The email preview's own frame is fully sandboxed (no scripts); an injected one would not be.
    unsandboxed = "iframe[srcdoc]:not([sandbox=''])"
    assert page.evaluate(f"() => window.__xss === undefined && !document.querySelector(\"{unsandboxed}\")"), url
    assert dialogs == [], url


def test_no_payload_runs_on_any_page(page, live_server, course_key):  # noqa: F811
    definition = hostile_definition(course_key)
    project, survey, observation, _metric = definition.requirements.all()
    learner = UserFactory(username="mallory", first_name=PAYLOADS[0][:30])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = api.record_evidence(window=window, requirement=project, source="learner",
                                   payload={"text": EVIL, "url": "https://example.org/?q=%3Cscript%3E",
                                            "file_name": EVIL[:200]},
                                   idempotency_key="x1", submitted_at=timezone.now())
    api.save_learner_response(window=window, requirement=survey,
                              payload={"answers": {"q1": PAYLOADS[1], "q2": EVIL}}, idempotency_key="x2")
    api.review_evidence(evidence, verdict="rejected", role="staff", reviewer=UserFactory(is_staff=True),
                        comment=EVIL)
    invite = SupervisorInvite.objects.create(window=window, requirement=observation, email="boss@example.com",
                                             nonce="n-xss", expires_at=timezone.now() + timedelta(days=3))
    teacher = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(teacher)

    base = f"{live_server.url}/activation"
    course = str(course_key)
    log_in(page, live_server, "teacher")
    for path in (f"/courses/{course}/", f"/courses/{course}/definitions/{definition.pk}/",
                 f"/courses/{course}/definitions/{definition.pk}/edit/",
                 f"/courses/{course}/definitions/{definition.pk}/preview/",
                 f"/courses/{course}/reviews/?status=rejected"):
        assert_no_script_ran(page, base + path)
    assert_no_script_ran(page, f"{live_server.url}/courses/{course}/instructor/")
    page.context.clear_cookies()
    log_in(page, live_server, "mallory")
    assert_no_script_ran(page, f"{base}/learner/{course}/")
    page.context.clear_cookies()
    assert_no_script_ran(page, live_server.url + links.supervisor_url(invite).removeprefix(settings.LMS_ROOT_URL))
