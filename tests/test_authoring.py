"""Instructors configure activation on the plugin's pages: create, validate, lock, version, preview."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.dashboard.authoring_forms import format_questions, parse_questions
from activation_plugin.models import ActivationDefinition
from activation_plugin.test_utils.factories import UserFactory
from tests.conftest import SURVEY

pytestmark = pytest.mark.django_db


def requirement_fields(index, **values):
    fields = {"kind": "project", "title": "Applied project", "verification": "staff", "reviews_required": "1",
              "instructions": "Record a call where you used the script.", "rubric": "Uses the script | 2\nCalm | 1",
              "peer_rule": "majority", "pass_ratio": "0.6", "questions": "", "checklist": "", "min_observed": "",
              "metric": "", "direction": "higher", "threshold": "", "baseline_days": "30", "min_observations": "1",
              "prompt_condition": "always", "prompt_day": "0", "reminder_days": "7, 14",
              "subject": "How did {course_name} go, {learner_name}?",
              "body": "Show us by {deadline}: {link}"} | values
    return {f"requirements-{index}-{name}": value for name, value in fields.items()}


def definition_post(*requirements, initial_forms=0, **values):
    data = {"name": "Uses the de-escalation script", "behavior": "Calms an upset customer with the script.",
            "trigger": "passing", "window_days": "30", "rule": "any", "rule_count": "", "holdout_percent": "10",
            "requirements-TOTAL_FORMS": str(len(requirements)), "requirements-INITIAL_FORMS": str(initial_forms),
            "requirements-MIN_NUM_FORMS": "0", "requirements-MAX_NUM_FORMS": "1000", "save": "1"} | values
    for index, requirement in enumerate(requirements):
        data |= requirement_fields(index, **requirement)
    return data


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


def new_url(course_key):
    return reverse("activation_plugin:definition_new", kwargs={"course_id": str(course_key)})


def url(name, course_key, definition):
    return reverse(f"activation_plugin:{name}", kwargs={"course_id": str(course_key), "definition_id": definition.pk})


def test_instructor_creates_a_draft_with_a_project_and_its_prompt(staff_client, course_key, course_staff):
    response = staff_client.post(new_url(course_key), definition_post({}))
    definition = ActivationDefinition.objects.get()
    assert response.status_code == 302 and response.url == url("definition", course_key, definition)
    assert (definition.status, definition.window_days, definition.holdout_percent, definition.created_by) == (
        "draft", 30, 10, course_staff)
    requirement = definition.requirements.get()
    assert requirement.config["rubric"] == [{"criterion": "Uses the script", "max_score": 2},
                                            {"criterion": "Calm", "max_score": 1}]
    prompt = requirement.prompts.get()
    assert (prompt.send_after_days, prompt.reminder_days, prompt.condition) == (0, [7, 14], "always")
    page = staff_client.get(response.url).content.decode()
    assert "Uses the de-escalation script" in page and "reminders on days 7, 14" in page


def test_only_the_chosen_kinds_fields_are_stored(staff_client, course_key):
    staff_client.post(new_url(course_key), definition_post(
        {"kind": "metric", "title": "Handle time drops", "metric": "handle_time", "direction": "lower",
         "threshold": "-0.1", "relative": "on", "period_days": "14", "min_observations": "2", "subject": "",
         "body": ""}))
    requirement = ActivationDefinition.objects.get().requirements.get()
    assert requirement.config == {"metric": "handle_time", "threshold": -0.1, "direction": "lower",
                                  "relative": True, "baseline_days": 30, "period_days": 14, "min_observations": 2}
    assert not requirement.prompts.exists()


def test_a_form_error_is_shown_and_nothing_is_written(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({}, window_days="0"))
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()
    assert not ActivationDefinition.objects.exists()


def test_an_api_refusal_is_shown_next_to_its_field_and_nothing_is_written(staff_client, course_key, settings):
    response = staff_client.post(new_url(course_key), definition_post({}, window_days="400"))
    assert response.status_code == 400
    assert f"between 1 and {settings.ACTIVATION_MAX_WINDOW_DAYS} days" in response.content.decode()
    response = staff_client.post(new_url(course_key), definition_post({}, rule="at_least", rule_count="3"))
    assert response.status_code == 400 and 'data-errors="requirements"' not in response.content.decode()
    assert "at least" in response.content.decode().lower()
    response = staff_client.post(new_url(course_key), definition_post({"kind": "survey", "questions": ""}))
    assert response.status_code == 400 and "A survey needs at least one question." in response.content.decode()
    assert not ActivationDefinition.objects.exists()


def test_a_malformed_question_line_says_which_line(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post(
        {"kind": "survey", "questions": "likert | Confident?\njust some text"}))
    assert response.status_code == 400
    assert "Question line 2" in response.content.decode()


def test_survey_questions_round_trip_through_the_text_format():
    questions = SURVEY["config"]["questions"]
    parsed = parse_questions(format_questions(questions))
    assert [(q["type"], q["text"], q.get("options"), q["required"]) for q in parsed] == [
        ("single_choice", "Did you use it?", ["yes", "no"], True), ("text", "How?", None, False)]


def test_add_a_requirement_without_javascript(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({}) | {"add_requirement": "1"})
    assert response.status_code == 200
    assert response.content.decode().count("data-requirement-form=") == 2
    assert not ActivationDefinition.objects.exists()
    # The blank form the button added is left out when the page is saved untouched.
    data = definition_post({}) | {"requirements-TOTAL_FORMS": "2"}
    data |= {key.replace("-0-", "-1-"): value for key, value in requirement_fields(0).items()
             if key.endswith(("-kind", "-verification", "-reviews_required", "-peer_rule", "-pass_ratio",
                              "-direction", "-baseline_days", "-prompt_condition", "-prompt_day",
                              "-min_observations"))}
    data["requirements-1-verification"] = "none"
    assert staff_client.post(new_url(course_key), data).status_code == 302
    assert ActivationDefinition.objects.get().requirements.count() == 1


def test_editing_a_draft_replaces_its_requirements(staff_client, course_key, make_definition):
    definition = make_definition(activate=False)
    page = staff_client.get(url("definition_edit", course_key, definition)).content.decode()
    assert "Show your work." in page and "data-locked" not in page
    response = staff_client.post(url("definition_edit", course_key, definition), definition_post(
        {"kind": "survey", "title": "Survey", "questions": "likert | How confident are you?"},
        {"kind": "observation", "title": "Seen on the job", "checklist": "Greets\nResolves", "min_observed": "1"},
        initial_forms=1, rule="all"))
    assert response.status_code == 302
    definition.refresh_from_db()
    assert definition.rule == "all"
    assert [(r.kind, r.position) for r in definition.requirements.all()] == [("survey", 0), ("observation", 1)]


def test_deleting_a_requirement(staff_client, course_key, make_definition):
    definition = make_definition(activate=False)
    data = definition_post({}, {"DELETE": "on"}, initial_forms=2)
    assert staff_client.post(url("definition_edit", course_key, definition), data).status_code == 302
    assert definition.requirements.count() == 1


def test_history_fields_lock_once_windows_exist(staff_client, course_key, make_definition, learner):
    definition = make_definition(window_days=30)
    api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    page = staff_client.get(url("definition_edit", course_key, definition)).content.decode()
    assert "data-locked" in page and "Window (days after completion)" in page
    # A forged POST of locked fields changes nothing; the name still can change.
    response = staff_client.post(url("definition_edit", course_key, definition),
                                 definition_post({"kind": "survey"}, window_days="90", name="Renamed"))
    assert response.status_code == 302
    definition.refresh_from_db()
    assert (definition.name, definition.window_days, definition.holdout_percent) == ("Renamed", 30, 0)
    assert [r.kind for r in definition.requirements.all()] == ["project"]


def test_activate_archive_and_version(staff_client, course_key, make_definition, learner):
    draft = make_definition(activate=False)
    staff_client.post(url("definition_status", course_key, draft), {"action": "activate"})
    draft.refresh_from_db()
    assert draft.status == "active"
    api.open_windows(learner.pk, course_key, "passing", timezone.now())
    response = staff_client.post(url("definition_status", course_key, draft), {"action": "new_version"})
    copy = ActivationDefinition.objects.exclude(pk=draft.pk).get()
    assert response.url == url("definition_edit", course_key, copy)
    assert (copy.status, copy.replaces, copy.requirements.count()) == ("draft", draft, 1)
    staff_client.post(url("definition_status", course_key, copy), {"action": "activate"})
    draft.refresh_from_db()
    copy.refresh_from_db()
    assert (draft.status, copy.status) == ("archived", "active")
    response = staff_client.post(url("definition_status", course_key, draft), {"action": "activate"}, follow=True)
    assert "An archived definition cannot be activated again." in response.content.decode()
    assert staff_client.post(url("definition_status", course_key, copy), {"action": "delete"}).status_code == 302
    assert ActivationDefinition.objects.filter(pk=copy.pk).exists()


def test_preview_shows_the_learner_page_and_emails_filled_in(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[
        SURVEY | {"prompts": [{"subject": "Hello {learner_name}", "body": "Answer by {deadline}: {link}",
                               "reminder_days": [7], "translations": {"fr": {"subject": "Bonjour {learner_name}",
                                                                           "body": "Répondez : {link}"}}}]}])
    page = staff_client.get(url("definition_preview", course_key, definition)).content.decode()
    assert "Hello Alex Example" in page and "Did you use it?" in page
    assert "<fieldset class=\"activation-plain\" disabled>" in page and "action=" not in page.split("Emails")[0]
    assert f"/activation/learner/{course_key}/" in page and "To stop these messages" in page
    french = staff_client.get(url("definition_preview", course_key, definition), {"language": "fr"})
    assert "Bonjour Alex Example" in french.content.decode()


@pytest.mark.parametrize("who", ["learner", "other_staff"])
def test_only_course_staff_configure(client, course_key, make_definition, who):
    definition = make_definition()
    user = UserFactory()
    if who == "other_staff":
        Group.objects.create(name="activation-staff:course-v1:OtherX+OTHER+2026").user_set.add(user)
    client.force_login(user)
    for name in ("definition", "definition_edit", "definition_preview"):
        assert client.get(url(name, course_key, definition)).status_code == 403
    assert client.post(url("definition_status", course_key, definition), {"action": "archive"}).status_code == 403
    assert client.post(new_url(course_key), definition_post({})).status_code == 403
    definition.refresh_from_db()
    assert definition.status == "active" and ActivationDefinition.objects.count() == 1


def test_a_definition_of_another_course_is_not_found(staff_client, course_key, make_definition, db):
    from demo.models import DemoCourse
    from opaque_keys.edx.keys import CourseKey
    other = CourseKey.from_string("course-v1:OtherX+OTHER+2026")
    DemoCourse.objects.create(course_key=other, display_name="Other")
    foreign = make_definition(course_key=other)
    assert staff_client.get(url("definition", course_key, foreign)).status_code == 404
    assert staff_client.post(url("definition_status", course_key, foreign), {"action": "archive"}).status_code == 404


def test_anonymous_is_sent_to_log_in(client, course_key):
    response = client.get(new_url(course_key))
    assert response.status_code == 302 and "/login/" in response.url
