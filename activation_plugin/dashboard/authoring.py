"""
Instructors' configuration pages: create, edit, preview, activate, archive and version a
definition. Thin: forms parse, ``api`` validates and writes, and its errors are shown on the page.
"""
import functools
from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from activation_plugin import api, platform, prompts
from activation_plugin.api import definitions, plans
from activation_plugin.dashboard import authoring_forms, presentation, requirement_templates
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.learner.views import requirement_rows
from activation_plugin.views_common import configurable_or_403, definition_or_404, may_configure, staff_course_key


def definition_url(course_key, definition):
    return reverse("activation_plugin:definition",
                   kwargs={"course_id": str(course_key), "definition_id": definition.pk})


def _show_api_error(form, formset_errors, exc):
    """An api refusal goes next to the field it names, or above the requirements it concerns."""
    if exc.field in form.fields and not form.fields[exc.field].disabled:
        form.add_error(exc.field, str(exc))
    else:
        formset_errors.append(str(exc))


def _error_summary(form, formset):
    """Every refused field, each linking to its input: after a failed save the page opens on this list."""
    summary = [(field.label, error, field.auto_id) for field in form if field.errors for error in field.errors]
    for number, requirement in enumerate(formset.forms, start=1):
        for field in requirement:
            summary += [(_("Requirement {number}: {label}").format(number=number, label=field.label), error,
                         field.auto_id) for error in field.errors]
        summary += [(_("Requirement {number}").format(number=number), error, f"{requirement.prefix}-legend")
                    for error in requirement.non_field_errors()]
    return summary


def _render_form(request, course_key, form, formset, definition=None, *, errors=(), locked=False, status=200):
    return render(request, "activation_plugin/definition_form.html", {
        "unset_surveys": api.surveys_without_condition(definition) if definition else [],
        "course_key": course_key, "course_title": platform.course_title(course_key), "definition": definition,
        "form": form, "formset": formset, "requirement_errors": errors, "locked": locked,
        "locked_fields": [form.fields[name].label for name in api.HISTORY_FIELDS],
        "kind_fields": authoring_forms.KIND_FIELDS, "shown_when": authoring_forms.SHOWN_WHEN_ATTRIBUTES,
        "requirement_templates": [(name, label) for name, (label, _spec) in requirement_templates.TEMPLATES.items()],
        "known_metrics": api.known_metrics(),
        "show_errors": status == 400, "error_summary": _error_summary(form, formset) if status == 400 else (),
    }, status=status)


def _stored_requirements(definition):
    """The formset showing what is stored (nothing for a new definition)."""
    specs = api.requirement_specs(definition) if definition else []
    return authoring_forms.requirement_formset(initial=[authoring_forms.requirement_initial(spec) for spec in specs])


@login_required
def definition_form(request, course_id, definition_id=None):
    """
    One page for a new definition and for editing one. Once learners have windows, history fields
    and requirements are shown but disabled: changing them means a new version.
    """
    course_key = staff_course_key(request, course_id)
    definition = definition_or_404(course_key, definition_id) if definition_id else None
    configurable_or_403(request.user, course_key, definition)
    locked = definition is not None and definition.has_windows
    if request.method != "POST":
        fields = authoring_forms.DefinitionForm.base_fields  # pylint: disable=no-member  # set by the form metaclass
        initial = {name: getattr(definition, name) for name in fields} if definition else None
        return _render_form(request, course_key, authoring_forms.DefinitionForm(initial=initial, locked=locked),
                            _stored_requirements(definition), definition, locked=locked)

    initial = {name: getattr(definition, name) for name in api.HISTORY_FIELDS} if locked else None
    form = authoring_forms.DefinitionForm(request.POST, initial=initial, locked=locked)
    if locked:  # the page shows the stored requirements, disabled; nothing posted about them is used
        formset = _stored_requirements(definition)
    else:
        formset = authoring_forms.requirement_formset(request.POST, add=request.POST.get("add_requirement"))
    if "add_requirement" in request.POST or "add_row" in request.POST:
        return _render_form(request, course_key, form, formset, definition, locked=locked)
    if not form.is_valid() or not (locked or formset.is_valid()):
        return _render_form(request, course_key, form, formset, definition, locked=locked, status=400)
    requirements = None if locked else authoring_forms.requirement_specs(formset)
    errors = []
    try:
        if definition is None:
            definition = definitions.create_definition(course_key=course_key, requirements=requirements,
                                                       created_by=request.user, **form.changes())
        else:
            api.revise_definition(definition, requirements=requirements, **form.changes())
    except ActivationRequestError as exc:
        _show_api_error(form, errors, exc)
        return _render_form(request, course_key, form, formset, definition, errors=errors, locked=locked, status=400)
    messages.success(request, _("The definition was saved."))
    return redirect(definition_url(course_key, definition))


