"""REST API v1: definitions (CRUD, activate, archive, requirements) and their figures."""
import dataclasses
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, EvidenceRequirement, FollowUpPrompt, IdempotentRequest
from demo.models import DemoCourse
from tests.conftest import PROJECT, SURVEY, api_url, mint_jwt

pytestmark = pytest.mark.django_db

NEW_DEFINITION = {
    "name": "Runs retrospectives", "behavior": "Runs a retrospective with their team.", "window_days": 60,
    "rule": "at_least", "rule_count": 1, "holdout_percent": 10,
    "requirements": [{**PROJECT, "verification": "staff", "prompts": [
        {"send_after_days": 7, "reminder_days": [14, 21], "subject": "How did it go?", "body": "Tell us.",
         "translations": {"fr": {"subject": "Alors ?", "body": "Racontez."}}},
    ]}, SURVEY],
}


url = api_url


@pytest.fixture
def staff_client(jwt_staff_client):
    return jwt_staff_client


def test_create_definition_with_requirements_and_prompts(staff_client, course_key, course_staff):
    response = staff_client.post(url("definitions", course_id=course_key), NEW_DEFINITION, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    definition = ActivationDefinition.objects.get(pk=body["id"])
    assert (definition.created_by, definition.course_key, definition.status) == (course_staff, course_key, "draft")
    assert (body["rule"], body["rule_count"], body["holdout_percent"], body["locked"]) == ("at_least", 1, 10, False)
    assert [r["kind"] for r in body["requirements"]] == ["project", "survey"]
    prompt = body["requirements"][0]["prompts"][0]
    assert (prompt["reminder_days"], prompt["translations"]["fr"]["subject"]) == ([14, 21], "Alors ?")
    assert FollowUpPrompt.objects.count() == 1
    assert "holdout_seed" not in response.content.decode() and definition.holdout_seed not in response.content.decode()


@pytest.mark.parametrize("change, field", [
    ({"window_days": 0}, "window_days"),
    ({"window_days": 366}, "window_days"),
    ({"trigger": "enrolled"}, "trigger"),
    ({"name": ""}, "name"),
    ({"rule": "at_least", "rule_count": 5}, "rule"),
    ({"requirements": [{"kind": "survey", "title": "S", "config": {"questions": "nope"}}]}, None),
    ({"requirements": [{**PROJECT, "prompts": [{"send_after_days": 3, "reminder_days": [2], "subject": "s",
                                                "body": "b"}]}]}, "reminder_days"),
])
def test_invalid_definition_is_refused_with_its_field_and_nothing_is_written(staff_client, course_key, change,
                                                                             field):
    response = staff_client.post(url("definitions", course_id=course_key), {**NEW_DEFINITION, **change},
                                 format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and (field is None or body["field"] == field), body
    assert not ActivationDefinition.objects.exists() and not EvidenceRequirement.objects.exists()


def test_list_and_read_definitions_of_every_run_of_the_course(staff_client, make_definition, course_key, other_run):
    mine = make_definition(name="This run")
    sibling = make_definition(name="Authored in 2027", course_key=other_run, activate=False)
    listed = staff_client.get(url("definitions", course_id=course_key)).json()
    assert {d["id"] for d in listed} == {mine.pk, sibling.pk}
    detail = staff_client.get(url("definition", course_id=course_key, definition_id=mine.pk)).json()
    assert (detail["name"], detail["status"], detail["course_id"]) == ("This run", "active", str(course_key))


def test_patch_changes_only_what_is_sent_and_locks_history_once_windows_exist(staff_client, make_definition,
                                                                              course_key, learner):
    definition = make_definition(window_days=30)
    detail = url("definition", course_id=course_key, definition_id=definition.pk)
    response = staff_client.patch(detail, {"name": "Renamed", "window_days": 45}, format="json")
    assert response.status_code == 200 and (response.json()["name"], response.json()["window_days"]) == (
        "Renamed", 45)
    assert response.json()["behavior"] == "Uses it at work."
    api.open_windows(learner.pk, course_key, "passing", timezone.now())
    locked = staff_client.patch(detail, {"window_days": 90}, format="json")
    assert locked.status_code == 409 and locked.json()["field"] == "window_days"
    definition.refresh_from_db()
    assert definition.window_days == 45
    assert staff_client.patch(detail, {"behavior": "Still editable"}, format="json").json()["locked"] is True
    assert staff_client.patch(detail, {"holdout_seed": "x"}, format="json").status_code == 200  # unknown: ignored
    definition.refresh_from_db()
    assert definition.holdout_seed != "x"


def test_activate_archive_are_idempotent_and_explain_refusals(staff_client, make_definition, course_key):
    empty = make_definition(requirements=(), activate=False)
    refused = staff_client.post(url("definition_activate", course_id=course_key, definition_id=empty.pk))
    assert refused.status_code == 400 and refused.json()["field"] == "requirements"
    definition = make_definition(activate=False)
    activate = url("definition_activate", course_id=course_key, definition_id=definition.pk)
    first = staff_client.post(activate).json()
    again = staff_client.post(activate).json()
    assert first["status"] == again["status"] == "active" and first["activated_at"] == again["activated_at"]
    archive = url("definition_archive", course_id=course_key, definition_id=definition.pk)
    assert staff_client.post(archive).json()["status"] == "archived"
    assert staff_client.post(archive).status_code == 200
    assert staff_client.post(activate).status_code == 400


def test_add_requirement_until_windows_exist(staff_client, make_definition, course_key, learner):
    definition = make_definition(activate=False)
    add = url("definition_requirements", course_id=course_key, definition_id=definition.pk)
    response = staff_client.post(add, SURVEY, format="json")
    assert response.status_code == 201 and [r["kind"] for r in response.json()["requirements"]] == [
        "project", "survey"]
    assert staff_client.post(add, {"kind": "survey", "title": "Bad", "config": {}}, format="json").status_code == 400
    api.activate_definition(definition)
    api.open_windows(learner.pk, course_key, "passing", timezone.now())
    locked = staff_client.post(add, SURVEY, format="json")
    assert locked.status_code == 409 and locked.json()["field"] == "requirements"
    assert definition.requirements.count() == 2


def test_summary_serialises_every_figure_faithfully(staff_client, make_definition, course_key, learner, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's figures, shown
    definition = make_definition()
    api.open_windows(learner.pk, course_key, "passing", timezone.now())
    response = staff_client.get(url("definition_summary", course_id=course_key, definition_id=definition.pk))
    assert response.status_code == 200
    body = response.json()
    expected = api.summarize(definition)
    assert body["definition"]["id"] == definition.pk
    figures = body["figures"]
    assert set(figures) == set(expected)
    assert (figures["completers"], figures["open"], figures["rate"], figures["rate_ci"]) == (1, 1, None, None)
    assert figures["km_curve"] == [dataclasses.asdict(point) for point in expected["km_curve"]]
    assert figures["by_strength"] == expected["by_strength"]
    summaries = staff_client.get(url("summaries", course_id=course_key)).json()
    assert [item["definition"]["id"] for item in summaries] == [definition.pk]


@pytest.fixture
def foreign_definition(make_definition):
    """A definition of another course, whose staff our caller is not."""
    key = CourseKey.from_string("course-v1:OtherX+ELSE+2026")
    DemoCourse.objects.create(course_key=key, display_name="Else")
    return make_definition(course_key=key, activate=False)


@pytest.mark.parametrize("method, name", [
    ("get", "definition"), ("patch", "definition"), ("post", "definition_activate"),
    ("post", "definition_archive"), ("post", "definition_requirements"), ("get", "definition_summary"),
])
def test_ids_of_another_course_are_not_found_and_untouched(staff_client, course_key, foreign_definition, method,
                                                           name):
    response = getattr(staff_client, method)(
        url(name, course_id=course_key, definition_id=foreign_definition.pk), {"name": "Hijacked", **SURVEY},
        format="json")
    assert response.status_code == 404 and response.json() == {"field": "definition",
                                                               "message": "No such definition in this course."}
    foreign_definition.refresh_from_db()
    assert (foreign_definition.name, foreign_definition.status) == ("Applies the skill", "draft")
    assert foreign_definition.requirements.count() == 1


@pytest.mark.parametrize("course_id, definition_id", [
    ("not-a-course", 1), ("course-v1:TestX+APPLY+2026", 2**63), ("course-v1:TestX+APPLY+2026", 10**30),
    ("course-v1:TestX+APPLY+2026", "abc"), ("course-v1:TestX+APPLY+2026", -1), ("course-v1:TestX+APPLY+2026", 0),
])
def test_malformed_or_impossible_ids_are_a_json_not_found(staff_user, api_client, course_key, course_id,
                                                          definition_id):
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(staff_user)}")
    response = api_client.get(url("definition", course_id=course_id, definition_id=definition_id))
    assert response.status_code == 404 and response.json()["message"]


def test_figures_serve_every_figure_of_the_page_and_roi(staff_client, make_definition, course_key):
    from tests.figures_data import add_evidence, make_windows  # pylint: disable=import-outside-toplevel
    definition = make_definition()
    add_evidence(make_windows(definition, 6, state="activated"))
    make_windows(definition, 14)
    address = url("definition_figures", course_id=course_key, definition_id=definition.pk)
    body = staff_client.get(address).json()
    assert body["definition"]["id"] == definition.pk
    figures = body["figures"]
    expected = api.analytics(definition)
    assert set(figures) == set(expected)
    assert (figures["summary"]["activated"], figures["summary"]["eligible"]) == (6, 20)
    assert figures["summary"]["rate_ci"] == list(expected["summary"]["rate_ci"])
    assert [stage["count"] for stage in figures["funnel"]["prompted"]] == [20, 0, 6, 6, 6]
    assert figures["arms"] is None and "roi" not in figures
    roi = staff_client.get(address, {"value_per_activation": "500", "programme_cost": "1000"}).json()["figures"]["roi"]
    assert roi["roi"] == pytest.approx((500 * 6 - 1000) / 1000) and roi["upper_bound"] is True
    refused = staff_client.get(address, {"value_per_activation": "500", "programme_cost": "0"})
    assert refused.status_code == 400 and refused.json()["field"] == "programme_cost"
    assert staff_client.get(address, {"value_per_activation": "lots"}).json()["field"] == "value_per_activation"
    course = staff_client.get(address, {"value_per_activation": "500", "programme_cost": "1000",
                                        "counterfactual_share": "0.5"}).json()["figures"]["roi"]
    assert (course["effect_of"], course["basis"], course["interval_kind"]) == ("course", "counterfactual_share", "ci95")
    assert course["incremental_activations"] == pytest.approx(3)
    follow_up = staff_client.get(address, {"value_per_activation": "500", "programme_cost": "1000",
                                           "roi_of": "follow_up"}).json()["figures"]["roi"]
    assert (follow_up["effect_of"], follow_up["suppressed"]) == ("follow_up", True)  # no holdout
    assert staff_client.get(address, {"value_per_activation": "500", "programme_cost": "1000",
                                      "roi_of": "mails"}).json()["field"] == "roi_of"
    schema = staff_client.get("/api/activation/v1/schema/").content.decode()
    assert "counterfactual_share" in schema and "course_effect" in schema


def test_idempotency_key_makes_a_replayed_create_change_nothing(staff_client, course_key):
    endpoint = url("definitions", course_id=course_key)
    first = staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    replay = staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    assert first.status_code == replay.status_code == 201 and first.json() == replay.json()
    assert ActivationDefinition.objects.count() == 1
    other_body = staff_client.post(endpoint, {**NEW_DEFINITION, "name": "Other"}, format="json",
                                   HTTP_IDEMPOTENCY_KEY="create-1")
    assert other_body.status_code == 409 and other_body.json()["field"] == "Idempotency-Key"
    assert staff_client.post(endpoint, NEW_DEFINITION, format="json").status_code == 201  # no key: a new one
    assert ActivationDefinition.objects.count() == 2


def test_a_replay_after_the_cache_is_emptied_still_creates_nothing(staff_client, course_key):
    """The key is stored with the write, not in the cache an eviction or a restart empties."""
    endpoint = url("definitions", course_id=course_key)
    first = staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    cache.clear()
    replay = staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    assert first.status_code == replay.status_code == 201 and first.json() == replay.json()
    assert ActivationDefinition.objects.count() == 1


def test_idempotency_keys_are_kept_a_day_and_leave_with_their_user(staff_client, course_key, course_staff):
    endpoint = url("definitions", course_id=course_key)
    staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    api.tick(now=timezone.now() + timedelta(hours=23))
    assert IdempotentRequest.objects.count() == 1
    api.tick(now=timezone.now() + timedelta(hours=25))
    assert not IdempotentRequest.objects.exists()
    staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="create-2")
    api.retire_user(course_staff.pk)
    assert not IdempotentRequest.objects.exists()


def test_a_refused_request_does_not_use_up_its_idempotency_key(staff_client, course_key):
    endpoint = url("definitions", course_id=course_key)
    refused = staff_client.post(endpoint, {**NEW_DEFINITION, "window_days": 0}, format="json",
                                HTTP_IDEMPOTENCY_KEY="k")
    assert refused.status_code == 400
    assert staff_client.post(endpoint, {**NEW_DEFINITION, "window_days": 0}, format="json",
                             HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert staff_client.post(endpoint, NEW_DEFINITION, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert staff_client.post(endpoint, NEW_DEFINITION, format="json",
                             HTTP_IDEMPOTENCY_KEY="x" * 256).json()["field"] == "Idempotency-Key"
    assert ActivationDefinition.objects.count() == 1


def test_idempotency_keys_are_per_user_and_endpoint(api_client, course_staff, staff_user, make_definition,
                                                    course_key):
    definition = make_definition(activate=False)
    add = url("definition_requirements", course_id=course_key, definition_id=definition.pk)
    for user in (course_staff, staff_user):
        api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(user)}")
        assert api_client.post(add, SURVEY, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code == 201
        assert api_client.post(add, SURVEY, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert definition.requirements.count() == 3  # the fixture's project and one survey per user


@pytest.mark.parametrize("depth", [65, 100_000])
def test_a_deeply_nested_body_is_a_400_not_a_server_error(staff_client, course_key, depth):
    """Every REST POST and PATCH parses through one parser; 100,000 levels used to raise RecursionError."""
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    response = staff_client.post(api_url("definitions", course_id=course_key), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] is None and "nested more than 64 levels" in response.json()["message"]


def test_a_survey_through_rest_says_which_answers_count_and_reads_back_in_the_pages_words(
        staff_client, make_definition, course_key):
    definition = make_definition(activate=False)
    add = url("definition_requirements", course_id=course_key, definition_id=definition.pk)
    config = {"questions": SURVEY["config"]["questions"]}
    refused = staff_client.post(add, {**SURVEY, "config": config}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "config.activation_condition"
    assert "Say which answers mean the learner applied it" in refused.json()["message"]
    unknown = staff_client.post(add, {**SURVEY, "config": {**config, "activation_condition": {
        "match": "all", "answers": [{"question": "used", "options": ["maybe"]}]}}}, format="json")
    assert unknown.status_code == 400 and "'maybe' is not one of its options" in unknown.json()["message"]
    condition = {"match": "all", "answers": [{"question": "used", "options": ["yes"]}]}
    created = staff_client.post(add, {**SURVEY, "config": {**config, "activation_condition": condition}},
                                format="json")
    assert created.status_code == 201
    survey = created.json()["requirements"][-1]
    assert survey["config"]["activation_condition"] == condition
    assert survey["activation_condition_text"] == \
        "It counts as applying the skill when “Did you use it?” is answered “yes”."
    assert created.json()["requirements"][0]["activation_condition_text"] == ""  # the project


def test_a_survey_from_before_conditions_gets_its_condition_through_rest(
        staff_client, make_definition, course_key, learner):
    definition = make_definition(requirements=[SURVEY])
    survey = definition.requirements.get()
    survey.config = {"questions": survey.config["questions"], "activation_condition": {"match": "not_set"}}
    survey.save()  # as migration 0015 leaves it
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=2))
    api.save_learner_response(window=window, requirement=survey, payload={"answers": {"used": "no"}},
                              idempotency_key="no")
    window.refresh_from_db()
    assert window.state == "activated"  # every answer counted until now
    endpoint = url("requirement_activation_condition", course_id=course_key, definition_id=definition.pk,
                   requirement_id=survey.pk)
    bad = staff_client.post(endpoint, {"activation_condition": {"match": "all", "answers": [
        {"question": "how", "options": ["x"]}]}}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "config.activation_condition"
    done = staff_client.post(endpoint, {"activation_condition": {"match": "all", "answers": [
        {"question": "used", "options": ["yes"]}]}}, format="json")
    assert (done.status_code, done.json()) == (200, {"responses": 1, "not_counted": 1, "windows": 1})
    window.refresh_from_db()
    assert (window.state, window.evidence.get().status) == ("open", "not_met")
    again = staff_client.post(endpoint, {"activation_condition": {"match": "any_answer"}}, format="json")
    assert again.status_code == 400 and again.json()["field"] == "activation_condition"
    missing = url("requirement_activation_condition", course_id=course_key, definition_id=definition.pk,
                  requirement_id="99999999999999999999")
    response = staff_client.post(missing, {"activation_condition": {"match": "any_answer"}}, format="json")
    assert response.status_code == 404
