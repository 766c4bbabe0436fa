"""Requirement configurations: refused with a reason, or normalised."""
import pytest

from activation_plugin import configs
from activation_plugin.errors import ActivationRequestError

SURVEY = {"questions": [
    {"id": "used", "type": "single_choice", "text": "Used it?", "options": ["yes", "no"]},
    {"id": "tools", "type": "multiple_choice", "text": "Which?", "options": ["a", "b", "c"], "required": False},
    {"id": "confidence", "type": "likert", "text": "Confidence"},
    {"id": "calls", "type": "number", "text": "How many calls?"},
    {"id": "story", "type": "text", "text": "Tell us", "required": False},
], "activation_condition": {"match": "any_answer"}}


@pytest.mark.parametrize("kind, config, message", [
    ("project", {}, "'instructions' must be a non-empty text"),
    ("project", {"instructions": "x", "rubric": [{"criterion": "c", "max_score": 0}]}, "max_score"),
    ("project", {"instructions": "x", "peer_rule": "vibes"}, "'peer_rule' must be one of"),
    ("project", {"instructions": "x", "pass_ratio": 1.5}, "'pass_ratio'"),
    ("survey", {"questions": []}, "at least one question"),
    ("survey", {"questions": [{"id": "a", "type": "essay", "text": "?"}]}, "type must be one of"),
    ("survey", {"questions": [{"id": "a", "type": "single_choice", "text": "?", "options": ["x"]}]},
     "at least two text options"),
    ("survey", {"questions": [{"id": "a", "type": "text", "text": "?"}, {"id": "a", "type": "text", "text": "?"}]},
     "unique 'id'"),
    ("observation", {"checklist": []}, "checklist"),
    ("metric", {"metric": "aht", "threshold": "10", "direction": "lower"}, "numeric 'threshold'"),
    ("metric", {"metric": "aht", "threshold": 10, "direction": "down"}, "'direction'"),
    ("video", {}, "Unknown evidence kind"),
    ("project", ["instructions"], "must be an object"),
])
def test_invalid_configs_are_refused_with_a_reason(kind, config, message):
    with pytest.raises(ActivationRequestError, match=message):
        configs.validate_config(kind, config)


def test_valid_configs_are_normalised():
    assert configs.validate_config("metric", {"metric": " aht ", "threshold": 300, "direction": "lower"}) == {
        "metric": "aht", "threshold": 300.0, "direction": "lower", "relative": False, "baseline_days": 30,
        "period_days": None, "min_observations": 1, "label": "", "unit": "",
    }
    assert configs.validate_config("project", {"instructions": " Do it ", "rubric": [{"criterion": "c"}]}) == {
        "instructions": "Do it", "rubric": [{"criterion": "c", "max_score": 1}], "peer_rule": "majority",
        "pass_ratio": 0.6,
    }


def test_survey_answers_are_validated_per_question_type():
    survey = configs.validate_config("survey", SURVEY)
    good = {"used": "yes", "tools": ["a", "c"], "confidence": 4, "calls": 12, "story": " fine "}
    assert configs.validate_payload("survey", survey, {"answers": good}, 100)["answers"]["story"] == "fine"
    for bad, message in [
        ({"used": "maybe", "confidence": 4, "calls": 1}, "choose one of the options"),
        ({"used": "yes", "confidence": 6, "calls": 1}, "scale from 1 to 5"),
        ({"used": "yes", "confidence": 3, "calls": "many"}, "enter a number"),
        ({"used": "yes", "confidence": 3, "calls": float("nan")}, "enter a number"),
        ({"used": "yes", "confidence": 3, "calls": float("inf")}, "enter a number"),
        ({"used": "yes", "confidence": 3, "calls": 1, "tools": ["a", "a"]}, "one or more of the options"),
        ({"confidence": 3, "calls": 1}, "is required"),
        ({"used": "yes", "confidence": 3, "calls": 1, "extra": 1}, "Unknown questions: extra"),
    ]:
        with pytest.raises(ActivationRequestError, match=message):
            configs.validate_payload("survey", survey, {"answers": bad}, 100)


def test_project_payload_refuses_non_http_links_and_long_text():
    config = {"instructions": "x", "rubric": []}
    with pytest.raises(ActivationRequestError, match="https://"):
        configs.validate_payload("project", config, {"url": "javascript:alert(1)"}, 100)
    with pytest.raises(ActivationRequestError, match="limited to 10 characters"):
        configs.validate_payload("project", config, {"text": "x" * 11}, 10)


def _survey_with(condition):
    return {**SURVEY, "activation_condition": condition}