ROI_INPUTS = ("value_per_activation", "value_per_activation_high", "programme_cost", "programme_cost_high", "roi_of",
              "counterfactual_share")


def _roi(request, definition):
    """The ROI calculator's inputs from the query string, its result, and any error to show."""
    inputs = {name: request.GET.get(name, "").strip() for name in ROI_INPUTS}
    try:
        amounts = api.roi_amounts(request.GET)
        return inputs, (api.roi(definition, *amounts) if amounts else None), None
    except ActivationRequestError as exc:
        return inputs, None, str(exc)


PLAN_INPUTS = ("plan_intake", "plan_baseline", "plan_hoped")


def _percent(text, field):
    try:
        return float(text) / 100
    except ValueError as exc:
        raise ActivationRequestError(_("Enter a number."), field=field) from exc


def _planning(request, definition):
    """The planning calculator's inputs (rates in %), its result, and any error to show."""
    inputs = {name: request.GET.get(name, "").strip() for name in PLAN_INPUTS}
    if not (inputs["plan_intake"] and inputs["plan_baseline"]):
        return inputs, None, None
    try:
        if not inputs["plan_intake"].isdigit():
            raise ActivationRequestError(_("Enter the number of completers you expect, at least 2."),
                                         field="expected_intake")
        plan = api.plan_comparison(
            definition, expected_intake=int(inputs["plan_intake"]),
            baseline_rate=_percent(inputs["plan_baseline"], "baseline_rate"),
            hoped_rate=_percent(inputs["plan_hoped"], "hoped_rate") if inputs["plan_hoped"] else None)
        return inputs, plan, None
    except ActivationRequestError as exc:
        return inputs, None, str(exc)


@login_required
def definition_page(request, course_id, definition_id):
    """One definition: every figure, what it asks of learners, and what can be done with it."""
    course_key = staff_course_key(request, course_id)
    definition = definition_or_404(course_key, definition_id)
    roi_inputs, roi, roi_error = _roi(request, definition)
    plan_inputs, planning, plan_error = _planning(request, definition)
    figures = api.page_figures(definition, visible_runs=api.runs_seen_by(request.user, course_key))
    return render(request, "activation_plugin/definition.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "definition": definition,
        "locked": definition.has_windows, "may_configure": may_configure(request.user, course_key, definition),
        "superseded": api.superseded_by(definition) if definition.status == "draft" else [],
        "requirements": definition.requirements.all(),
        "unset_surveys": api.surveys_without_condition(definition), "condition_matches": CONDITION_CHOICES,
        "roi_inputs": roi_inputs, "roi": roi, "roi_error": roi_error,
        "plan_inputs": plan_inputs, "planning": planning, "plan_error": plan_error,
        "plan": api.plan_status(definition, figures["summary"].get("eligible")),
        "primary_figures": {figure: PRIMARY_FIGURE_LABELS[figure] for figure in api.PRIMARY_FIGURES},
        "plan_designs": PLAN_DESIGNS,
        "backfilled": api.windows_from_before_activation(definition) if definition.backfilled_at else 0,
        "sends_prompts": any(requirement.prompts.exists() for requirement in definition.requirements.all()),
        **presentation.page_context(figures, definition),
    })


