"""The demo's outbox: the mail the plugin sent, stored by the demo's email backend."""
from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone

from activation_plugin import api
from activation_plugin.test_utils.factories import UserFactory
from demo.models import DemoSentMail
from tests.conftest import PROJECT


def test_outbox_shows_prompts_sent_by_the_tick_to_staff_only(client, make_definition, course_key, learner, settings):
    settings.EMAIL_BACKEND = "demo.mail.DatabaseEmailBackend"
    make_definition(requirements=[{**PROJECT, "prompts": [
        {"send_after_days": 0, "subject": "Show us, {learner_name}", "body": "Go to {link}"}]}])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(hours=1))
    client.force_login(learner)
    assert client.get("/outbox/").status_code == 403
    staff = UserFactory()
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(staff)
    client.force_login(staff)
    assert client.post("/outbox/").status_code == 302  # runs the tick
    mail = DemoSentMail.objects.get()
    assert (mail.to, mail.subject) == (learner.email, "Show us, learner")
    page = client.get("/outbox/")
    assert b"Show us, learner" in page.content and b"/activation/opt-out/" in page.content
