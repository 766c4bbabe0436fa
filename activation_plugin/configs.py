"""
Validation of each evidence requirement's ``config`` by kind, so bad configuration is refused
with a message an instructor can act on before anything is stored.
"""
import math
from numbers import Real

from django.utils.translation import gettext as _

from activation_plugin.errors import ActivationRequestError

SURVEY_QUESTION_TYPES = ("single_choice", "multiple_choice", "likert", "number", "text")
METRIC_DIRECTIONS = ("higher", "lower")
PEER_RULES = ("majority", "mean_score")


def _fail(message, key=None):
    """``field`` names the config key at fault (``config.threshold``), so a form can mark that field."""
    raise ActivationRequestError(message, field=f"config.{key}" if key else "config")


def _text(config, key, *, required=True, within=None):
    """``within``: the config key holding ``config`` when it is one item of a list (a survey's question)."""
    value = config.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        message = _("'{key}' must be a non-empty text.") if required else _("'{key}' must be a text.")
        _fail(message.format(key=key), within or key)
    return value.strip()


def _project(config):
    """
    The stored config carries every default (one-point criteria, the majority rule, a 0.6 pass ratio),
    so reviews never guess what a missing key meant.
    """
    rubric = config.get("rubric", [])
    if not isinstance(rubric, list):
        _fail(_("'rubric' must be a list of criteria."), "rubric")
    criteria = []
    for item in rubric:
        if not isinstance(item, dict) or not isinstance(item.get("criterion"), str) or not item["criterion"].strip():
            _fail(_("Each rubric criterion needs a 'criterion' text."), "rubric")
        max_score = item.get("max_score", 1)
        if not isinstance(max_score, int) or isinstance(max_score, bool) or max_score < 1:
            _fail(_("Rubric criterion '{criterion}' needs a whole 'max_score' of 1 or more.").format(
                criterion=item["criterion"]), "rubric")
        criteria.append({"criterion": item["criterion"].strip(), "max_score": max_score})
    peer_rule = config.get("peer_rule", "majority")
    if peer_rule not in PEER_RULES:
        _fail(_("'peer_rule' must be one of {rules}.").format(rules=", ".join(PEER_RULES)), "peer_rule")
    pass_ratio = config.get("pass_ratio", 0.6)
    if not isinstance(pass_ratio, Real) or isinstance(pass_ratio, bool) or not 0 < pass_ratio <= 1:
        _fail(_("'pass_ratio' must be a share of the rubric's points above 0 and at most 1."), "pass_ratio")
    return {"instructions": _text(config, "instructions"), "rubric": criteria, "peer_rule": peer_rule,
            "pass_ratio": float(pass_ratio)}


def _survey(config):
    """
    Ids must be unique: answers are stored under them and read back by id. A question is required unless
    it says otherwise.
    """
    questions = config.get("questions")
    if not isinstance(questions, list) or not questions:
        _fail(_("A survey needs at least one question."), "questions")
    cleaned, seen = [], set()
    for question in questions:
        if not isinstance(question, dict):
            _fail(_("Each survey question must be an object."), "questions")
        qid, qtype = question.get("id"), question.get("type")
        if not isinstance(qid, str) or not qid or qid in seen:
            _fail(_("Each survey question needs a unique 'id'."), "questions")
        seen.add(qid)
        if qtype not in SURVEY_QUESTION_TYPES:
            _fail(_("Question '{id}': type must be one of {types}.").format(
                id=qid, types=", ".join(SURVEY_QUESTION_TYPES)), "questions")
        entry = {"id": qid, "type": qtype, "text": _text(question, "text", within="questions"),
                 "required": bool(question.get("required", True))}
        if qtype in ("single_choice", "multiple_choice"):
            options = question.get("options")
            if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o for o in options):
                _fail(_("Question '{id}': a choice question needs at least two text options.").format(id=qid),
                      "questions")
            entry["options"] = options
        cleaned.append(entry)
    return {"questions": cleaned}


def _observation(config):
    """
    ``min_observed`` defaults to the whole checklist: a supervisor must see every behaviour unless the
    instructor asks for less.
    """
    checklist = config.get("checklist")
    if not isinstance(checklist, list) or not checklist or not all(isinstance(i, str) and i.strip() for i in checklist):
        _fail(_("An observation needs a checklist of at least one behaviour to observe."), "checklist")
    items = [item.strip() for item in checklist]
    if len(set(items)) != len(items):
        _fail(_("Each checklist item must be different."), "checklist")
    min_observed = config.get("min_observed", len(items))
    if not isinstance(min_observed, int) or isinstance(min_observed, bool) or not 1 <= min_observed <= len(items):
        _fail(_("'min_observed' must be between 1 and the {count} checklist items.").format(count=len(items)),
              "min_observed")
    return {"checklist": items, "min_observed": min_observed}