# The figure a plan names, in the plan form's and the registered plan's words (api.PRIMARY_FIGURES' order).
PRIMARY_FIGURE_LABELS = {
    "holdout_difference": gettext_lazy("Prompted minus holdout activation rate"),
    "run_difference": gettext_lazy("Latest run minus previous run activation rate"),
    "rate": gettext_lazy("Activation rate of the windows that have ended"),
    "km_rate": gettext_lazy("Share activated by the window's last day (Kaplan–Meier estimate)"),
    "course_effect": gettext_lazy("The course's effect on a KPI (completers against colleagues)"),
}
# What each registered design isolates, in the words the plan form and the registered plan show.
PLAN_DESIGNS = {
    "follow_up_holdout": gettext_lazy("Holdout: the follow-up's effect (randomised; not the course's)"),
    "course_untrained": gettext_lazy("Colleagues who never took the course: the course's effect (observational)"),
    "course_waitlist": gettext_lazy("Wait-listed colleagues drawn at random: the course's effect (randomised)"),
    "runs": gettext_lazy("One course run against the next (observational)"),
    "single_group": gettext_lazy("One group, no comparison"),
}


def _configurable(request, course_id, definition_id):
    """The run and a definition covering it that the caller may change (404 or 403 otherwise)."""
    course_key = staff_course_key(request, course_id)
    definition = definition_or_404(course_key, definition_id)
    configurable_or_403(request.user, course_key, definition)
    return course_key, definition


CONDITION_CHOICES = [choice for choice in authoring_forms.CONDITION_MATCHES if choice[0]]


@login_required
@require_POST
def set_condition(request, course_id, definition_id, requirement_id):
    """
    A survey that predates activation conditions gets one from the definition page, windows or not:
    what the instructor answers to migration 0015's question (docs/decisions/0010).
    """
    course_key, definition = _configurable(request, course_id, definition_id)
    try:
        requirement = api.requirement_in_definition(definition, requirement_id)
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc
    try:
        condition = authoring_forms.posted_condition(request.POST, requirement.config.get("questions", []))
        result = api.set_activation_condition(requirement, condition)
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The activation condition of “{title}” is set. Of the {responses} answers already "
                                    "given, {not_counted} no longer count as applying the skill; {windows} windows "
                                    "changed state.").format(title=requirement.title, **result))
    return redirect(definition_url(course_key, definition) + "#requirements")


@login_required
@require_POST
def register_plan(request, course_id, definition_id):
    """Pre-register the comparison: once, by those who configure the definition."""
    course_key, definition = _configurable(request, course_id, definition_id)
    try:
        end_date = date.fromisoformat(request.POST.get("end_date", ""))
    except ValueError:
        messages.error(request, _("Enter the date the result will be read, today or later."))
        return redirect(definition_url(course_key, definition) + "#plan")
    try:
        plans.register_plan(definition, hypothesis=request.POST.get("hypothesis", ""),
                            primary_figure=request.POST.get("primary_figure"),
                            design=request.POST.get("design") or None,
                            sample_size=int(request.POST["sample_size"]) if request.POST.get(
                                "sample_size", "").isdigit() else None,
                            end_date=end_date, registered_by=request.user)
        messages.success(request, _("The plan is registered: it can no longer change."))
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    return redirect(definition_url(course_key, definition) + "#plan")


STATUS_ACTIONS = {
    "backfill": (api.request_backfill,
                 gettext_lazy("Opening windows for past completers: this page says how many opened once it is "
                              "done (reload it in a minute); the figures include them as they open.")),
    "activate": (definitions.activate_definition,
                 gettext_lazy("The definition is active: completers now get a window.")),
    "archive": (definitions.archive_definition,
                gettext_lazy("The definition is archived: no new windows open; open ones run to their end.")),
}


