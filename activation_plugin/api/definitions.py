"""Definitions: what counts as activation in a course, authored by instructors."""
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import configs, figures, platform, rules
from activation_plugin.api.backfill import has_past_completers
from activation_plugin.errors import (
    ActivationRequestError,
    DefinitionLocked,
    NotAllowed,
    OtherDefinitionActive,
)
from activation_plugin.keys import catalog_course, is_ccx, parse_course_key
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    EvidenceRequirement,
    FollowUpPrompt,
)

MAX_HOLDOUT_PERCENT = 50
# More than a learner could be asked to show; it also bounds what one request makes the builder build.
MAX_REQUIREMENTS = 20
# Fields whose change would silently rewrite the history of windows already opened.
HISTORY_FIELDS = ("trigger", "window_days", "rule", "rule_count", "holdout_percent")
EDITABLE_FIELDS = ("name", "behavior", *HISTORY_FIELDS)


def check_may_configure(user, course_key, definition=None):
    """
    Refuse ``user`` creating a definition in the run ``course_key``, or changing ``definition``
    (edit, version, activate, archive, backfill), unless they hold a role on the run that owns it.

    A definition covers every run of its catalog course and their CCXs, so it is configured by the
    team of the run it was authored in: its course staff and instructors, and in the LMS the org's
    staff and instructors and global staff, whose roles cover every run. Staff of another run and
    CCX coaches, whose roles are on their run only, read it and its aggregate figures, and see
    their own run's learners. A CCX authors none: it follows its master course's definitions.
    (docs/decisions/0004-access-per-run.rst)

    Raises:
        NotAllowed: says whose role it takes.
    """
    owner = definition.course_key if definition is not None else parse_course_key(course_key)
    if is_ccx(owner):
        raise _ccx_authors_none()
    if not platform.is_course_staff(user, owner):
        raise NotAllowed(_("This definition is configured by the course team of {run}, where it was created. "
                           "You can read it and its figures here.").format(run=owner), field="definition")


def _ccx_authors_none():
    return NotAllowed(_("A CCX follows the definitions of its master course: they are configured there."),
                      field="course_key")


def _validate_definition_fields(fields, requirement_count):
    """
    The checks create and update share; each refusal names its field, so the form and a REST client can
    point at it.
    """
    if "name" in fields and not str(fields["name"]).strip():
        raise ActivationRequestError(_("Give the definition a name."), field="name")
    if "behavior" in fields and not str(fields["behavior"]).strip():
        raise ActivationRequestError(_("Describe the behaviour learners should apply."), field="behavior")
    if fields.get("trigger") not in ActivationDefinition.Trigger.values:
        raise ActivationRequestError(_("The trigger must be 'passing' or 'certificate'."), field="trigger")
    window_days, max_days = fields.get("window_days"), settings.ACTIVATION_MAX_WINDOW_DAYS
    if not isinstance(window_days, int) or isinstance(window_days, bool) or not 1 <= window_days <= max_days:
        raise ActivationRequestError(_("The window must be between 1 and {max_days} days.").format(max_days=max_days),
                                     field="window_days")
    holdout = fields.get("holdout_percent")
    if not isinstance(holdout, int) or isinstance(holdout, bool) or not 0 <= holdout <= MAX_HOLDOUT_PERCENT:
        raise ActivationRequestError(
            _("The holdout must be a whole percentage between 0 and {max_percent}.").format(
                max_percent=MAX_HOLDOUT_PERCENT), field="holdout_percent",
        )
    problem = rules.rule_problem(fields.get("rule"), fields.get("rule_count"), requirement_count)
    if problem:
        raise ActivationRequestError(problem, field="rule")


def _requirement_from_spec(definition, spec, position, carried_over=False):
    """
    Unsaved, so that ``check_requirement`` can validate a spec with no definition (``definition`` None)
    and write nothing.
    """
    kind = spec.get("kind")
    config = configs.validate_config(kind, spec.get("config", {}), carried_over=carried_over)
    verification = spec.get("verification", EvidenceRequirement.Verification.NONE)
    if verification not in EvidenceRequirement.Verification.values:
        raise ActivationRequestError(_("Unknown verification {verification}.").format(verification=repr(verification)),
                                     field="verification")
    reviews_required = spec.get("reviews_required", 1)
    if not isinstance(reviews_required, int) or isinstance(reviews_required, bool) or not 1 <= reviews_required <= 10:
        raise ActivationRequestError(_("Reviews required must be between 1 and 10."), field="reviews_required")
    title = str(spec.get("title", "")).strip()
    if not title:
        raise ActivationRequestError(_("Give each evidence requirement a title."), field="title")
    return EvidenceRequirement(
        definition=definition, kind=kind, title=title[:255], config=config, verification=verification,
        reviews_required=reviews_required, position=position,
    )


