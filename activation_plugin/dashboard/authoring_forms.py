"""
The configuration page's forms: they turn what an instructor types into the specs
``api.create_definition`` takes, and specs back into what the page shows.

Only the shape of the input is checked here (numbers are numbers, a row has its parts); what the
values mean is the api's job (``api.check_requirement``), so the rules live in one place, the REST
API gets the same ones and each refusal is shown next to the field it names. Each requirement kind
has its own fields; the page shows only the chosen kind's fields when JavaScript runs and all of
them, labelled by kind, when it does not. A survey's questions and a rubric's criteria are rows of
fields, posted as ``<requirement>-questions-<n>-<part>``: the page shows a blank row to fill, and
"Add a question" adds one (in the browser, or by posting the page back without JavaScript).
"""
from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from activation_plugin import api, configs
from activation_plugin.configs import SURVEY_QUESTION_TYPES
from activation_plugin.dashboard.requirement_templates import template_spec
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import ActivationDefinition, EvidenceRequirement, FollowUpPrompt

# Which fields belong to which kind of requirement (the rest are shared).
KIND_FIELDS = {
    "project": ("instructions", "rubric", "peer_rule", "pass_percent"),
    "survey": ("questions", "activation_match"),
    "observation": ("checklist", "min_observed"),
    "metric": ("metric", "label", "unit", "direction", "threshold", "relative", "baseline_days", "period_days",
               "min_observations"),
}
# A field that only matters for some values of another: ``{field: ((other field, (values…)), …)}``; the
# script hides it otherwise, and without the script it shows with its label saying when it applies.
SHOWN_WHEN = {
    "rule_count": (("rule", ("at_least",)),),
    "reviews_required": (("verification", ("peer",)),),
    "peer_rule": (("verification", ("peer",)),),
    "pass_percent": (("verification", ("peer",)), ("peer_rule", ("mean_score",))),
}
# The same, as the ``data-shown-when`` attribute the script reads: ``verification=peer;peer_rule=mean_score``.
SHOWN_WHEN_ATTRIBUTES = {name: ";".join(f"{other}={','.join(values)}" for other, values in conditions)
                         for name, conditions in SHOWN_WHEN.items()}
QUESTION_TYPE_LABELS = {
    "single_choice": _("One choice"), "multiple_choice": _("Several choices"),
    "likert": _("Scale from 1 to 5"), "number": _("Number"), "text": _("Text"),
}
CHOICE_TYPES = ("single_choice", "multiple_choice")
MAX_ROWS = 50


def _textarea(rows=3):
    return forms.Textarea(attrs={"rows": rows})


def _compact(number):
    """A percentage as people write it: 60, not 60.00000000000001 (floats from a stored ratio)."""
    number = round(number, 6)
    return int(number) if number == int(number) else number


class MarksInvalidFields(forms.Form):
    """
    Each refused field's input says so to screen readers (``aria-invalid``, pointing at its error),
    as Django 5 does on its own; Django 4.2, which Open edX releases still run, does not.
    """

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs.update({
                    "aria-invalid": "true", "aria-describedby": f"{self[name].auto_id}_error"})


class DefinitionForm(MarksInvalidFields):
    """The definition's own fields; history fields are disabled once learners have windows."""

    name = forms.CharField(label=_("Name"), max_length=255)
    behavior = forms.CharField(label=_("Behaviour learners should apply on the job"), widget=_textarea())
    trigger = forms.ChoiceField(label=_("The window opens when"),
                                choices=ActivationDefinition.Trigger.choices)
    window_days = forms.IntegerField(label=_("Window (days after completion)"), min_value=1)
    rule = forms.ChoiceField(label=_("A learner activates with"), choices=ActivationDefinition.Rule.choices)
    rule_count = forms.IntegerField(label=_("k (for “at least k”)"), min_value=1, required=False)
    holdout_percent = forms.IntegerField(
        # xgettext:no-python-format
        label=_("Holdout (% of completers who get no prompts, for comparison)"), min_value=0,
        max_value=api.MAX_HOLDOUT_PERCENT, initial=0,
    )

    def __init__(self, *args, locked=False, **kwargs):
        super().__init__(*args, **kwargs)
        if locked:
            for name in api.HISTORY_FIELDS:
                self.fields[name].disabled = True

    def changes(self):
        """The fields to save: disabled ones never reach the api, so a forged POST cannot change them."""
        return {name: value for name, value in self.cleaned_data.items() if not self.fields[name].disabled}


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@dataclass(frozen=True)
class RowList:
    """A list a requirement stores as rows of parts: a survey's questions, a rubric's criteria."""

    name: str
    parts: tuple  # the first part is the row's text: a row without it is blank and left out
    blank: dict  # what a blank row shows

    def posted(self, data, prefix):
        """The rows posted for the form ``prefix``, blank ones included, in page order."""
        rows = []
        for index in range(MAX_ROWS):
            keys = {part: f"{prefix}-{self.name}-{index}-{part}" for part in self.parts}
            if any(key in data for key in keys.values()):
                rows.append({"index": index, **{part: data.get(key, "") for part, key in keys.items()}})
        return rows