@login_required
@require_POST
def change_status(request, course_id, definition_id):
    """
    The definition page's lifecycle buttons. Every outcome, a refusal included, comes back as a message
    on that page rather than an error page.
    """
    course_key, definition = _configurable(request, course_id, definition_id)
    action = request.POST.get("action")
    try:
        if action == "new_version":
            copy = api.new_version(definition, created_by=request.user)
            messages.success(request, _("A new draft version was created. Activating it archives this one."))
            return redirect(reverse("activation_plugin:definition_edit",
                                    kwargs={"course_id": str(course_key), "definition_id": copy.pk}))
        if action not in STATUS_ACTIONS:
            raise ActivationRequestError(_("Unknown action."), field="action")
        change, done = STATUS_ACTIONS[action]
        if action == "activate":
            # Confirmed only for the definitions the page named when the instructor clicked (ADR 0012).
            warned = set(request.POST.getlist("supersede"))
            change = functools.partial(change, supersede=all(
                str(other.pk) in warned for other in api.superseded_by(definition)))
        definition = change(definition) or definition
        messages.success(request, done)
        if action == "activate" and definition.backfilled_at is None:
            messages.info(request, _("Learners completed this course before the definition was active and have no "
                                     "window yet: you can open theirs below."))
    except ActivationRequestError as exc:
        messages.error(request, str(exc))
    return redirect(definition_url(course_key, definition))


def _sample_values(course_key, definition, language):
    """What a preview fills the placeholders with: this course's real values, a made-up learner."""
    learner_page = reverse("activation_plugin:learner", kwargs={"course_id": str(course_key)})
    root = getattr(settings, "LMS_ROOT_URL", "")
    return {
        "learner_name": _("Alex Example"),
        "course_name": platform.course_title(course_key),
        "deadline": prompts.local_date(timezone.now() + timedelta(days=definition.window_days), language),
        "link": f"{root}{learner_page}",
        "behavior": definition.behavior,
        # Shaped like each learner's own link, which is personal (signed): this one opts nobody out.
        "opt_out_link": f"{root}{reverse('activation_plugin:opt_out', kwargs={'token': 'preview'})}",
    }


def _preview_email(prompt, requirement, values, language):
    """One prompt's mail with both its parts, as ``api.messaging`` sends it (the same button, the same layout)."""
    subject, body, footer = prompts.compose_parts(prompt, values, language)
    with translation.override(language):
        action = (_("Show how you applied it"), values["link"])
    text, html = platform.render_email(subject=subject, body=body, language=language, footer=footer, action=action)
    return {"prompt": prompt, "requirement": requirement, "subject": subject, "text": text, "html": html}


@login_required
def preview(request, course_id, definition_id):
    """The learner page and every prompt email as a completer would see them, before any exist."""
    course_key = staff_course_key(request, course_id)
    definition = definition_or_404(course_key, definition_id)
    language = request.GET.get("language") or get_language()
    values = _sample_values(course_key, definition, language)
    emails = [_preview_email(prompt, requirement, values, language)
              for requirement in definition.requirements.all() for prompt in requirement.prompts.all()]
    return render(request, "activation_plugin/preview.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "definition": definition,
        "rows": requirement_rows(definition.requirements.all()), "emails": emails, "language": language,
        "likert_scale": range(1, 6),
    })


@login_required
def success_cases(request, course_id, definition_id):
    """The learners worth interviewing at both extremes (Brinkerhoff), this run's only, consent respected."""
    course_key = staff_course_key(request, course_id)
    definition = definition_or_404(course_key, definition_id)
    return render(request, "activation_plugin/success_cases.html", {
        "course_key": course_key, "course_title": platform.course_title(course_key), "definition": definition,
        **api.success_cases(definition, course_key),
    })
