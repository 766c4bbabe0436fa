"""Turn the learner page's POST data into the payloads ``api`` validates; no validation here."""


def _number(raw, convert):
    """A typed value, or the raw text when it does not convert, so the api can say what is wrong."""
    try:
        return convert(raw)
    except ValueError:
        return raw


def survey_answers(questions, post):
    """
    Each answer typed as the api expects: a list for multiple choice, numbers for likert and number
    questions (the raw text when it is not a number, for the api to refuse).
    """
    answers = {}
    for question in questions:
        field = f"q-{question['id']}"
        if question["type"] == "multiple_choice":
            answers[question["id"]] = post.getlist(field)
            continue
        raw = post.get(field, "").strip()
        if question["type"] == "likert" and raw:
            answers[question["id"]] = _number(raw, int)
        elif question["type"] == "number" and raw:
            answers[question["id"]] = _number(raw, float)
        else:
            answers[question["id"]] = raw
    return {"answers": answers}


def payload_for(requirement, post):
    if requirement.kind == "survey":
        return survey_answers(requirement.config["questions"], post)
    return {"url": post.get("url", ""), "text": post.get("text", "")}


def whole_number(raw):
    """A form field as an int, or the raw text for the api to refuse with its own message."""
    return _number(raw.strip(), int)
