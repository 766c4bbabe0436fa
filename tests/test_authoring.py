"""Instructors configure activation on the plugin's pages: create, validate, lock, version, preview."""
import html
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.dashboard import requirement_templates
from activation_plugin.dashboard.authoring_forms import parse_question_rows, question_row
from activation_plugin.models import ActivationDefinition, MetricObservation, MetricSource
from tests.conftest import SURVEY, definition_post, requirement_fields
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


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
         "threshold": "-10", "relative": "on", "period_days": "14", "min_observations": "2", "subject": "",
         "body": "", "label": "Average handle time", "unit": "seconds"}))
    requirement = ActivationDefinition.objects.get().requirements.get()
    assert requirement.config == {"metric": "handle_time", "threshold": -0.1, "direction": "lower",
                                  "relative": True, "baseline_days": 30, "period_days": 14, "min_observations": 2,
                                  "label": "Average handle time", "unit": "seconds"}
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
    response = staff_client.post(new_url(course_key), definition_post({"kind": "survey", "questions": []}))
    assert response.status_code == 400 and "A survey needs at least one question." in response.content.decode()
    assert not ActivationDefinition.objects.exists()


def test_survey_questions_round_trip_through_the_rows():
    questions = SURVEY["config"]["questions"]
    rows = [{"index": index, **question_row(question)} for index, question in enumerate(questions)]
    parsed, problems = parse_question_rows(rows)
    assert not problems
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
             if key.endswith(("-kind", "-verification", "-reviews_required", "-peer_rule", "-pass_percent",
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
        {"kind": "survey", "title": "Survey", "questions": [("likert", "How confident are you?", [], False)]},
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
    # pylint: disable=import-outside-toplevel
    from opaque_keys.edx.keys import CourseKey

    from demo.models import DemoCourse
    other = CourseKey.from_string("course-v1:OtherX+OTHER+2026")
    DemoCourse.objects.create(course_key=other, display_name="Other")
    foreign = make_definition(course_key=other)
    assert staff_client.get(url("definition", course_key, foreign)).status_code == 404
    assert staff_client.post(url("definition_status", course_key, foreign), {"action": "archive"}).status_code == 404


def test_anonymous_is_sent_to_log_in(client, course_key):
    response = client.get(new_url(course_key))
    assert response.status_code == 302 and "/login/" in response.url


def page_of(response):
    return html.unescape(response.content.decode())


def test_a_survey_is_built_from_question_rows(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({
        "kind": "survey", "title": "Did you use it?",
        "questions": [("single_choice", "Did you use the script?", ["Yes", " ", "Not yet"], False),
                      ("text", "", [], False),  # a blank row is left out
                      ("likert", "How confident are you?", [], True)]}))
    assert response.status_code == 302
    requirement = ActivationDefinition.objects.get().requirements.get()
    assert requirement.config["questions"] == [
        {"id": "q1", "type": "single_choice", "text": "Did you use the script?", "options": ["Yes", "Not yet"],
         "required": True},
        {"id": "q2", "type": "likert", "text": "How confident are you?", "required": False}]


def test_a_removed_row_is_left_out(staff_client, course_key):
    data = definition_post({"kind": "survey", "title": "Survey",
                            "questions": [("text", "Kept", [], False), ("text", "Dropped", [], False)]})
    data["requirements-0-questions-1-remove"] = "on"
    assert staff_client.post(new_url(course_key), data).status_code == 302
    assert [q["text"] for q in ActivationDefinition.objects.get().requirements.get().config["questions"]] == ["Kept"]


def test_a_faulty_row_is_marked_and_listed_and_nothing_is_saved(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post(
        {"kind": "survey", "title": "Survey", "questions": [("single_choice", "Used it?", ["Only one"], False)]},
        {"rubric": [("Uses the script", "two")]}))
    page = page_of(response)
    assert response.status_code == 400 and not ActivationDefinition.objects.exists()
    assert "Question 1: give at least two options, one per line." in page
    assert "Criterion 1: the maximum score must be a whole number, 1 or more." in page
    assert page.count('class="activation-row has-error"') == 2 and page.count('aria-invalid="true"') >= 2
    summary = page.split("data-error-summary>")[1].split("</div>")[0]
    assert "2 fields need your attention" in summary
    assert 'href="#id_requirements-0-questions"' in summary and 'href="#id_requirements-1-rubric"' in summary


def test_an_api_refusal_marks_the_requirements_own_field(staff_client, course_key):
    """The api's rules (a KPI needs a metric, a checklist its items) mark the field, not the page's top."""
    response = staff_client.post(new_url(course_key), definition_post(
        {}, {"kind": "metric", "title": "KPI", "metric": "", "threshold": "5", "subject": "", "body": ""},
        {"kind": "observation", "title": "Seen", "checklist": "Greets\nGreets", "subject": "", "body": ""}))
    page = page_of(response)
    assert response.status_code == 400 and not ActivationDefinition.objects.exists()
    [metric_input] = re.findall(r'<input[^>]*name="requirements-1-metric"[^>]*>', page)
    assert 'aria-invalid="true"' in metric_input and "id_requirements-1-metric_error" in metric_input
    assert 'id="id_requirements-1-metric_error"' in page and "'metric' must be a non-empty text." in page
    assert 'id="id_requirements-2-checklist_error"' in page and "Each checklist item must be different." in page
    assert 'data-errors="requirements"' not in page


def test_a_prompt_with_a_subject_and_no_body_marks_the_body(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({"body": ""}))
    assert response.status_code == 400
    assert 'id="id_requirements-0-body_error"' in page_of(response)


def test_shares_are_typed_as_percentages(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post(
        {"verification": "peer", "peer_rule": "mean_score", "pass_percent": "75"},
        {"kind": "metric", "title": "Handle time", "metric": "handle_time", "direction": "lower",
         "threshold": "-12.5", "relative": "on", "subject": "", "body": ""}))
    assert response.status_code == 302
    project, metric = ActivationDefinition.objects.get().requirements.all()
    assert project.config["pass_ratio"] == 0.75 and metric.config["threshold"] == -0.125
    page = page_of(staff_client.get(url("definition_edit", course_key, project.definition)))
    assert 'name="requirements-0-pass_percent" value="75"' in page
    assert 'name="requirements-1-threshold" value="-12.5"' in page


def test_add_a_question_row_without_javascript(staff_client, course_key):
    data = definition_post({"kind": "survey", "questions": [("text", "First", [], False)]})
    data["add_row"] = "requirements-0-questions"
    response = staff_client.post(new_url(course_key), data)
    page = page_of(response)
    assert response.status_code == 200 and not ActivationDefinition.objects.exists()
    # The filled row, the blank row every list shows, and the one asked for.
    assert [f'name="requirements-0-questions-{n}-text"' in page for n in range(4)] == [True, True, True, False]
    assert "data-error-summary" not in page and "This field is required" not in page


@pytest.mark.parametrize("template", ["project", "survey", "observation", "metric"])
def test_a_template_adds_a_filled_requirement_the_api_accepts(staff_client, course_key, template):
    response = staff_client.post(new_url(course_key), definition_post({}) | {"add_requirement": template})
    page = page_of(response)
    assert response.status_code == 200 and page.count("data-requirement-form=") == 2
    spec = requirement_templates.template_spec(template)
    assert f'value="{spec["title"]}"' in page
    if template == "metric":
        spec["config"]["metric"] = "handle_time"  # the instructor picks the metric their source sends
    api.check_requirement(spec)


def test_a_template_is_written_in_the_instructors_language(staff_client, course_key):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = page_of(staff_client.post(new_url(course_key), definition_post({}) | {"add_requirement": "survey"}))
    assert "Avez-vous utilisé ce que vous avez appris dans votre travail\u00a0?" in page


def test_the_metric_field_offers_the_metrics_received(staff_client, course_key):
    source = MetricSource.objects.create(name="crm", kind="webhook")
    for metric in ("handle_time", "csat", "csat"):
        MetricObservation.objects.create(source=source, metric=metric, external_id="e", value=1,
                                         observed_at=timezone.now(), record_id=f"{metric}-{timezone.now()}")
    page = page_of(staff_client.get(new_url(course_key)))
    datalist = page.split('<datalist id="activation-known-metrics">')[1].split("</datalist>")[0]
    assert datalist == '<option value="csat"></option><option value="handle_time"></option>'
    assert 'list="activation-known-metrics"' in page


def test_a_draft_says_what_activating_it_does_to_new_and_past_completers(staff_client, course_key, make_definition):
    draft = make_definition(activate=False, window_days=45, holdout_percent=20)
    notice = page_of(staff_client.get(url("definition", course_key, draft))).split(
        'data-notice="activation-effects"')[1].split("</div>")[0]
    assert "gets a 45-day window" in notice and "20 % of them, drawn at random, get no prompts" in notice
    assert "learners who completed earlier get no window" in notice and "in the last 45 days" in notice
    staff_client.post(url("definition_status", course_key, draft), {"action": "activate"})
    assert 'data-notice="activation-effects"' not in page_of(staff_client.get(url("definition", course_key, draft)))


def test_a_survey_needs_the_instructor_to_say_which_answers_count(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({
        "kind": "survey", "title": "Survey", "activation_match": "",
        "questions": [("single_choice", "Used it?", ["Yes", "Not yet"], False)]}))
    page = page_of(response)
    assert response.status_code == 400 and not ActivationDefinition.objects.exists()
    assert "Say which answers mean the learner applied it" in page
    assert 'href="#id_requirements-0-activation_match"' in page


def test_the_activation_condition_is_written_on_the_question_rows(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({
        "kind": "survey", "title": "Survey", "activation_match": "all",
        "questions": [("single_choice", "Used it?", ["Yes, often", "Yes, once", "Not yet"], False,
                       {"counts": "Yes, often\nYes, once"}),
                      ("likert", "Confidence", [], False, {"at_least": "4"}),
                      ("number", "Calls", [], True, {"at_least": "2", "at_most": "10.5"}),
                      ("text", "Story", [], True)]}))
    assert response.status_code == 302
    requirement = ActivationDefinition.objects.get().requirements.get()
    assert requirement.config["activation_condition"] == {"match": "all", "answers": [
        {"question": "q1", "options": ["Yes, often", "Yes, once"]}, {"question": "q2", "at_least": 4},
        {"question": "q3", "at_least": 2, "at_most": 10.5}]}
    edit = page_of(staff_client.get(url("definition_edit", course_key, requirement.definition)))
    assert '<option value="all" selected>' in edit and 'value="10.5"' in edit
    assert ">Yes, often\nYes, once</textarea>" in edit


def test_an_option_that_counts_must_be_one_of_the_questions_options(staff_client, course_key):
    response = staff_client.post(new_url(course_key), definition_post({
        "kind": "survey", "title": "Survey", "activation_match": "any",
        "questions": [("single_choice", "Used it?", ["Yes", "Not yet"], False, {"counts": "Yes, sure"})]}))
    assert response.status_code == 400 and not ActivationDefinition.objects.exists()
    assert "Question 'q1': 'Yes, sure' is not one of its options." in page_of(response)


def test_a_survey_from_before_conditions_asks_for_one_when_edited(staff_client, course_key, make_definition):
    definition = make_definition(requirements=[SURVEY], activate=False)
    requirement = definition.requirements.get()
    requirement.config = {**requirement.config, "activation_condition": {"match": "not_set"}}  # as 0015 leaves it
    requirement.save()
    copy = api.new_version(definition)  # a version carries the unset condition over, to be chosen in the builder
    assert copy.requirements.get().config["activation_condition"] == {"match": "not_set"}
    edit = page_of(staff_client.get(url("definition_edit", course_key, copy)))
    assert '<option value="" selected>' in edit
    data = definition_post({"kind": "survey", "title": "Survey", "activation_match": "",
                            "questions": [("single_choice", "Did you use it?", ["yes", "no"], False)]})
    assert staff_client.post(url("definition_edit", course_key, copy), data).status_code == 400
    data["requirements-0-activation_match"] = "any_answer"
    assert staff_client.post(url("definition_edit", course_key, copy), data).status_code == 302
    assert copy.requirements.get().config["activation_condition"] == {"match": "any_answer"}


def test_the_instructor_sets_the_condition_of_a_survey_from_before_conditions_and_its_answers_are_judged(
        staff_client, course_key, make_definition, learner):
    definition = make_definition(requirements=[SURVEY])
    survey = definition.requirements.get()
    survey.config = {"questions": survey.config["questions"], "activation_condition": {"match": "not_set"}}
    survey.save()  # as migration 0015 leaves a survey written before conditions
    windows = {}
    for used in ("yes", "no"):
        user = UserFactory()
        [windows[used]] = api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(days=3))
        api.save_learner_response(window=windows[used], requirement=survey, payload={"answers": {"used": used}},
                                  idempotency_key=used)
    assert {w.state for w in ActivationDefinition.objects.get().windows.all()} == {"activated"}  # as before
    page = page_of(staff_client.get(url("definition", course_key, definition)))
    assert 'data-notice="condition-not-set"' in page and "“Not yet” included, counts as applying the skill" in page
    assert "Activation condition not set: every answer counts until the course team says" in page
    assert 'data-notice="condition-not-set"' in page_of(staff_client.get(url("definition_edit", course_key,
                                                                             definition)))
    set_url = reverse("activation_plugin:set_condition", kwargs={
        "course_id": str(course_key), "definition_id": definition.pk, "requirement_id": survey.pk})
    done = page_of(staff_client.post(set_url, {"match": "all", "used-counts": ["yes"]}, follow=True))
    assert "Of the 2 answers already given, 1 no longer count as applying the skill; 1 windows changed state." in done
    assert "It counts as applying the skill when “Did you use it?” is answered “yes”." in done
    assert 'data-notice="condition-not-set"' not in done
    for used, status, state in (("yes", "verified", "activated"), ("no", "not_met", "open")):
        windows[used].refresh_from_db()
        assert (windows[used].evidence.get().status, windows[used].state) == (status, state)
    again = page_of(staff_client.post(set_url, {"match": "any_answer"}, follow=True))
    assert "already set: changing it takes a new version" in again
