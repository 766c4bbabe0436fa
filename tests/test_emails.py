"""
The follow-up mail as learners and supervisors receive it (issue 18): a plain-text part and an
HTML part rendered from the plugin's edx-ace templates — the instructor's text escaped with its
links clickable, a button for the one thing to do, the opt-out footer set apart — and dates
written in the reader's language, in the demo host and through edx-ace alike.
"""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from activation_plugin import api, prompts
from activation_plugin.platform import LmsBackend
from activation_plugin.test_utils.factories import UserFactory
from demo.models import DemoLanguagePreference
from tests.conftest import NOW, OBSERVATION, PROJECT

pytestmark = pytest.mark.django_db
NBSP = "\u00a0"
PROMPTED = {**PROJECT, "prompts": [{"send_after_days": 0, "subject": "How did it go?",
                                    "body": "Show us by {deadline}: {link}\n<b>bold</b> & more"}]}


def html_of(message):
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


@pytest.fixture
def prompted(make_definition, learner, course_key):
    make_definition(requirements=[PROMPTED], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    return window


def test_a_prompt_has_a_text_part_and_an_html_part_with_its_button_and_footer(prompted, course_key):
    api.tick(now=NOW + timedelta(hours=1))
    [message] = mail.outbox
    link = f"http://127.0.0.1:8000/activation/learner/{course_key}/"
    assert message.body.startswith("Show us by July 1, 2026: " + link)
    assert "\n\n-- \nYou receive this because you completed" in message.body
    html = html_of(message)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html and "<b>bold</b>" not in html  # the instructor's text, escaped
    assert f'<a href="{link}"' in html and ">Show how you applied it</a>" in html  # the button
    assert 'href="http://127.0.0.1:8000/activation/opt-out/' in html  # the footer's link, clickable
    assert "Open edX" in html  # the layout's platform name


def test_a_french_learner_reads_the_deadline_in_french_in_both_parts(prompted):
    DemoLanguagePreference.objects.create(user=prompted.user, language="fr")
    api.tick(now=NOW + timedelta(hours=1))
    [message] = mail.outbox
    assert "Show us by 1 juillet 2026" in message.body and "2026-07-01" not in message.body
    assert "1 juillet 2026" in html_of(message) and "Montrez comment vous l" in html_of(message)


def test_the_supervisors_invitation_has_a_confirm_button_and_a_readable_date(make_definition, learner, course_key):
    definition = make_definition(requirements=[OBSERVATION], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    invite = api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    [message] = mail.outbox
    expires = prompts.local_date(invite.expires_at, "en")
    assert f"before {expires}:" in message.body and f"{invite.expires_at:%Y-%m-%d}" not in message.body
    assert ">Confirm what you observed</a>" in html_of(message)


def test_the_preview_shows_the_deadline_as_the_learner_reads_it(client, course_staff, make_definition, course_key):
    definition = make_definition(requirements=[PROMPTED], window_days=30, activate=False)
    client.force_login(course_staff)
    url = f"/activation/courses/{course_key}/definitions/{definition.pk}/preview/"
    deadline = timezone.now() + timedelta(days=30)
    assert f"Show us by {prompts.local_date(deadline, 'fr')}" in client.get(url, {"language": "fr"}).content.decode()


def test_edx_ace_renders_the_same_parts_with_the_plugins_layout_outside_the_lms(settings):
    """The real edx-ace: a host without edx-platform's ace_common base gets the plugin's layout."""
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    learner = UserFactory()
    LmsBackend().send_message(user=learner, subject="Et alors ?", body="Racontez : https://example.org/x <b>",
                              footer="Pour ne plus rien recevoir : https://example.org/stop",
                              action=("Montrer", "https://example.org/x"), language="fr")
    [message] = mail.outbox
    assert message.body.strip() == ("Racontez : https://example.org/x <b>\n\n-- \n"
                                    "Pour ne plus rien recevoir : https://example.org/stop")
    html = html_of(message)
    assert '<a href="https://example.org/x"' in html and "&lt;b&gt;" in html and ">Montrer</a>" in html
    assert 'href="https://example.org/stop"' in html