# A question's part of the activation condition: ``counts`` (options, one per line) for a choice,
# ``at_least``/``at_most`` for a scale or a number.
CONDITION_PARTS = ("counts", "at_least", "at_most")
QUESTIONS = RowList("questions", ("text", "type", "options", "optional", "remove", *CONDITION_PARTS),
                    {"text": "", "type": "text", "options": "", "optional": "", "remove": "", "counts": "",
                     "at_least": "", "at_most": ""})
CONDITION_MATCHES = [("", _("— Choose which answers count —")),
                     ("all", _("When the learner gives every answer marked “counts” below")),
                     ("any", _("When the learner gives at least one answer marked “counts” below")),
                     ("any_answer", _("Every answer counts, whatever the learner answers"))]
RUBRIC = RowList("rubric", ("criterion", "max_score", "remove"), {"criterion": "", "max_score": "1", "remove": ""})


def question_row(question, term=None):
    """A stored question as its row, with its part of the activation condition (``term``) if it has one."""
    term = term or {}
    return {"text": question["text"], "type": question["type"], "options": "\n".join(question.get("options", [])),
            "optional": "" if question.get("required", True) else "on", "remove": "",
            "counts": "\n".join(term.get("options", [])),
            **{bound: "" if term.get(bound) is None else f"{term[bound]:g}" for bound in ("at_least", "at_most")}}


def criterion_row(item):
    return {"criterion": item["criterion"], "max_score": str(item["max_score"]), "remove": ""}


def _filled(rows, text_part):
    return [row for row in rows if str(row[text_part]).strip() and not row.get("remove")]


def parse_question_rows(rows):
    """
    ``(questions, {row index: problem})``: the survey's questions, ids by position (safe: questions
    lock with the definition). A question whose row marks answers that count carries them as
    ``counts`` (``{"options": [...]}`` or bounds), which ``RequirementForm.spec`` turns into the condition.
    """
    questions, problems = [], {}
    for number, row in enumerate(_filled(rows, "text"), start=1):
        question = {"id": f"q{number}", "type": row["type"], "text": row["text"].strip(),
                    "required": not row.get("optional")}
        if row["type"] in CHOICE_TYPES:
            question["options"] = _lines(row["options"])
            if len(question["options"]) < 2:
                problems[row["index"]] = _("Question %(number)s: give at least two options, one per line.") % {
                    "number": number}
            if _lines(row.get("counts")):
                question["counts"] = {"options": _lines(row["counts"])}
        elif row["type"] in ("likert", "number"):
            try:
                bounds = {bound: float(row[bound]) for bound in ("at_least", "at_most")
                          if str(row.get(bound, "")).strip()}
            except ValueError:
                problems[row["index"]] = _("Question %(number)s: the answers that count are given as numbers.") % {
                    "number": number}
                bounds = {}
            if bounds:
                question["counts"] = {key: int(value) if value == int(value) else value
                                      for key, value in bounds.items()}
        questions.append(question)
    return questions, problems


def survey_config(questions, match):
    """
    The survey's config from its parsed questions and the chosen ``match``: the marked answers make
    the condition; with "every answer counts" none is kept. No choice leaves the condition out, for
    the api to refuse with its reason.
    """
    terms = [{"question": question["id"], **question["counts"]} for question in questions if "counts" in question]
    config = {"questions": [{key: value for key, value in question.items() if key != "counts"}
                            for question in questions]}
    if match in ("all", "any"):
        config["activation_condition"] = {"match": match, "answers": terms}
    elif match:
        config["activation_condition"] = {"match": match}
    return config