def _prompts_from_spec(requirement, specs):
    """Unsaved, for one ``bulk_create``; a metric-observed prompt naming no metric follows its requirement's KPI."""
    built = []
    for spec in specs:
        send_after = spec.get("send_after_days", 0)
        reminders = spec.get("reminder_days", [])
        if not isinstance(send_after, int) or isinstance(send_after, bool) or send_after < 0:
            raise ActivationRequestError(_("A prompt's day must be 0 or more."), field="send_after_days")
        if not isinstance(reminders, list) or not all(
                isinstance(day, int) and not isinstance(day, bool) and day > send_after for day in reminders):
            raise ActivationRequestError(_("Reminder days must be whole days after the prompt."), field="reminder_days")
        subject, body = str(spec.get("subject", "")).strip(), str(spec.get("body", "")).strip()
        if not subject or not body:
            raise ActivationRequestError(_("A prompt needs a subject and a body."), field="prompts")
        condition = spec.get("condition", FollowUpPrompt.Condition.ALWAYS)
        if condition not in FollowUpPrompt.Condition.values:
            raise ActivationRequestError(_("Unknown prompt condition {condition}.").format(condition=repr(condition)),
                                         field="condition")
        metric = str(spec.get("metric", "")).strip()
        if condition == FollowUpPrompt.Condition.METRIC_OBSERVED and not metric:
            metric = requirement.config.get("metric", "")  # a metric requirement's own KPI by default
        built.append(FollowUpPrompt(requirement=requirement, send_after_days=send_after, condition=condition,
                                    metric=metric[:100], reminder_days=sorted(set(reminders)),
                                    subject=subject[:255], body=body,
                                    translations=_prompt_translations(spec.get("translations", {}))))
    return built


def _prompt_translations(translations):
    """``{language: {"subject", "body"}}`` with every text present, or a clear error."""
    if not isinstance(translations, dict):
        raise ActivationRequestError(_("Translations must map a language code to a subject and body."),
                                     field="translations")
    cleaned = {}
    for language, text in translations.items():
        if not isinstance(language, str) or not language.strip() or not isinstance(text, dict):
            raise ActivationRequestError(_("Translations must map a language code to a subject and body."),
                                         field="translations")
        subject, body = str(text.get("subject", "")).strip(), str(text.get("body", "")).strip()
        if not subject or not body:
            raise ActivationRequestError(
                _("The {language} translation needs a subject and a body.").format(language=language),
                field="translations")
        cleaned[language.strip().lower()] = {"subject": subject[:255], "body": body}
    return cleaned


@transaction.atomic
def create_definition(*, course_key, name, behavior, window_days, trigger="passing", rule="any", rule_count=None,
                      holdout_percent=0, requirements=(), created_by=None, holdout_seed=None, carried_over=False):
    """
    Create a draft definition with its evidence requirements and their follow-up prompts.

    Args:
        requirements: dicts with ``kind``, ``title``, ``config``, optional ``verification``,
            ``reviews_required`` and ``prompts`` (dicts with ``send_after_days``, ``reminder_days``,
            ``subject``, ``body``).
        holdout_seed: fixes the holdout randomisation (a reproducible demo or a pre-registered
            experiment); by default a secret random seed nobody can steer.
        carried_over: the requirements are a stored definition's (a new version), so a survey may keep
            the unset activation condition its instructor has not replaced yet.

    Raises:
        ActivationRequestError: any field is invalid; nothing is written.
        NotAllowed: ``course_key`` is a CCX, which follows its master course's definitions.
    """
    key = parse_course_key(course_key)
    if is_ccx(key):
        raise _ccx_authors_none()
    if not platform.course_exists(key):
        raise ActivationRequestError(_("No course {key} exists on this platform.").format(key=key), field="course_key")
    fields = {"name": name, "behavior": behavior, "trigger": trigger, "window_days": window_days,
              "rule": rule, "rule_count": rule_count if rule == rules.AT_LEAST else None,
              "holdout_percent": holdout_percent}
    if not isinstance(requirements, (list, tuple)):
        raise ActivationRequestError(_("Requirements must be a list."), field="requirements")
    _validate_definition_fields(fields, len(requirements))
    definition = ActivationDefinition.objects.create(
        course_key=key, catalog_course=catalog_course(key), holdout_seed=holdout_seed or secrets.token_hex(16),
        created_by=created_by, tallies_built_at=timezone.now(),  # nothing to count yet: built, and kept from now on
        **{k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()},
    )
    _store_requirements(definition, requirements, carried_over=carried_over)
    return definition


