"""Definitions through the api: creation, validation, activation."""
import pytest

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError, DefinitionLocked
from activation_plugin.models import ActivationDefinition, EvidenceRequirement, FollowUpPrompt
from tests.conftest import NOW, OBSERVATION, PROJECT, SURVEY


def test_create_definition_with_requirements_and_prompts(course_key):
    project = {**PROJECT, "prompts": [{"send_after_days": 7, "reminder_days": [21, 14, 21],
                                       "subject": "How did it go?", "body": "Tell us, {learner_name}."}]}
    definition = api.create_definition(
        course_key=str(course_key), name=" Applies it ", behavior="Uses it.", window_days=45,
        rule="at_least", rule_count=2, requirements=[project, SURVEY, OBSERVATION], holdout_percent=10,
    )
    assert definition.status == ActivationDefinition.Status.DRAFT
    assert definition.name == "Applies it"
    assert definition.catalog_course == "TestX+APPLY"
    assert [r.kind for r in definition.requirements] == ["project", "survey", "observation"]
    assert FollowUpPrompt.objects.get().reminder_days == [14, 21]


@pytest.mark.parametrize("fields, field, message", [
    ({"window_days": 0}, "window_days", "between 1 and 365 days"),
    ({"window_days": -3}, "window_days", "between 1 and 365 days"),
    ({"window_days": 400}, "window_days", "between 1 and 365 days"),
    ({"rule": "at_least", "rule_count": 3}, "rule", "at least 3 requirements but the definition has only 1"),
    ({"rule": "sometimes"}, "rule", "Unknown rule"),
    ({"holdout_percent": 60}, "holdout_percent", "between 0 and 50"),
    ({"trigger": "enrolled"}, "trigger", "'passing' or 'certificate'"),
    ({"name": "  "}, "name", "name"),
    ({"course_key": "not a key"}, "course_key", "not a valid course key"),
    ({"course_key": "course-v1:Nobody+Nothing+Never"}, "course_key", "No course"),
    ({"requirements": [{"kind": "project", "title": "x", "config": {}}]}, "config.instructions", "instructions"),
    ({"requirements": [{**PROJECT, "prompts": [{"send_after_days": 5, "reminder_days": [3],
                                                "subject": "s", "body": "b"}]}]}, "reminder_days", "after"),
])
def test_invalid_definitions_write_nothing(course_key, fields, field, message):
    arguments = {"course_key": course_key, "name": "n", "behavior": "b", "window_days": 30,
                 "requirements": [PROJECT], **fields}
    with pytest.raises(ActivationRequestError, match=message) as raised:
        api.create_definition(**arguments)
    assert raised.value.field == field
    assert not ActivationDefinition.objects.exists()
    assert not EvidenceRequirement.objects.exists()


def test_activation_needs_a_requirement(make_definition):
    definition = make_definition(requirements=(), activate=False)
    with pytest.raises(ActivationRequestError, match="at least one evidence requirement"):
        api.activate_definition(definition)
    api.add_requirement(definition, PROJECT)
    assert api.activate_definition(definition).status == "active"


def test_archived_definition_cannot_be_reactivated(make_definition):
    definition = api.archive_definition(make_definition())
    assert definition.archived_at is not None
    with pytest.raises(ActivationRequestError, match="archived"):
        api.activate_definition(definition)


def test_history_fields_lock_once_windows_exist(make_definition, learner):
    definition = make_definition()
    api.update_definition(definition, window_days=60, name="Renamed")
    api.open_windows(learner.id, definition.course_key, "passing", NOW)
    with pytest.raises(DefinitionLocked, match="window_days"):
        api.update_definition(definition, window_days=90)
    with pytest.raises(DefinitionLocked):
        api.add_requirement(definition, SURVEY)
    definition = api.update_definition(definition, name="Clearer name", behavior="Clearer behaviour")
    definition.refresh_from_db()
    assert (definition.name, definition.window_days) == ("Clearer name", 60)


def test_update_refuses_unknown_fields(make_definition):
    with pytest.raises(ActivationRequestError, match="Cannot edit status"):
        api.update_definition(make_definition(), status="archived")


def test_definitions_cover_every_run_of_the_catalog_course(make_definition, other_run):
    definition = make_definition()
    assert [found.id for found in api.definitions_for_course(other_run)] == [definition.pk]