def parse_rubric_rows(rows):
    """``(criteria, {row index: problem})``; an empty maximum score is 1."""
    rubric, problems = [], {}
    for number, row in enumerate(_filled(rows, "criterion"), start=1):
        score = str(row["max_score"]).strip() or "1"
        if not score.isdigit() or int(score) < 1:
            problems[row["index"]] = _("Criterion %(number)s: the maximum score must be a whole number, 1 or "
                                       "more.") % {"number": number}
        rubric.append({"criterion": row["criterion"].strip(), "max_score": int(score) if score.isdigit() else 1})
    return rubric, problems


def posted_condition(data, questions):
    """
    The activation condition the definition page's form posts for a stored survey: ``match``, then per
    question its options that count (``<id>-counts``, checkboxes) or its bounds (``<id>-at_least``,
    ``<id>-at_most``). The api says what is wrong with it; only a bound that is not a number is refused here.
    """
    match = data.get("match", "")
    if match not in ("all", "any"):
        return {"match": match}
    answers = []
    for question in questions:
        if question["type"] in CHOICE_TYPES and data.getlist(f"{question['id']}-counts"):
            answers.append({"question": question["id"], "options": data.getlist(f"{question['id']}-counts")})
        elif question["type"] in ("likert", "number"):
            try:
                bounds = {bound: float(data[f"{question['id']}-{bound}"]) for bound in ("at_least", "at_most")
                          if data.get(f"{question['id']}-{bound}", "").strip()}
            except ValueError as exc:
                raise ActivationRequestError(_("Question '%(id)s': the answers that count are given as numbers.") % {
                    "id": question["id"]}, field="activation_condition") from exc
            if bounds:
                answers.append({"question": question["id"], **bounds})
    return {"match": match, "answers": answers}


def parse_days(text):
    try:
        return [int(day) for day in (text or "").replace(";", ",").split(",") if day.strip()]
    except ValueError as exc:
        raise forms.ValidationError(_("Reminder days must be whole numbers separated by commas.")) from exc


