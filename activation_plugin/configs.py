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
METRIC_LABEL_CHARS, METRIC_UNIT_CHARS = 80, 20
PEER_RULES = ("majority", "mean_score")
# A survey's activation condition: every listed answer ("all") or one of them ("any") must be met;
# ``any_answer`` is the instructor's explicit "every answer counts"; ``not_set`` marks surveys that predate
# conditions (migration 0015), counted as before until the instructor chooses.
CONDITION_MATCHES = ("all", "any")
ANY_ANSWER = "any_answer"
NOT_SET = "not_set"


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
    return {"questions": cleaned, "activation_condition": _condition(config.get("activation_condition"), cleaned)}


def _condition(condition, questions):
    """
    Which answers mean "applied it". Required: without it every answer, "Not yet" included, would
    count. ``not_set`` only arrives from a stored requirement (migration 0015 marks the surveys that
    predate conditions, and a new version carries the mark): ``validate_config`` refuses it otherwise.
    """
    if not isinstance(condition, dict) or condition.get("match") not in (*CONDITION_MATCHES, ANY_ANSWER, NOT_SET):
        _fail(_("Say which answers mean the learner applied it: write an activation condition on the questions, "
                "or choose that every answer counts."), "activation_condition")
    match = condition["match"]
    if match in (ANY_ANSWER, NOT_SET):
        return {"match": match}
    terms = condition.get("answers")
    if not isinstance(terms, list) or not terms:
        _fail(_("An activation condition needs at least one answer that counts."), "activation_condition")
    by_id = {question["id"]: question for question in questions}
    cleaned, seen = [], set()
    for term in terms:
        qid = term.get("question") if isinstance(term, dict) else None
        if not isinstance(qid, str) or qid not in by_id:
            _fail(_("The activation condition names the question {id}, which the survey does not ask.").format(
                id=repr(qid)), "activation_condition")
        if qid in seen:
            _fail(_("The activation condition names question '{id}' twice: give it one line.").format(id=qid),
                  "activation_condition")
        seen.add(qid)
        cleaned.append(_condition_term(term, by_id[qid]))
    return {"match": match, "answers": cleaned}


def _condition_term(term, question):
    """One question's part of the condition: options for a choice, bounds for a scale or a number."""
    qid, qtype = question["id"], question["type"]
    if qtype == "text":
        _fail(_("Question '{id}' is answered in free text, which cannot decide activation: base the condition on "
                "a choice, the scale or a number.").format(id=qid), "activation_condition")
    if qtype in ("single_choice", "multiple_choice"):
        options = term.get("options")
        if not isinstance(options, list) or not options or not all(isinstance(option, str) for option in options):
            _fail(_("Question '{id}': list the options that mean the learner applied it.").format(id=qid),
                  "activation_condition")
        unknown = [option for option in options if option not in question["options"]]
        if unknown:
            _fail(_("Question '{id}': {options} is not one of its options.").format(
                id=qid, options=", ".join(repr(option) for option in unknown)), "activation_condition")
        return {"question": qid, "options": list(dict.fromkeys(options))}
    bounds = {key: term[key] for key in ("at_least", "at_most") if term.get(key) is not None}
    if not bounds:
        _fail(_("Question '{id}': give the lowest ('at_least') or highest ('at_most') answer that counts.").format(
            id=qid), "activation_condition")
    for value in bounds.values():
        if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) or (
                qtype == "likert" and value not in range(1, 6)):
            _fail(_("Question '{id}': the bounds must be numbers (a point from 1 to 5 on a scale).").format(id=qid),
                  "activation_condition")
    if len(bounds) == 2 and bounds["at_least"] > bounds["at_most"]:
        _fail(_("Question '{id}': no answer is at least {low} and at most {high}.").format(
            id=qid, low=bounds["at_least"], high=bounds["at_most"]), "activation_condition")
    return {"question": qid, **bounds}


def _term_met(term, answer):
    if answer in (None, "", []):
        return False
    if "options" in term:
        chosen = answer if isinstance(answer, list) else [answer]
        return any(option in term["options"] for option in chosen)
    return term.get("at_least", answer) <= answer <= term.get("at_most", answer)