def _metric(config):
    """
    Every default written out (a 30-day baseline, one observation, since the window opened), so
    evaluation and the figures read one complete config.
    """
    metric = _text(config, "metric")
    threshold = config.get("threshold")
    if not isinstance(threshold, Real) or isinstance(threshold, bool):
        _fail(_("A metric requirement needs a numeric 'threshold'."), "threshold")
    direction = config.get("direction")
    if direction not in METRIC_DIRECTIONS:
        _fail(_("'direction' must be 'higher' or 'lower' (which way is better)."), "direction")
    relative = bool(config.get("relative", False))
    baseline_days = config.get("baseline_days", 30)
    if not isinstance(baseline_days, int) or isinstance(baseline_days, bool) or baseline_days < 1:
        _fail(_("'baseline_days' must be a whole number of days, 1 or more."), "baseline_days")
    period_days = config.get("period_days")
    if period_days is not None and (not isinstance(period_days, int) or isinstance(period_days, bool)
                                    or period_days < 1):
        _fail(_("'period_days' must be a whole number of days, 1 or more (or absent: since the window opened)."),
              "period_days")
    min_observations = config.get("min_observations", 1)
    if not isinstance(min_observations, int) or isinstance(min_observations, bool) or min_observations < 1:
        _fail(_("'min_observations' must be a whole number, 1 or more."), "min_observations")
    if relative and not -10 <= threshold <= 10:
        # xgettext:no-python-format
        _fail(_("A relative 'threshold' is a change against the baseline: -0.1 means 10 % lower."), "threshold")
    return {"metric": metric, "threshold": float(threshold), "direction": direction,
            "relative": relative, "baseline_days": baseline_days, "period_days": period_days,
            "min_observations": min_observations}


VALIDATORS = {"project": _project, "survey": _survey, "observation": _observation, "metric": _metric}


def validate_config(kind, config):
    """The normalised config for a requirement of ``kind``; raises ActivationRequestError if invalid."""
    if kind not in VALIDATORS:
        raise ActivationRequestError(_("Unknown evidence kind {kind}.").format(kind=repr(kind)), field="kind")
    if not isinstance(config, dict):
        _fail(_("The configuration must be an object."))
    return VALIDATORS[kind](config)


def _project_payload(config, payload, max_chars):  # pylint: disable=unused-argument
    """
    Only http(s) links: reviewers open them, so ``javascript:`` and other schemes are refused. Every
    payload validator takes ``config``; this one needs none.
    """
    url, text = payload.get("url", ""), payload.get("text", "")
    if not isinstance(url, str) or not isinstance(text, str):
        _fail_payload(_("The project link and description must be text."))
    url, text = url.strip(), text.strip()
    if url and not url.lower().startswith(("https://", "http://")):
        _fail_payload(_("The project link must start with https:// or http://."))
    if len(url) > 2000 or len(text) > max_chars:
        _fail_payload(_("The description is limited to {max_chars} characters and the link to 2000.").format(
            max_chars=max_chars))
    return {"url": url, "text": text}


def _answer_problem(question, answer):
    """
    What is wrong with one answer, as a phrase the caller puts after the question's text; None when it
    fits the question's type.
    """
    qtype = question["type"]
    if qtype == "single_choice":
        return None if answer in question["options"] else _("choose one of the options")
    if qtype == "multiple_choice":
        ok = isinstance(answer, list) and answer and all(a in question["options"] for a in answer)
        return None if ok and len(set(answer)) == len(answer) else _("choose one or more of the options")
    if qtype == "likert":
        ok = isinstance(answer, int) and not isinstance(answer, bool) and 1 <= answer <= 5
        return None if ok else _("answer on the scale from 1 to 5")
    if qtype == "number":
        ok = isinstance(answer, Real) and not isinstance(answer, bool) and math.isfinite(answer) and abs(answer) < 1e15
        return None if ok else _("enter a number")
    return None if isinstance(answer, str) and len(answer) <= 5000 else _("enter at most 5000 characters of text")


def _survey_payload(config, payload, max_chars):  # pylint: disable=unused-argument
    """
    Answers by question id, to questions the survey asks only; an unanswered optional question is left
    out rather than stored empty.
    """
    answers = payload.get("answers")
    if not isinstance(answers, dict):
        _fail_payload(_("Survey answers must be an object keyed by question id."))
    known = {question["id"]: question for question in config["questions"]}
    unknown = set(answers) - set(known)
    if unknown:
        _fail_payload(_("Unknown questions: {ids}.").format(ids=", ".join(sorted(unknown))))
    cleaned = {}
    for qid, question in known.items():
        answer = answers.get(qid)
        if answer in (None, "", []):
            if question["required"]:
                _fail_payload(_("Question '{text}' is required.").format(text=question["text"]))
            continue
        problem = _answer_problem(question, answer)
        if problem:
            _fail_payload(_("Question '{text}': {problem}.").format(text=question["text"], problem=problem))
        cleaned[qid] = answer.strip() if isinstance(answer, str) else answer
    return {"answers": cleaned}


def _observation_payload(config, payload, max_chars):
    observed = payload.get("observed")
    if not isinstance(observed, dict) or set(observed) != set(config["checklist"]) or \
            not all(isinstance(value, bool) for value in observed.values()):
        _fail_payload(_("Mark every checklist item as observed or not observed."))
    comment = payload.get("comment", "")
    if not isinstance(comment, str) or len(comment) > max_chars:
        _fail_payload(_("The comment must be text of at most {max_chars} characters.").format(max_chars=max_chars))
    return {"observed": observed, "comment": comment.strip()}


def _metric_payload(config, payload, max_chars):  # pylint: disable=unused-argument
    value = payload.get("value")
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        _fail_payload(_("Metric evidence needs a numeric 'value'."))
    return {**payload, "value": float(value)}


PAYLOAD_VALIDATORS = {"project": _project_payload, "survey": _survey_payload,
                      "observation": _observation_payload, "metric": _metric_payload}


def _fail_payload(message):
    raise ActivationRequestError(message, field="payload")


def validate_payload(kind, config, payload, max_chars):
    """The normalised evidence payload for a requirement; raises ActivationRequestError if invalid."""
    if not isinstance(payload, dict):
        _fail_payload("Evidence must be an object.")
    return PAYLOAD_VALIDATORS[kind](config, payload, max_chars)
