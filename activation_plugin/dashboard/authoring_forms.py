"""
The configuration page's forms: they turn what an instructor types into the specs
``api.create_definition`` takes, and specs back into what the page shows.

Only the shape of the input is checked here (numbers are numbers, a line has its parts); what the
values mean is the api's job, so the rules live in one place and the REST API gets the same ones.
Each requirement kind has its own fields; the page shows only the chosen kind's fields when
JavaScript runs and all of them, labelled by kind, when it does not.
"""
from django import forms
from django.utils.translation import gettext_lazy as _

from activation_plugin.api.definitions import HISTORY_FIELDS, MAX_HOLDOUT_PERCENT
from activation_plugin.models import ActivationDefinition, EvidenceRequirement, FollowUpPrompt

LINE_SEPARATOR = "|"
OPTION_SEPARATOR = ";"
OPTIONAL_MARK = "?"
# Which fields belong to which kind of requirement (the rest are shared).
KIND_FIELDS = {
    "project": ("instructions", "rubric", "peer_rule", "pass_ratio"),
    "survey": ("questions",),
    "observation": ("checklist", "min_observed"),
    "metric": ("metric", "direction", "threshold", "relative", "baseline_days", "period_days", "min_observations"),
}


def _textarea(rows=3):
    return forms.Textarea(attrs={"rows": rows})


class DefinitionForm(forms.Form):
    """The definition's own fields; history fields are disabled once learners have windows."""

    name = forms.CharField(label=_("Name"), max_length=255)
    behavior = forms.CharField(label=_("Behaviour learners should apply on the job"), widget=_textarea())
    trigger = forms.ChoiceField(label=_("The window opens when"), choices=ActivationDefinition.Trigger.choices)
    window_days = forms.IntegerField(label=_("Window (days after completion)"), min_value=1)
    rule = forms.ChoiceField(label=_("A learner activates with"), choices=ActivationDefinition.Rule.choices)
    rule_count = forms.IntegerField(label=_("k (for “at least k”)"), min_value=1, required=False)
    holdout_percent = forms.IntegerField(
        # xgettext:no-python-format
        label=_("Holdout (% of completers who get no prompts, for comparison)"), min_value=0,
        max_value=MAX_HOLDOUT_PERCENT, initial=0,
    )

    def __init__(self, *args, locked=False, **kwargs):
        super().__init__(*args, **kwargs)
        if locked:
            for name in HISTORY_FIELDS:
                self.fields[name].disabled = True

    def changes(self):
        """The fields to save: disabled ones never reach the api, so a forged POST cannot change them."""
        return {name: value for name, value in self.cleaned_data.items() if not self.fields[name].disabled}


def _parse_lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_rubric(text):
    """``criterion | max score`` per line (the score defaults to 1)."""
    rubric = []
    for number, line in enumerate(_parse_lines(text), start=1):
        criterion, _sep, score = (part.strip() for part in line.partition(LINE_SEPARATOR))
        try:
            rubric.append({"criterion": criterion, "max_score": int(score) if score else 1})
        except ValueError as exc:
            raise forms.ValidationError(
                _("Rubric line %(number)s: the maximum score must be a whole number."), params={"number": number},
            ) from exc
    return rubric


def format_rubric(rubric):
    return "\n".join(f"{item['criterion']} {LINE_SEPARATOR} {item['max_score']}" for item in rubric)


def parse_questions(text):
    """
    ``type | question | option; option`` per line; a type ending in ``?`` makes the question
    optional. Ids are given by position, which is safe because questions lock with the definition.
    """
    questions = []
    for number, line in enumerate(_parse_lines(text), start=1):
        parts = [part.strip() for part in line.split(LINE_SEPARATOR)]
        if len(parts) < 2:
            raise forms.ValidationError(
                _("Question line %(number)s: write “type | question”, for example “likert | How confident are you?”."),
                params={"number": number},
            )
        qtype, question_text = parts[0], parts[1]
        question = {"id": f"q{number}", "type": qtype.rstrip(OPTIONAL_MARK).strip(), "text": question_text,
                    "required": not qtype.endswith(OPTIONAL_MARK)}
        if len(parts) > 2:
            question["options"] = [option.strip() for option in parts[2].split(OPTION_SEPARATOR) if option.strip()]
        questions.append(question)
    return questions


def format_questions(questions):
    lines = []
    for question in questions:
        parts = [question["type"] + ("" if question.get("required", True) else OPTIONAL_MARK), question["text"]]
        if question.get("options"):
            parts.append(f"{OPTION_SEPARATOR} ".join(question["options"]))
        lines.append(f" {LINE_SEPARATOR} ".join(parts))
    return "\n".join(lines)


def parse_days(text):
    try:
        return [int(day) for day in (text or "").replace(";", ",").split(",") if day.strip()]
    except ValueError as exc:
        raise forms.ValidationError(_("Reminder days must be whole numbers separated by commas.")) from exc


