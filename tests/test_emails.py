"""
The follow-up mail as learners and supervisors receive it (issue 18): a plain-text part and an
HTML part rendered from the plugin's edx-ace templates — the instructor's text escaped with its
links clickable, a button for the one thing to do, the opt-out footer set apart — and dates
written in the reader's language, in the demo host and through edx-ace alike.
"""
import contextlib
import sys
import types
from datetime import timedelta

import crum
import pytest
from django import template
from django.core import mail
from django.test import RequestFactory
from django.utils import timezone

from activation_plugin import api, prompts
from activation_plugin.platform import LmsBackend, StandaloneBackend
from demo.models import DemoLanguagePreference
from tests.conftest import NOW, OBSERVATION, PROJECT, committed
from tests.factories import UserFactory

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
    with committed():
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


def test_the_demo_sends_the_html_document_edx_ace_sends(settings):
    """The demo's outbox shows what the LMS sends: the same parts, the HTML one a whole document with its head."""
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    learner = UserFactory()
    parts = {"subject": "Et alors ?", "body": "Racontez : https://example.org/x <b>",
             "footer": "Pour ne plus rien recevoir : https://example.org/stop",
             "action": ("Montrer", "https://example.org/x"), "language": "fr"}
    StandaloneBackend().send_message(user=learner, **parts)
    LmsBackend().send_message(user=learner, **parts)
    demo, lms = mail.outbox
    assert (demo.subject, demo.body, html_of(demo)) == (lms.subject, lms.body, html_of(lms))
    assert html_of(demo).startswith("<!DOCTYPE html>") and "<title>Et alors ?</title>" in html_of(demo)


# A stand-in for ace_common's template tags: like the LMS's, they build links from the current request's site.
register = template.Library()


@register.simple_tag(takes_context=True)
def with_link_tracking(context, url):
    request = context.get("request") or crum.get_current_request()
    if request is None:
        raise template.VariableDoesNotExist('The with_link_tracking template tag requires a "request"')
    return f"https://{request.site.domain}/{url.lstrip('/')}?utm_source={context['message'].app_label}"


LMS_TEMPLATES = {
    "ace_common/edx_ace/common/base_head.html": "<title>{% block title %}LMS Email{% endblock %}</title>"
                                                "<style>.content { width: 600px; }</style>",
    "ace_common/edx_ace/common/base_body.html": '{% load ace %}<a href="{% with_link_tracking homepage_url %}">'
                                                "Go to {{ platform_name }} Home Page</a>"
                                                "{% block preview_text %}{% endblock %}"
                                                '<td class="main">{% block content %}{% endblock %}</td>',
}


@contextlib.contextmanager
def emulate_http_request(site=None, user=None):
    """Like edx-platform's (openedx.core.lib.celery.task_utils): a stub request that crum hands out."""
    request = RequestFactory().get("/")
    request.site, request.user = site, user
    crum.set_current_request(request)
    try:
        yield
    finally:
        crum.set_current_request(None)


@pytest.fixture
def lms_layout(settings, monkeypatch):
    """edx-platform's ace_common (its base templates, their context, the request tasks emulate) on the demo host."""
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "APP_DIRS": False, "OPTIONS": {
        **settings.TEMPLATES[0]["OPTIONS"], "libraries": {"ace": __name__},
        "loaders": [("django.template.loaders.locmem.Loader", LMS_TEMPLATES),
                    "django.template.loaders.app_directories.Loader"]}}]
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.sites"]
    settings.SITE_ID = 1
    from django.contrib.sites.models import SITE_CACHE, Site  # pylint: disable=import-outside-toplevel
    monkeypatch.setitem(SITE_CACHE, 1, Site(id=1, domain="lms.example.org", name="LMS"))
    stand_ins = {
        "openedx.core.djangoapps.ace_common.template_context": {
            "get_base_template_context": lambda site: {"homepage_url": "/", "platform_name": "Example Academy"}},
        "openedx.core.lib.celery.task_utils": {"emulate_http_request": emulate_http_request},
    }
    for name, attributes in stand_ins.items():
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            module = sys.modules.get(".".join(parts[:depth])) or types.ModuleType(".".join(parts[:depth]))
            monkeypatch.setitem(sys.modules, module.__name__, module)
        for attribute, value in attributes.items():
            setattr(sys.modules[name], attribute, value)


def test_the_tick_sends_in_the_lms_layout_though_it_has_no_request(lms_layout, learner):
    """
    Celery and cron have no request, and ace_common's base builds its links from one: the LMS's
    own tasks emulate it around ace.send, and so does the plugin (without, no prompt ever left).
    """
    LmsBackend().send_message(user=learner, subject="Et alors ?", body="Racontez.", footer="Stop : https://x.org/s",
                              action=("Montrer", "https://example.org/x"), language="fr")
    [message] = mail.outbox
    html = html_of(message)
    assert '<a href="https://lms.example.org/?utm_source=activation_plugin">Go to Example Academy Home Page</a>' in html
    assert ">Montrer</a>" in html and "<title>Et alors ?</title><style>.content" in html  # the LMS's head, our title
    assert crum.get_current_request() is None


def test_a_view_sends_in_the_lms_layout_with_its_own_request(lms_layout, learner):
    """A supervisor invited from the learner's page: the view's request serves, and stays the current one."""
    request = RequestFactory().get("/activation/learner/")
    request.site, request.user = types.SimpleNamespace(domain="learn.example.org"), learner
    crum.set_current_request(request)
    try:
        LmsBackend().send_message(user=None, email="boss@example.org", subject="Confirm", body="Please.",
                                  action=("Confirm what you observed", "https://example.org/c"), language="en")
        assert crum.get_current_request() is request
    finally:
        crum.set_current_request(None)
    assert 'href="https://learn.example.org/?utm_source' in html_of(mail.outbox[0])


def test_an_lms_without_ace_common_gets_the_plugins_layout_quietly(settings, learner, caplog):
    """No base template to extend: the plugin's own, and no warning on every message for a normal setup."""
    settings.ACE_ENABLED_CHANNELS = ["django_email"]
    settings.ACE_CHANNEL_DEFAULT_EMAIL = settings.ACE_CHANNEL_TRANSACTIONAL_EMAIL = "django_email"
    settings.ACE_ENABLED_POLICIES = []
    LmsBackend().send_message(user=learner, subject="Hi", body="Tell us.", action=("Show", "https://example.org/x"))
    assert ">Show</a>" in html_of(mail.outbox[0]) and "could not answer" not in caplog.text
