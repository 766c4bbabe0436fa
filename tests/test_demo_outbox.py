"""The demo's outbox: the mail the plugin sent, stored by the demo's email backend."""
import re
from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api
from demo.models import DemoSentMail
from tests.conftest import PROJECT
from tests.factories import UserFactory


def test_outbox_shows_prompts_sent_by_the_tick_to_operators_only(
        client, make_definition, course_key, learner, settings):
    """Every course's mail, supervisor links included: one course's staff used to read them all."""
    settings.EMAIL_BACKEND = "demo.mail.DatabaseEmailBackend"
    make_definition(requirements=[{**PROJECT, "prompts": [
        {"send_after_days": 0, "subject": "Show us, {learner_name}", "body": "Go to {link}"}]}])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(hours=1))
    client.force_login(learner)
    assert client.get("/outbox/").status_code == 403
    course_staff = UserFactory()
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(course_staff)
    client.force_login(course_staff)
    assert client.get("/outbox/").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    assert client.post("/outbox/").status_code == 302  # runs the tick
    mail = DemoSentMail.objects.get()
    assert (mail.to, mail.subject) == (learner.email, "Show us, learner")
    page = client.get("/outbox/")
    assert b"Show us, learner" in page.content and b"/activation/opt-out/" in page.content
    # The HTML part as a mail client shows it, sandboxed: no script of a mail runs in the outbox.
    assert "Show how you applied it" in mail.html
    [frame] = re.findall(r"<iframe[^>]*>", page.content.decode())
    assert frame.startswith("<iframe sandbox srcdoc=") and "&lt;div style=&quot;" in frame and "<div" not in frame


def test_the_demo_dashboard_answers_404_to_a_malformed_course_key(client, course_staff):
    client.force_login(course_staff)
    assert client.get("/courses/not-a-course-key/instructor/").status_code == 404


def test_the_demo_host_has_no_public_default_secret(settings):
    """A secret everyone knows would let anyone forge the demo's sessions, signed links and JWTs."""
    secrets = {settings.SECRET_KEY, settings.JWT_AUTH["JWT_ISSUERS"][0]["SECRET_KEY"]}
    assert len(secrets) == 2 and all(len(secret) >= 48 for secret in secrets)
    assert not {"demo-only-not-a-secret", "demo-jwt-signing-secret-for-the-demo-host-only"} & secrets


def test_outbox_pages_twenty_mails_at_a_time_and_searches_address_subject_and_text(client, db):
    """The outbox was one 115,000-px page of every mail (~200 iframes), with no way to find one."""
    for number in range(45):
        DemoSentMail.objects.create(to=f"learner{number:03d}@demo.localhost", subject=f"Prompt {number}",
                                    body=f"Go to http://127.0.0.1:8000/x/{number}",
                                    html="<p>hi</p>" if number % 2 else "")
    client.force_login(UserFactory(is_staff=True))
    first = client.get("/outbox/").content.decode()
    assert first.count("data-mail=") == 20 and "Prompt 44" in first and "Prompt 24" not in first
    assert "Page 1 of 3 · 45 mails" in first and 'href="?page=2"' in first
    assert first.count("<iframe") <= 10
    last = client.get("/outbox/?page=3").content.decode()
    assert last.count("data-mail=") == 5 and "Prompt 0<" in last and 'href="?page=2"' in last
    found = client.get("/outbox/?q=learner007").content.decode()
    assert found.count("data-mail=") == 1 and "Prompt 7<" in found and 'value="learner007"' in found
    assert client.get("/outbox/?q=x/13").content.decode().count("data-mail=") == 1  # the text part
    assert "No mail matches" in client.get("/outbox/?q=nobody").content.decode()
    assert client.get("/outbox/?page=99").content.decode().count("data-mail=") == 5  # past the end: the last page
