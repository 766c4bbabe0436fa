import pytest

from activation_plugin import configs
from activation_plugin.errors import ActivationRequestError

SURVEY = {"questions": [
    {"id": "used", "type": "single_choice", "text": "Used it?", "options": ["yes", "no"]},
    {"id": "tools", "type": "multiple_choice", "text": "Which?", "options": ["a", "b", "c"], "required": False},
    {"id": "confidence", "type": "likert", "text": "Confidence"},
    {"id": "calls", "type": "number", "text": "How many calls?"},
    {"id": "story", "type": "text", "text": "Tell us", "required": False},
]}


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
        "period_days": None, "min_observations": 1,
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
