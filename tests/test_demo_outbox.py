"""The demo's outbox: the mail the plugin sent, stored by the demo's email backend."""
import re
from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api
from activation_plugin.test_utils.factories import UserFactory
from demo.models import DemoSentMail
from tests.conftest import PROJECT


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