def condition_met(config, answers):
    """
    Whether a survey's (validated) answers meet its activation condition: evidence of activation,
    or a response only. An unanswered question meets no part of a condition.
    """
    condition = config.get("activation_condition") or {"match": NOT_SET}
    if condition["match"] in (ANY_ANSWER, NOT_SET):
        return True
    met = (_term_met(term, answers.get(term["question"])) for term in condition["answers"])
    return all(met) if condition["match"] == "all" else any(met)


def counts_some_answers_only(config):
    """True for a survey whose condition leaves some answers out: the learner is told which count."""
    return (config.get("activation_condition") or {}).get("match") in CONDITION_MATCHES


def condition_set(config):
    """False for a survey whose instructor has not yet said which answers count (see migration 0015)."""
    return (config.get("activation_condition") or {}).get("match") != NOT_SET


def describe_condition(config):
    """
    The condition in words, as the learner page, the definition page, the builder, the REST API and
    the CSV export all say it; empty for requirements other than surveys.
    """
    if "questions" not in config:
        return ""
    condition = config.get("activation_condition") or {"match": NOT_SET}
    if condition["match"] == ANY_ANSWER:
        return _("Every answer counts as applying the skill.")
    if condition["match"] == NOT_SET:
        return _("Activation condition not set: every answer counts until the course team says which answers "
                 "mean the skill was applied.")
    texts = {question["id"]: question["text"] for question in config["questions"]}
    parts = [_term_text(term, texts[term["question"]]) for term in condition["answers"]]
    joined = (_(" and ") if condition["match"] == "all" else _(" or ")).join(parts)
    return _("It counts as applying the skill when {parts}.").format(parts=joined)


def _term_text(term, question):
    """One part of the condition, as a clause of the sentence ``describe_condition`` builds."""
    if "options" in term:
        return _("“{question}” is answered {options}").format(
            question=question, options=_(" or ").join(f"“{option}”" for option in term["options"]))
    low, high = term.get("at_least"), term.get("at_most")
    if low is not None and high is not None:
        return _("“{question}” is answered between {low} and {high}").format(question=question, low=_g(low),
                                                                             high=_g(high))
    if low is not None:
        return _("“{question}” is answered {low} or more").format(question=question, low=_g(low))
    return _("“{question}” is answered {high} or less").format(question=question, high=_g(high))


def _g(number):
    return f"{number:g}"


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
    label, unit = _text(config, "label", required=False), _text(config, "unit", required=False)
    if len(label) > METRIC_LABEL_CHARS or len(unit) > METRIC_UNIT_CHARS:
        _fail(_("A metric's 'label' is at most {label} characters and its 'unit' at most {unit}.").format(
            label=METRIC_LABEL_CHARS, unit=METRIC_UNIT_CHARS), "label" if len(label) > METRIC_LABEL_CHARS else "unit")
    return {"metric": metric, "threshold": float(threshold), "direction": direction,
            "relative": relative, "baseline_days": baseline_days, "period_days": period_days,
            "min_observations": min_observations, "label": label, "unit": unit}


def metric_name(config):
    """
    What people read for a metric requirement's KPI: the instructor's ``label`` or, without one (and in
    configs stored before labels existed), the source's key with its underscores as spaces.
    """
    return config.get("label") or config["metric"].replace("_", " ")


def metric_name_with_unit(config):
    """``metric_name`` with the ``unit`` in brackets where one is set: "Handle time (seconds)"."""
    unit = config.get("unit")
    return f"{metric_name(config)} ({unit})" if unit else metric_name(config)


VALIDATORS = {"project": _project, "survey": _survey, "observation": _observation, "metric": _metric}


def validate_config(kind, config, *, carried_over=False):
    """
    The normalised config for a requirement of ``kind``; raises ActivationRequestError if invalid.
    ``carried_over``: the config is a stored requirement's, copied (a new version), so a survey may keep
    the ``not_set`` condition its instructor has not replaced yet; anything new must say which answers count.
    """
    if kind not in VALIDATORS:
        raise ActivationRequestError(_("Unknown evidence kind {kind}.").format(kind=repr(kind)), field="kind")
    if not isinstance(config, dict):
        _fail(_("The configuration must be an object."))
    cleaned = VALIDATORS[kind](config)
    if not carried_over and not condition_set(cleaned):
        _fail(_("Say which answers mean the learner applied it: write an activation condition on the questions, "
                "or choose that every answer counts."), "activation_condition")
    return cleaned


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