@pytest.mark.parametrize("condition, message", [
    (None, "Say which answers mean the learner applied it"),
    ({"match": "not_set"}, "Say which answers mean the learner applied it"),
    ({"match": "most"}, "Say which answers mean the learner applied it"),
    ({"match": "all", "answers": []}, "at least one answer that counts"),
    ({"match": "all", "answers": [{"question": "ghost", "options": ["yes"]}]},
     "'ghost', which the survey does not ask"),
    ({"match": "any", "answers": [{"question": "story", "options": ["x"]}]}, "free text, which cannot decide"),
    ({"match": "any", "answers": [{"question": "used", "options": ["yes", "perhaps"]}]},
     "'perhaps' is not one of its options"),
    ({"match": "any", "answers": [{"question": "used", "options": []}]}, "list the options"),
    ({"match": "any", "answers": [{"question": "used", "options": [["yes"]]}]}, "list the options"),
    ({"match": "any", "answers": [{"question": ["used"], "options": ["yes"]}]}, "which the survey does not ask"),
    ({"match": "any", "answers": ["used"]}, "None, which the survey does not ask"),
    ({"match": "any", "answers": [{"question": "confidence"}]}, "lowest .'at_least'. or highest"),
    ({"match": "any", "answers": [{"question": "confidence", "at_least": 6}]}, "a point from 1 to 5"),
    ({"match": "any", "answers": [{"question": "calls", "at_least": "3"}]}, "must be numbers"),
    ({"match": "any", "answers": [{"question": "calls", "at_least": 5, "at_most": 2}]},
     "no answer is at least 5 and at most 2"),
    ({"match": "any", "answers": [{"question": "calls", "at_least": 1}, {"question": "calls", "at_most": 9}]},
     "names question 'calls' twice"),
])
def test_a_survey_condition_that_cannot_work_is_refused_with_a_reason(condition, message):
    config = _survey_with(condition) if condition else {"questions": SURVEY["questions"]}
    with pytest.raises(ActivationRequestError, match=message) as error:
        configs.validate_config("survey", config)
    assert error.value.field == "config.activation_condition"


def test_a_stored_survey_without_a_condition_is_carried_over_into_a_new_version():
    config = configs.validate_config("survey", _survey_with({"match": "not_set"}), carried_over=True)
    assert config["activation_condition"] == {"match": "not_set"} and not configs.condition_set(config)


ANSWERS = {"used": "no", "tools": ["a"], "confidence": 2, "calls": 0}


@pytest.mark.parametrize("condition, answers, met", [
    ({"match": "any_answer"}, ANSWERS, True),
    ({"match": "not_set"}, ANSWERS, True),  # as before conditions existed, until the instructor chooses
    ({"match": "all", "answers": [{"question": "used", "options": ["yes"]}]}, ANSWERS, False),
    ({"match": "all", "answers": [{"question": "used", "options": ["yes"]}]}, {**ANSWERS, "used": "yes"}, True),
    ({"match": "all", "answers": [{"question": "tools", "options": ["b", "c"]}]}, {**ANSWERS, "tools": ["a", "c"]},
     True),
    ({"match": "all", "answers": [{"question": "tools", "options": ["b"]}]}, {"used": "yes"}, False),  # unanswered
    ({"match": "all", "answers": [{"question": "confidence", "at_least": 4}]}, {**ANSWERS, "confidence": 4}, True),
    ({"match": "all", "answers": [{"question": "confidence", "at_least": 4}]}, {**ANSWERS, "confidence": 3}, False),
    ({"match": "all", "answers": [{"question": "calls", "at_most": 3}]}, {**ANSWERS, "calls": 3.5}, False),
    ({"match": "all", "answers": [{"question": "calls", "at_least": 1, "at_most": 3}]}, {**ANSWERS, "calls": 3},
     True),
    ({"match": "all", "answers": [{"question": "used", "options": ["yes"]}, {"question": "confidence", "at_least": 4}]},
     {**ANSWERS, "used": "yes", "confidence": 3}, False),
    ({"match": "any", "answers": [{"question": "used", "options": ["yes"]}, {"question": "confidence", "at_least": 4}]},
     {**ANSWERS, "used": "no", "confidence": 5}, True),
    ({"match": "any", "answers": [{"question": "used", "options": ["yes"]}, {"question": "confidence", "at_least": 4}]},
     ANSWERS, False),
])
def test_the_condition_decides_which_answers_count(condition, answers, met):
    config = configs.validate_config("survey", _survey_with(condition), carried_over=True)
    assert configs.condition_met(config, answers) is met


def test_the_condition_is_described_in_the_words_every_page_uses():
    config = configs.validate_config("survey", _survey_with({"match": "all", "answers": [
        {"question": "used", "options": ["yes"]}, {"question": "confidence", "at_least": 4},
        {"question": "calls", "at_least": 1, "at_most": 2.5}]}))
    assert configs.describe_condition(config) == (
        "It counts as applying the skill when “Used it?” is answered “yes” and “Confidence” is answered 4 or more "
        "and “How many calls?” is answered between 1 and 2.5.")
    assert configs.describe_condition(_survey_with({"match": "any_answer"})) == \
        "Every answer counts as applying the skill."
    assert configs.describe_condition({"instructions": "x"}) == ""