class RequirementForm(forms.Form):
    """One evidence requirement with its kind's configuration and one prompt with its reminders."""

    # Every choice has an initial value, so a blank form the page adds and nobody fills is "unchanged" and skipped.
    kind = forms.ChoiceField(label=_("Evidence"), choices=EvidenceRequirement.Kind.choices, initial="project")
    title = forms.CharField(label=_("Title"), max_length=255)
    verification = forms.ChoiceField(label=_("Verified by"), choices=EvidenceRequirement.Verification.choices,
                                     initial="none")
    reviews_required = forms.IntegerField(label=_("Reviews required"), min_value=1, max_value=10, initial=1)

    instructions = forms.CharField(label=_("Project instructions"), widget=_textarea(), required=False)
    rubric = forms.CharField(label=_("Rubric: one criterion per line, “criterion | max score”"),
                             widget=_textarea(), required=False)
    peer_rule = forms.ChoiceField(label=_("Peer reviews decide by"), required=False, initial="majority",
                                  choices=[("majority", _("Majority verdict")), ("mean_score", _("Mean rubric score"))])
    pass_ratio = forms.FloatField(label=_("Share of rubric points to pass"), min_value=0, max_value=1,
                                  required=False, initial=0.6)

    questions = forms.CharField(
        label=_("Questions: one per line, “type | question | option; option”; types: single_choice, "
                "multiple_choice, likert, number, text; end the type with ? to make it optional"),
        widget=_textarea(4), required=False,
    )

    checklist = forms.CharField(label=_("Behaviours the supervisor checks: one per line"), widget=_textarea(),
                                required=False)
    min_observed = forms.IntegerField(label=_("Behaviours that must be observed"), min_value=1, required=False)

    metric = forms.CharField(label=_("KPI metric name"), max_length=100, required=False)
    direction = forms.ChoiceField(label=_("Better is"), required=False, initial="higher",
                                  choices=[("higher", _("Higher")), ("lower", _("Lower"))])
    threshold = forms.FloatField(label=_("Threshold"), required=False)
    relative = forms.BooleanField(
        # xgettext:no-python-format
        label=_("Threshold is a relative change from the learner's own baseline (−0.1 = 10 % lower)"), required=False)
    baseline_days = forms.IntegerField(label=_("Baseline: days before completion"), min_value=1, required=False,
                                       initial=30)
    period_days = forms.IntegerField(
        label=_("Measured over the first days of the window (empty: the whole window so far)"), min_value=1,
        required=False)
    min_observations = forms.IntegerField(label=_("KPI values needed in that period"), min_value=1, required=False,
                                          initial=1)

    prompt_condition = forms.ChoiceField(label=_("Send the prompt"), choices=FollowUpPrompt.Condition.choices,
                                         required=False, initial="always")
    prompt_day = forms.IntegerField(label=_("Prompt on day"), min_value=0, required=False, initial=0)
    reminder_days = forms.CharField(label=_("Reminders on days (comma-separated)"), required=False)
    subject = forms.CharField(label=_("Prompt subject"), max_length=255, required=False)
    body = forms.CharField(
        label=_("Prompt body: {learner_name}, {course_name}, {deadline}, {link} and {behavior} are filled in"),
        widget=_textarea(5), required=False,
    )

    def clean_rubric(self):
        return parse_rubric(self.cleaned_data["rubric"])

    def clean_questions(self):
        return parse_questions(self.cleaned_data["questions"])

    def clean_reminder_days(self):
        return parse_days(self.cleaned_data["reminder_days"])

    def spec(self):
        """The requirement spec for the api, with only the chosen kind's configuration."""
        data = self.cleaned_data
        kind = data["kind"]
        config = {name: data[name] for name in KIND_FIELDS[kind] if data.get(name) not in (None, "")}
        if kind == "observation":
            config["checklist"] = _parse_lines(data["checklist"])
        prompts = []
        if data["subject"] or data["body"]:
            prompts.append({"condition": data["prompt_condition"] or FollowUpPrompt.Condition.ALWAYS,
                            "send_after_days": data["prompt_day"] or 0, "reminder_days": data["reminder_days"],
                            "subject": data["subject"], "body": data["body"]})
        return {"kind": kind, "title": data["title"], "config": config, "verification": data["verification"],
                "reviews_required": data["reviews_required"], "prompts": prompts}


def requirement_initial(spec):
    """What a requirement form shows for a stored spec (its first prompt; the REST API edits more)."""
    config = spec["config"]
    initial = {"kind": spec["kind"], "title": spec["title"], "verification": spec["verification"],
               "reviews_required": spec["reviews_required"], **config,
               "rubric": format_rubric(config.get("rubric", [])),
               "questions": format_questions(config.get("questions", [])),
               "checklist": "\n".join(config.get("checklist", []))}
    if spec["prompts"]:
        prompt = spec["prompts"][0]
        initial.update(prompt_condition=prompt["condition"], prompt_day=prompt["send_after_days"],
                       reminder_days=", ".join(str(day) for day in prompt["reminder_days"]),
                       subject=prompt["subject"], body=prompt["body"])
    return initial


RequirementFormSet = forms.formset_factory(RequirementForm, extra=0, can_delete=True)
FORMSET_PREFIX = "requirements"


def _whole(raw):
    try:
        return max(int(raw), 0)
    except (TypeError, ValueError):
        return 0


def requirement_formset(data=None, initial=None, add_blank=False):
    """
    The requirements' formset. ``add_blank`` appends an empty requirement: the "add a requirement"
    button works without JavaScript by posting the page back with one more form.
    """
    if data is not None and add_blank:
        data = data.copy()
        key = f"{FORMSET_PREFIX}-TOTAL_FORMS"
        index = _whole(data.get(key))
        data[key] = str(index + 1)
        # The new form posts its defaults, so it counts as untouched (not as a form full of errors).
        for name, field in RequirementForm.base_fields.items():
            if field.initial is not None:
                data[f"{FORMSET_PREFIX}-{index}-{name}"] = str(field.initial)
        return RequirementFormSet(data=data, prefix=FORMSET_PREFIX)
    if data is not None:
        return RequirementFormSet(data=data, prefix=FORMSET_PREFIX)
    formset_class = forms.formset_factory(RequirementForm, extra=0 if initial else 1, can_delete=True)
    return formset_class(initial=initial, prefix=FORMSET_PREFIX)


def requirement_specs(formset):
    """Specs of the filled-in requirements, in page order; blank and deleted ones are left out."""
    return [form.spec() for form in formset.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")]