class RequirementForm(MarksInvalidFields):
    """One evidence requirement with its kind's configuration and one prompt with its reminders."""

    # Every choice has an initial value, so a blank form the page adds and nobody fills is "unchanged" and skipped.
    kind = forms.ChoiceField(label=_("Evidence"), choices=EvidenceRequirement.Kind.choices, initial="project")
    title = forms.CharField(label=_("Title"), max_length=255,
                            help_text=_("What learners see, e.g. “Applied project” or “Observed on the job”."))
    verification = forms.ChoiceField(label=_("Verified by"), choices=EvidenceRequirement.Verification.choices,
                                     initial="none")
    reviews_required = forms.IntegerField(label=_("Peer reviews required"), min_value=1, max_value=10, initial=1)

    instructions = forms.CharField(label=_("Project instructions"), widget=_textarea(), required=False)
    rubric = forms.Field(label=_("Rubric criteria"), required=False, widget=forms.HiddenInput)
    peer_rule = forms.ChoiceField(label=_("Peer reviews decide by"), required=False, initial="majority",
                                  choices=[("majority", _("Majority verdict")), ("mean_score", _("Mean rubric score"))])
    pass_percent = forms.FloatField(label=_("Rubric points needed to pass (%)"), min_value=1, max_value=100,
                                    required=False, initial=60)

    questions = forms.Field(label=_("Questions"), required=False, widget=forms.HiddenInput)
    activation_match = forms.ChoiceField(
        label=_("Activation condition: the survey counts as applying the skill"), choices=CONDITION_MATCHES,
        required=False, initial="",
        help_text=_("Mark on each question the answers that mean “applied it” (options, one per line, or the "
                    "lowest or highest number that counts). Other answers are kept as responses but do not "
                    "count as activation."))

    checklist = forms.CharField(label=_("Behaviours the supervisor checks: one per line"), widget=_textarea(),
                                required=False)
    min_observed = forms.IntegerField(label=_("Behaviours that must be observed"), min_value=1, required=False)

    metric = forms.CharField(label=_("KPI metric"), max_length=100, required=False,
                             widget=forms.TextInput(attrs={"list": "activation-known-metrics"}),
                             help_text=_("The name the KPI source sends; the metrics received so far are offered."))
    label = forms.CharField(label=_("The KPI's name for people (optional)"), required=False,
                            max_length=configs.METRIC_LABEL_CHARS, help_text=_("For example: Average handle time."))
    unit = forms.CharField(label=_("Its unit (optional)"), required=False, max_length=configs.METRIC_UNIT_CHARS,
                           help_text=_("For example: seconds, percent, euros."))
    direction = forms.ChoiceField(label=_("Better is"), required=False, initial="higher",
                                  choices=[("higher", _("Higher")), ("lower", _("Lower"))])
    threshold = forms.FloatField(
        label=_("Threshold"), required=False,
        # xgettext:no-python-format
        help_text=_("The value to reach; with “relative”, the change in % from the learner's own baseline "
                    "(−10 = 10 % lower)."))
    relative = forms.BooleanField(label=_("Relative to the learner's baseline"), required=False)
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
        label=_("Prompt body"), widget=_textarea(5), required=False,
        help_text=_("{learner_name}, {course_name}, {deadline}, {link} and {behavior} are filled in."))

    # Where an api refusal of a field not on this form is shown.
    API_FIELDS = {"config.pass_ratio": "pass_percent", "config.activation_condition": "activation_match",
                  "send_after_days": "prompt_day",
                  "condition": "prompt_condition", "translations": "body"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.row_errors = {}

    def _rows(self, row_list):
        """Rows as posted, or as stored, plus the blank row to fill (and one more per "add" asked for)."""
        if self.is_bound:
            rows = row_list.posted(self.data, self.prefix)
            wanted = 1 + (self.data.get("add_row") == f"{self.prefix}-{row_list.name}")
        else:
            rows = [{"index": index, **row} for index, row in enumerate(self.initial.get(row_list.name) or [])]
            wanted = 1
        blanks = sum(1 for row in rows if not str(row[row_list.parts[0]]).strip())
        next_index = max((row["index"] for row in rows), default=-1) + 1
        rows += [{"index": next_index + number, **row_list.blank} for number in range(max(wanted - blanks, 0))]
        errors = self.row_errors.get(row_list.name, {})
        return [{**row, "error": errors.get(row["index"]), "name": f"{self.prefix}-{row_list.name}-{row['index']}"}
                for row in rows]

    @property
    def question_rows(self):
        return self._rows(QUESTIONS)

    @property
    def rubric_rows(self):
        return self._rows(RUBRIC)

    question_types = [(value, QUESTION_TYPE_LABELS[value]) for value in SURVEY_QUESTION_TYPES]

    def has_changed(self):
        """A requirement whose only input is its rows (questions typed first) is not a blank form."""
        return super().has_changed() or any(
            _filled(row_list.posted(self.data, self.prefix), row_list.parts[0]) for row_list in (QUESTIONS, RUBRIC))

    def _clean_rows(self, row_list, parse):
        """The list the rows make; each faulty row is marked, and its problem shown above the rows."""
        items, problems = parse(row_list.posted(self.data, self.prefix))
        if problems:
            self.row_errors[row_list.name] = problems
            raise forms.ValidationError(list(problems.values()))
        return items

    def clean_rubric(self):
        return self._clean_rows(RUBRIC, parse_rubric_rows)

    def clean_questions(self):
        return self._clean_rows(QUESTIONS, parse_question_rows)

    def clean_reminder_days(self):
        return parse_days(self.cleaned_data["reminder_days"])

    def clean(self):
        """Ask the api whether it would save this requirement, and mark the field it refuses."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            api.check_requirement(self.spec())
        except ActivationRequestError as exc:
            self.add_error(self._form_field(exc.field), str(exc))
        return cleaned

    def _form_field(self, api_field):
        if api_field == "prompts":
            return "body" if self.cleaned_data.get("subject") else "subject"
        name = self.API_FIELDS.get(api_field, api_field.removeprefix("config."))
        return name if name in self.fields else None

    def spec(self):
        """The requirement spec for the api, with only the chosen kind's configuration."""
        data = self.cleaned_data
        kind = data["kind"]
        config = {name: data[name] for name in KIND_FIELDS[kind] if data.get(name) not in (None, "", [])}
        if "pass_percent" in config:
            config["pass_ratio"] = config.pop("pass_percent") / 100
        if kind == "observation":
            config["checklist"] = _lines(data["checklist"])
        if kind == "survey":
            config = survey_config(data.get("questions") or [], data.get("activation_match"))
        if kind == "metric" and data["relative"] and data["threshold"] is not None:
            config["threshold"] = data["threshold"] / 100
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
    condition = config.get("activation_condition") or {}
    terms = {term["question"]: term for term in condition.get("answers", [])}
    initial = {"kind": spec["kind"], "title": spec["title"], "verification": spec["verification"],
               "reviews_required": spec["reviews_required"], **config,
               "rubric": [criterion_row(item) for item in config.get("rubric", [])],
               "questions": [question_row(question, terms.get(question["id"]))
                             for question in config.get("questions", [])],
               "checklist": "\n".join(config.get("checklist", []))}
    initial.pop("activation_condition", None)
    # A survey from before conditions (not_set) shows no choice: saving it asks the instructor for one.
    if condition.get("match") in ("all", "any", "any_answer"):
        initial["activation_match"] = condition["match"]
    initial.pop("pass_ratio", None)
    if "pass_ratio" in config:
        initial["pass_percent"] = _compact(config["pass_ratio"] * 100)
    if config.get("relative") and config.get("threshold") is not None:
        initial["threshold"] = _compact(config["threshold"] * 100)
    if spec["prompts"]:
        prompt = spec["prompts"][0]
        initial.update(prompt_condition=prompt["condition"], prompt_day=prompt["send_after_days"],
                       reminder_days=", ".join(str(day) for day in prompt["reminder_days"]),
                       subject=prompt["subject"], body=prompt["body"])
    return initial


def posted_requirement(prefix, initial):
    """``initial`` as the browser would post it for the form ``prefix``: how a template joins a posted page."""
    data = {}
    for name, field in RequirementForm.base_fields.items():  # pylint: disable=no-member  # set by the form metaclass
        value = initial.get(name, field.initial)
        if isinstance(field, forms.BooleanField):
            if value:
                data[f"{prefix}-{name}"] = "on"
        elif name not in (QUESTIONS.name, RUBRIC.name):
            data[f"{prefix}-{name}"] = "" if value is None else str(value)
    for row_list in (QUESTIONS, RUBRIC):
        for index, row in enumerate(initial.get(row_list.name) or []):
            data |= {f"{prefix}-{row_list.name}-{index}-{part}": row[part] for part in row_list.parts}
    return data


def _requirement_formset_class(extra):
    """
    Bounded before any form is built: Django builds as many forms as ``TOTAL_FORMS`` says, up to
    ``absolute_max`` (2,000 by default), and a posted 999999999 cost a minute per request.
    """
    return forms.formset_factory(RequirementForm, extra=extra, can_delete=True, max_num=api.MAX_REQUIREMENTS,
                                 absolute_max=api.MAX_REQUIREMENTS, validate_max=True)


RequirementFormSet = _requirement_formset_class(extra=0)
FORMSET_PREFIX = "requirements"


def _whole(raw):
    try:
        return max(int(raw), 0)
    except (TypeError, ValueError):
        return 0


def requirement_formset(data=None, initial=None, add=None):
    """
    The requirements' formset. ``add`` appends a requirement (a template's name, or anything else
    for a blank one): the "add a requirement" buttons work without JavaScript by posting the page
    back with one more form. A blank one posts its defaults, so it counts as untouched.
    """
    if data is not None and add is not None:
        data = data.copy()
        key = f"{FORMSET_PREFIX}-TOTAL_FORMS"
        index = min(_whole(data.get(key)), api.MAX_REQUIREMENTS)
        data[key] = str(index + 1)
        spec = template_spec(add)
        data.update(posted_requirement(f"{FORMSET_PREFIX}-{index}", requirement_initial(spec) if spec else {}))
        return RequirementFormSet(data=data, prefix=FORMSET_PREFIX)
    if data is not None:
        return RequirementFormSet(data=data, prefix=FORMSET_PREFIX)
    return _requirement_formset_class(extra=0 if initial else 1)(initial=initial, prefix=FORMSET_PREFIX)


def requirement_specs(formset):
    """Specs of the filled-in requirements, in page order; blank and deleted ones are left out."""
    return [form.spec() for form in formset.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")]
