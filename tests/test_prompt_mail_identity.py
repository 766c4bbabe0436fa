"""
The tick's prompt mails, byte for byte (issue 34): rendering them faster must not change one byte.

``tests/data/prompt_mails.json`` holds the mails the per-message rendering produced before the
tick's rendering was made cheaper (subject, text part, HTML part, headers), for several learners,
languages and prompts with links, and learner names that look like addresses. Each is rendered
again here as the tick renders it and compared whole. A deliberate change of the mail's layout
regenerates the file: ``ACTIVATION_WRITE_MAIL_SNAPSHOT=1 pytest tests/test_prompt_mail_identity.py``.
"""
import json
import os
from datetime import datetime
from datetime import timezone as dt_timezone
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.template.defaultfilters import urlize
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from activation_plugin import platform, prompts
from activation_plugin.models import FollowUpPrompt
from activation_plugin.templatetags.activation_mail import urlize_words

SNAPSHOT = Path(__file__).parent / "data" / "prompt_mails.json"
VARYING_HEADERS = {"Date", "Message-ID"}

PROMPTS = [
    FollowUpPrompt(
        pk=1, subject="{learner_name}, how is it going?",
        body="You finished {course_name}. Try to {behavior} by {deadline}: {link}\n\nSee www.example.org/guide, "
             "(https://example.com/a?b=1&c=2). Write to help@example.com.\nNothing <b>bold</b> & \"quoted\".",
        translations={"fr": {"subject": "{learner_name}, où en êtes-vous ?",
                             "body": "Vous avez terminé {course_name}. Essayez de {behavior} avant le {deadline} : "
                                     "{link}\n\nGuide : https://exemple.fr/guide. « {learner_name} »"}},
    ),
    FollowUpPrompt(pk=2, subject="A reminder for {learner_name}",
                   body="{learner_name}: {link}.{unknown} example.net/x {behavior}", translations={}),
]
LEARNERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("www.evil.example.com", "evil@example.com"),
    ("https://phish.example.net/login?x=<script>", "phish@example.com"),
    ("Zoë <zoe@example.org> & co", "zoe@example.com"),
]
LANGUAGES = ["en", "fr"]


def values_for(number, name, language):
    """What ``api.messaging`` fills a message with, fixed here so the mails are the same every run."""
    return {
        "learner_name": name,
        "course_name": "Data www.course.example.com 101",
        "deadline": prompts.local_date(datetime(2027, 1, 7, 12, tzinfo=dt_timezone.utc), language),
        "link": "http://lms.example.com/activation/learner/course-v1:Org+C+2026/",
        "behavior": "apply the skill at work.example.org",
        "opt_out_link": f"http://lms.example.com/activation/opt-out/token{number}:sig/",
    }


def sent_mails():
    """Every (prompt, learner, language) mail as the tick sends it, through the platform's standalone backend."""
    user_model = get_user_model()
    mails = {}
    for prompt in PROMPTS:
        for number, (name, email) in enumerate(LEARNERS):
            for language in LANGUAGES:
                values = values_for(number, name, language)
                subject, body, footer = prompts.compose_parts(prompt, values, language)
                with translation.override(language):
                    action = (_("Show how you applied it"), values["link"])
                mail.outbox = []
                platform.send_message(user=user_model(username=f"u{number}", email=email), subject=subject,
                                      body=body, footer=footer, action=action, language=language)
                assert len(mail.outbox) == 1
                message = mail.outbox[0]
                html, mimetype = message.alternatives[0]
                headers = {key: value for key, value in message.message().items() if key not in VARYING_HEADERS}
                mails[f"{prompt.pk}/{number}/{language}"] = {
                    "subject": message.subject, "text": message.body, "html": html, "mimetype": mimetype,
                    "headers": headers,
                }
    return mails


@pytest.fixture(autouse=True)
def standalone_locmem(settings):
    settings.ACTIVATION_PLATFORM_BACKEND = "activation_plugin.platform.StandaloneBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_prompt_mails_are_byte_identical_to_the_per_message_rendering():
    mails = sent_mails()
    if os.environ.get("ACTIVATION_WRITE_MAIL_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(mails, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(mails) == sorted(expected)
    for key, sent in mails.items():
        assert sent == expected[key], key


def test_the_same_mail_twice_is_the_same_bytes():
    """What is reused across messages (templates, linkified words) carries nothing from one learner to the next."""
    first, second = sent_mails(), sent_mails()
    assert first == second


@pytest.mark.parametrize("text", [
    "See www.example.org/guide, (https://example.com/a?b=1&c=2). Mail help@example.com!",
    "<script>alert('x')</script> &amp; \"quoted\" paypa1-login.com\tjavascript:alert(1) [http://x.org/y]",
    "Zoë <zoe@example.org> & co: https://phish.example.net/login?x=<b>",
    "",
])
def test_urlize_words_is_urlize(text):
    """The mail's filter against Django's, on escaped and already safe text alike, twice (the second from its cache)."""
    for value in (text, mark_safe(text)):
        for autoescape in (True, False):
            expected = urlize(value, autoescape=autoescape)
            assert urlize_words(value, autoescape=autoescape) == expected
            assert urlize_words(value, autoescape=autoescape) == expected
