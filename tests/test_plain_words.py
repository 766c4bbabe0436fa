"""
Issue 32 §4, §5 and §7: people read names, units, percentages and sentences whose counts agree,
never internal keys, raw floats or ISO timestamps; and the words say what each figure counts.
"""
import html
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api, configs
from activation_plugin.errors import ActivationRequestError
from tests.conftest import PROJECT, SURVEY
from tests.factories import UserFactory
from tests.figures_data import add_evidence, make_windows

pytestmark = pytest.mark.django_db

KPI = {"kind": "metric", "title": "Faster calls", "config": {
    "metric": "handle_time", "threshold": 300, "direction": "lower", "label": "Average handle time",
    "unit": "seconds"}}
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr"}


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


def words(response):
    """The page's text, tags dropped and white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def definition_page(client, course_key, definition, **headers):
    return client.get(reverse("activation_plugin:definition", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk}), **headers)


# §4: internal keys

def test_a_metric_requirement_keeps_a_label_and_unit_and_defaults_to_none():
    cleaned = configs.validate_config("metric", KPI["config"])
    assert (cleaned["label"], cleaned["unit"]) == ("Average handle time", "seconds")
    assert configs.metric_name_with_unit(cleaned) == "Average handle time (seconds)"
    bare = configs.validate_config("metric", {"metric": "handle_time", "threshold": 1, "direction": "lower"})
    assert (bare["label"], bare["unit"]) == ("", "")
    assert configs.metric_name_with_unit(bare) == "handle time"
    for bad in ({"label": 3}, {"unit": ["s"]}, {"label": "x" * 81}, {"unit": "u" * 21}):
        with pytest.raises(ActivationRequestError):
            configs.validate_config("metric", {**KPI["config"], **bad})


def test_the_learner_reads_the_metrics_name_and_unit(client, learner, course_key, make_definition):
    make_definition(requirements=[KPI])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    client.force_login(learner)
    url = reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})
    text = words(client.get(url))
    assert "Measured automatically from your figures for Average handle time (seconds)." in text
    assert "handle_time" not in text
    assert "Mesuré automatiquement à partir de vos chiffres de Average handle time (seconds)." in words(
        client.get(url, **FRENCH))


def test_the_kpi_table_names_the_metric_with_its_unit(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[KPI])
    make_windows(definition, 6)
    text = words(definition_page(staff_client, course_key, definition))
    assert "Average handle time (seconds): mean change from the 30 days before completion" in text


def test_the_primary_figure_is_offered_in_words(staff_client, course_key, make_definition):
    definition = make_definition()
    page = definition_page(staff_client, course_key, definition).content.decode()
    options = re.findall(r'<option value="(\w+)">([^<]*)</option>',
                         re.search(r'<select name="primary_figure">(.*?)</select>', page, re.S).group(1))
    assert [value for value, _ in options] == list(api.PRIMARY_FIGURES)
    assert all(label != value and "_" not in label for value, label in options)
    french = definition_page(staff_client, course_key, definition, **FRENCH).content.decode()
    assert "Taux d&#x27;activation des fenêtres terminées" in french or "Taux d'activation des fenêtres terminées" \
        in french


def test_a_prompt_summary_fills_the_course_name(staff_client, course_key, make_definition):
    survey = {**SURVEY, "prompts": [{"send_after_days": 14, "reminder_days": [28],
                                     "subject": "Three questions about {course_name}", "body": "Hi {learner_name}"}]}
    definition = make_definition(requirements=[survey])
    text = words(definition_page(staff_client, course_key, definition))
    assert "Day 14: “Three questions about Applying Things”" in text
    assert "{course_name}" not in text


def test_success_cases_show_strengths_in_words(staff_client, course_key, make_definition):
    definition = make_definition()
    windows = make_windows(definition, 3, state="activated", days=2, course_run=course_key)
    add_evidence(windows, strength="supervisor")
    add_evidence(windows[:1], strength="staff")
    response = staff_client.get(reverse("activation_plugin:success_cases", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk}))
    text = words(response)
    assert "Staff-verified, Supervisor-observed" in text
    assert "staff,supervisor" not in text and ">supervisor<" not in response.content.decode()


# §5: advice and wording

def test_the_needed_count_agrees_with_the_done_count(client, learner, course_key, make_definition):
    make_definition(requirements=[PROJECT, SURVEY], rule="any")
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    client.force_login(learner)
    text = words(client.get(reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})))
    assert "Do any one of these 2 to activate." in text
    assert "of 1 done" not in text


def test_two_requirements_all_needed_read_both(client, learner, course_key, make_definition):
    make_definition(requirements=[PROJECT, SURVEY], rule="all")
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    client.force_login(learner)
    url = reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})
    assert "Do both of these to activate. 0 of 2 done." in words(client.get(url))
    assert "Faites les deux pour vous activer." in words(client.get(url, **FRENCH))


def test_no_reminder_advice_when_the_prompts_have_reminders(staff_client, course_key, make_definition):
    survey = {**SURVEY, "prompts": [{"send_after_days": 14, "reminder_days": [21, 35], "subject": "S", "body": "B"}]}
    definition = make_definition(requirements=[survey])
    windows = make_windows(definition, 10, arm="prompted")
    from tests.figures_data import add_deliveries  # pylint: disable=import-outside-toplevel
    add_deliveries(windows)
    page = definition_page(staff_client, course_key, definition).content.decode()
    assert 'data-advice="response"' in page
    assert "add a reminder" not in page


def test_evidence_per_learner_and_the_median_read_once(staff_client, course_key, make_definition):
    definition = make_definition()
    windows = make_windows(definition, 6, state="activated", days=3)
    add_evidence(windows)
    make_windows(definition, 20)
    text = words(definition_page(staff_client, course_key, definition))
    assert "pieces of verified evidence" not in text
    assert "verified evidence per activated learner, on average: 1.0" in text
    assert text.count("no median yet") + text.count("cannot be estimated yet") == 1


def test_statistical_words_are_explained(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[KPI], holdout_percent=20)
    make_windows(definition, 6)
    make_windows(definition, 6, arm="holdout")
    page = definition_page(staff_client, course_key, definition).content.decode()
    for term in ("p-value", "arm", "did"):
        assert f'data-explains="{term}"' in page
    french = words(definition_page(staff_client, course_key, definition, **FRENCH))
    assert "Ce que cela veut dire" in french


# §7: the KPI CSV preview

@pytest.fixture
def csv_source(settings, course_key, tmp_path):
    settings.ACTIVATION_METRIC_SOURCES = {"hr-upload": {"kind": "csv", "courses": [
        f"{course_key.org}+{course_key.course}"]}}
    settings.MEDIA_ROOT = str(tmp_path)


def preview(client, course_key, rows, **headers):
    text = "\n".join(["external_id,metric,value,observed_at", *rows]) + "\n"
    return client.post(reverse("activation_plugin:kpi_preview", kwargs={"course_id": str(course_key)}), {
        "source": "hr-upload", "kind": "observations",
        "file": SimpleUploadedFile("kpi.csv", text.encode(), content_type="text/csv")}, **headers)


def test_a_preview_without_errors_says_why_it_cannot_be_stored(
        staff_client, course_key, make_definition, learner, csv_source):
    make_definition(requirements=[KPI])
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=5))
    UserFactory(username="learner237")
    at = (timezone.now() - timedelta(days=2)).replace(microsecond=0)
    response = preview(staff_client, course_key, [f"learner,handle_time,310.0,{at.isoformat()}",
                                                  f"learner237,handle_time,290,{at.isoformat()}"])
    text = words(response)
    assert "0 with errors" in text
    assert "Fix the rows with errors" not in text
    assert "1 id matched to a learner, 1 unmatched." in text
    assert re.search(r"learner237 — no completer of this course run has this username or email", text)
    assert ">310<" in response.content.decode() and "310.0" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT", text) and str(at.year) in text
    assert "Course staff store observations of this course run's learners only." in text
    committable = words(preview(staff_client, course_key, [f"learner,handle_time,310.5,{at.isoformat()}"]))
    assert "Your file is kept: storing it needs no new upload." in committable and "310.5" in committable


def test_the_kpi_pages_say_what_outside_counts(staff_client, course_key, make_definition, csv_source):
    definition = make_definition(requirements=[KPI])
    make_windows(definition, 6)
    kpi = words(staff_client.get(reverse("activation_plugin:kpi", kwargs={"course_id": str(course_key)})))
    assert "outside the learners' activation windows (baseline periods included)" in kpi
    page = words(definition_page(staff_client, course_key, definition))
    assert "KPI values in neither a learner's baseline period nor their window" in page


# §9: the email preview

def test_the_email_preview_shows_the_html_mail_as_it_arrives(staff_client, course_key, make_definition, settings):
    settings.LMS_ROOT_URL = "http://lms.example.com:8101"
    survey = {**SURVEY, "prompts": [{"send_after_days": 0, "subject": "About {course_name}",
                                     "body": "Hello {learner_name}, answer here: {link}"}]}
    definition = make_definition(requirements=[survey])
    url = reverse("activation_plugin:definition_preview", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk})
    page = staff_client.get(url).content.decode()
    [srcdoc] = re.findall(r'<iframe[^>]* srcdoc="([^"]*)"', page)
    mail = html.unescape(srcdoc)
    assert mail.startswith("<!DOCTYPE html>") and "Show how you applied it" in mail
    assert f'href="http://lms.example.com:8101/activation/learner/{course_key}/"' in mail
    assert "http://lms.example.com:8101/activation/opt-out/" in mail and "(a personal link" not in mail
    assert 'href="/activation' not in mail
    assert "The opt-out link here is an example" in words(staff_client.get(url))
    french = words(staff_client.get(url, {"language": "fr"}, **FRENCH))
    assert "Le lien de désinscription est ici un exemple" in french


# §3: the supervisor knows which course

def test_the_supervisor_mail_and_page_name_the_course(client, learner, course_key, make_definition):
    from django.core import mail  # pylint: disable=import-outside-toplevel

    from tests.conftest import OBSERVATION, committed  # pylint: disable=import-outside-toplevel
    definition = make_definition(requirements=[OBSERVATION])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    with committed():
        api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    [message] = mail.outbox
    assert "completed the course “Applying Things”" in message.body
    link = re.search(r"https?://[^/\s]+(/activation/observe/\S+/)", message.body).group(1)
    assert "completed the course “Applying Things” and says" in words(client.get(link))
    assert "a terminé la formation « Applying Things »" in words(client.get(link, **FRENCH))  # words() folds the NBSPs


def test_the_share_matched_is_a_percentage(client, staff_user, learner, csv_source):
    from tests.figures_data import observe  # pylint: disable=import-outside-toplevel
    for day in range(3):
        observe(learner, "handle_time", timezone.now() - timedelta(days=day), 300, source_name="hr-upload")
    observe(None, "handle_time", timezone.now(), 1, source_name="hr-upload", external_id="ghost")
    client.force_login(staff_user)
    text = words(client.get(reverse("activation_plugin:kpi_sources")))
    assert "Share matched: 75.0 %" in text
    assert "Part rattachée : 75,0 %" in words(client.get(reverse("activation_plugin:kpi_sources"), **FRENCH))