def definition_is_locked(definition):
    """True once any window exists: from then on, history fields and requirements are frozen."""
    return ActivationWindow.objects.filter(definition=definition).exists()


@transaction.atomic
def update_definition(definition, **changes):
    """
    Change a definition's editable fields.

    Raises:
        DefinitionLocked: a history field would change after windows were opened.
        ActivationRequestError: unknown field or invalid value.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ActivationRequestError(_("Cannot edit {fields}.").format(fields=", ".join(sorted(unknown))))
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    changed_history = [f for f in HISTORY_FIELDS if f in changes and changes[f] != getattr(definition, f)]
    if changed_history and definition_is_locked(definition):
        raise DefinitionLocked(
            _("Learners already have windows under this definition, so {fields} can no longer change. "
              "Archive it and create a new definition instead.").format(fields=", ".join(changed_history)),
            field=changed_history[0],
        )
    fields = {f: getattr(definition, f) for f in EDITABLE_FIELDS} | changes
    if fields["rule"] != rules.AT_LEAST:
        fields["rule_count"] = None
    _validate_definition_fields(fields, definition.requirements.count())
    for field, value in fields.items():
        setattr(definition, field, value.strip() if isinstance(value, str) else value)
    definition.save()
    figures.invalidate(definition.pk)
    return definition


@transaction.atomic
def add_requirement(definition, spec):
    """
    Add an evidence requirement (with prompts) to a definition that has no windows yet.

    Raises:
        DefinitionLocked: windows exist; adding a requirement would change what they had to do.
    """
    if definition_is_locked(definition):
        raise DefinitionLocked(_("Requirements cannot change once learners have windows."), field="requirements")
    _store_requirements(definition, [spec], first_position=definition.requirements.count())
    return definition.requirements.order_by("-position", "-id").first()


def check_requirement(spec):
    """
    Raise what saving ``spec`` would raise, without a definition or a write: the configuration
    page marks each requirement's own invalid field before anything is saved.

    Raises:
        ActivationRequestError: ``field`` names the field at fault (``title``, ``config.threshold``…).
    """
    _prompts_from_spec(_requirement_from_spec(None, spec, 0), spec.get("prompts", []))


def _store_requirements(definition, specs, first_position=0, carried_over=False):
    if first_position + len(specs) > MAX_REQUIREMENTS:
        raise ActivationRequestError(_("A definition has at most {count} requirements.").format(
            count=MAX_REQUIREMENTS), field="requirements")
    for position, spec in enumerate(specs, start=first_position):
        if not isinstance(spec, dict):
            raise ActivationRequestError(_("Each requirement must be an object."), field="requirements")
        requirement = _requirement_from_spec(definition, spec, position, carried_over)
        requirement.save()
        FollowUpPrompt.objects.bulk_create(_prompts_from_spec(requirement, spec.get("prompts", [])))


@transaction.atomic
def revise_definition(definition, *, requirements=None, **changes):
    """
    Save an edit made on the configuration page: fields and, while no window exists, the whole list
    of requirements (replaced, so the page can reorder, edit and remove them in one go).

    Raises:
        DefinitionLocked: requirements or history fields would change after windows were opened.
        ActivationRequestError: invalid value; nothing is written.
    """
    if requirements is not None:
        if definition_is_locked(definition):
            raise DefinitionLocked(_("Requirements cannot change once learners have windows."), field="requirements")
        if not isinstance(requirements, (list, tuple)):
            raise ActivationRequestError(_("Requirements must be a list."), field="requirements")
        definition.requirements.all().delete()
        _store_requirements(definition, requirements)
    return update_definition(definition, **changes)


def _requirement_spec(requirement):
    """The spec ``create_definition`` takes, read back from a stored requirement and its prompts."""
    return {
        "kind": requirement.kind, "title": requirement.title, "config": requirement.config,
        "verification": requirement.verification, "reviews_required": requirement.reviews_required,
        "prompts": [
            {"send_after_days": prompt.send_after_days, "reminder_days": prompt.reminder_days,
             "condition": prompt.condition, "metric": prompt.metric, "subject": prompt.subject,
             "body": prompt.body, "translations": prompt.translations}
            for prompt in requirement.prompts.all()
        ],
    }


def requirement_specs(definition):
    """Every requirement of a definition as specs, in order: what edit forms and new versions start from."""
    return [_requirement_spec(requirement)
            for requirement in definition.requirements.prefetch_related("prompts").order_by("position", "id")]


@transaction.atomic
def new_version(definition, created_by=None):
    """
    A draft copy of a definition, to change what history fields and requirements lock. Activating
    the copy archives the original, so a completer never gets two windows for one course.
    """
    fields = {field: getattr(definition, field) for field in EDITABLE_FIELDS}
    copy = create_definition(course_key=definition.course_key, requirements=requirement_specs(definition),
                             created_by=created_by, carried_over=True, **fields)
    copy.replaces = definition
    copy.save(update_fields=["replaces"])
    return copy


def superseded_by(definition):
    """
    The other active definitions of the course that activating ``definition`` archives: the one it
    replaces, and any other, since a learner has one follow-up per course (what the definition page
    warns about before the instructor activates it).
    """
    return list(ActivationDefinition.objects.filter(
        catalog_course=definition.catalog_course, status=ActivationDefinition.Status.ACTIVE,
    ).exclude(pk=definition.pk).order_by("pk"))


@transaction.atomic
def activate_definition(definition, supersede=False):
    """
    Start opening windows for completers. Past completers get theirs from ``backfill``, which
    the definition page offers while ``backfilled_at`` is empty. The course's other active
    definitions are archived (``superseded_by``): a definition it does not replace only when the
    caller says so with ``supersede``, having warned the instructor. Their open windows run to their
    end; learners keep their arm, withdrawal and opt-out in the new one (ADR 0012).

    Raises:
        OtherDefinitionActive: another active definition, not the one this replaces, and no ``supersede``.
        ActivationRequestError: no requirements, the rule cannot be met, or the definition is archived.
    """
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.status == ActivationDefinition.Status.ARCHIVED:
        raise ActivationRequestError(_("An archived definition cannot be activated again."), field="status")
    count = definition.requirements.count()
    if count == 0:
        raise ActivationRequestError(_("Add at least one evidence requirement before activating."),
                                     field="requirements")
    problem = rules.rule_problem(definition.rule, definition.rule_count, count)
    if problem:
        raise ActivationRequestError(problem, field="rule")
    superseded = superseded_by(definition)
    unannounced = [other.name for other in superseded if other.pk != definition.replaces_id]
    if unannounced and not supersede and definition.status != ActivationDefinition.Status.ACTIVE:
        raise OtherDefinitionActive(
            _("{names} is active in this course. A learner has one follow-up per course: activating this "
              "definition archives it (its open windows run to their end). Confirm to go ahead.").format(
                names=", ".join(f"“{name}”" for name in unannounced)), field="supersede")
    if definition.status != ActivationDefinition.Status.ACTIVE:
        definition.status = ActivationDefinition.Status.ACTIVE
        definition.activated_at = timezone.now()
        # Left empty while the platform has past completers: the definition page offers the backfill.
        definition.backfilled_at = None if has_past_completers(definition) else definition.activated_at
        definition.save(update_fields=["status", "activated_at", "backfilled_at", "modified"])
        for other in superseded:
            archive_definition(other)
    return definition


@transaction.atomic
def archive_definition(definition):
    """Stop opening new windows; existing windows run to their end and stay in every figure."""
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.status != ActivationDefinition.Status.ARCHIVED:
        definition.status = ActivationDefinition.Status.ARCHIVED
        definition.archived_at = timezone.now()
        definition.save(update_fields=["status", "archived_at", "modified"])
    return definition


def definitions_for_course(course_key):
    """Every definition covering this course run (authored in any run of its catalog course)."""
    key = parse_course_key(course_key)
    return ActivationDefinition.objects.filter(catalog_course=catalog_course(key)).order_by("-created")
