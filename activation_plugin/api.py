"""
The python API of activation-plugin: the only code that writes its models.

Receivers, tasks, views, REST endpoints and management commands are thin adapters that call the
functions here. Errors are raised as ``activation_plugin.errors`` classes; every write runs in a
transaction and every externally-triggered write is idempotent (unique keys, not checks-then-insert).
"""
import hashlib
import logging
import math
import os
import secrets
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import configs, links, platform, prompts, rules
# Read-only parts of the public api, kept in their own modules.
from activation_plugin.figures import course_summaries, summarize  # noqa: F401
from activation_plugin.keys import catalog_course, parse_course_key  # noqa: F401
from activation_plugin.errors import (
    ActivationNotFound,
    ActivationRequestError,
    DefinitionLocked,
    IdempotencyConflict,
)
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    FollowUpPrompt,
    IdentityLink,
    MetricObservation,
    PromptDelivery,
    PromptOptOut,
    Review,
    SupervisorInvite,
)

log = logging.getLogger(__name__)

MAX_HOLDOUT_PERCENT = 50
# Fields whose change would silently rewrite the history of windows already opened.
HISTORY_FIELDS = ("trigger", "window_days", "rule", "rule_count", "holdout_percent")
EDITABLE_FIELDS = ("name", "behavior", *HISTORY_FIELDS)


# ---------------------------------------------------------------------------- definitions

def _validate_definition_fields(fields, requirement_count):
    if "name" in fields and not str(fields["name"]).strip():
        raise ActivationRequestError("Give the definition a name.", field="name")
    if "behavior" in fields and not str(fields["behavior"]).strip():
        raise ActivationRequestError("Describe the behaviour learners should apply.", field="behavior")
    if fields.get("trigger") not in ActivationDefinition.Trigger.values:
        raise ActivationRequestError("The trigger must be 'passing' or 'certificate'.", field="trigger")
    window_days, max_days = fields.get("window_days"), settings.ACTIVATION_MAX_WINDOW_DAYS
    if not isinstance(window_days, int) or isinstance(window_days, bool) or not 1 <= window_days <= max_days:
        raise ActivationRequestError(f"The window must be between 1 and {max_days} days.", field="window_days")
    holdout = fields.get("holdout_percent")
    if not isinstance(holdout, int) or isinstance(holdout, bool) or not 0 <= holdout <= MAX_HOLDOUT_PERCENT:
        raise ActivationRequestError(
            f"The holdout must be a whole percentage between 0 and {MAX_HOLDOUT_PERCENT}.", field="holdout_percent",
        )
    problem = rules.rule_problem(fields.get("rule"), fields.get("rule_count"), requirement_count)
    if problem:
        raise ActivationRequestError(problem, field="rule")


def _requirement_from_spec(definition, spec, position):
    kind = spec.get("kind")
    config = configs.validate_config(kind, spec.get("config", {}))
    verification = spec.get("verification", EvidenceRequirement.Verification.NONE)
    if verification not in EvidenceRequirement.Verification.values:
        raise ActivationRequestError(f"Unknown verification {verification!r}.", field="verification")
    reviews_required = spec.get("reviews_required", 1)
    if not isinstance(reviews_required, int) or isinstance(reviews_required, bool) or not 1 <= reviews_required <= 10:
        raise ActivationRequestError("Reviews required must be between 1 and 10.", field="reviews_required")
    title = str(spec.get("title", "")).strip()
    if not title:
        raise ActivationRequestError("Give each evidence requirement a title.", field="title")
    return EvidenceRequirement(
        definition=definition, kind=kind, title=title[:255], config=config, verification=verification,
        reviews_required=reviews_required, position=position,
    )


def _prompts_from_spec(requirement, specs):
    built = []
    for spec in specs:
        send_after = spec.get("send_after_days", 0)
        reminders = spec.get("reminder_days", [])
        if not isinstance(send_after, int) or isinstance(send_after, bool) or send_after < 0:
            raise ActivationRequestError("A prompt's day must be 0 or more.", field="send_after_days")
        if not isinstance(reminders, list) or not all(
                isinstance(day, int) and not isinstance(day, bool) and day > send_after for day in reminders):
            raise ActivationRequestError("Reminder days must be whole days after the prompt.", field="reminder_days")
        subject, body = str(spec.get("subject", "")).strip(), str(spec.get("body", "")).strip()
        if not subject or not body:
            raise ActivationRequestError("A prompt needs a subject and a body.", field="prompts")
        condition = spec.get("condition", FollowUpPrompt.Condition.ALWAYS)
        if condition not in FollowUpPrompt.Condition.values:
            raise ActivationRequestError(f"Unknown prompt condition {condition!r}.", field="condition")
        metric = str(spec.get("metric", "")).strip()
        if condition == FollowUpPrompt.Condition.METRIC_OBSERVED and not metric:
            metric = requirement.config.get("metric", "")  # a metric requirement's own KPI by default
        built.append(FollowUpPrompt(requirement=requirement, send_after_days=send_after, condition=condition,
                                    metric=metric[:100], reminder_days=sorted(set(reminders)),
                                    subject=subject[:255], body=body))
    return built


@transaction.atomic
def create_definition(*, course_key, name, behavior, window_days, trigger="passing", rule="any", rule_count=None,
                      holdout_percent=0, requirements=(), created_by=None, holdout_seed=None):
    """
    Create a draft definition with its evidence requirements and their follow-up prompts.

    Args:
        requirements: dicts with ``kind``, ``title``, ``config``, optional ``verification``,
            ``reviews_required`` and ``prompts`` (dicts with ``send_after_days``, ``reminder_days``,
            ``subject``, ``body``).
        holdout_seed: fixes the holdout randomisation (a reproducible demo or a pre-registered
            experiment); by default a secret random seed nobody can steer.

    Raises:
        ActivationRequestError: any field is invalid; nothing is written.
    """
    key = parse_course_key(course_key)
    if not platform.course_exists(key):
        raise ActivationRequestError(f"No course {key} exists on this platform.", field="course_key")
    fields = {"name": name, "behavior": behavior, "trigger": trigger, "window_days": window_days,
              "rule": rule, "rule_count": rule_count if rule == rules.AT_LEAST else None,
              "holdout_percent": holdout_percent}
    _validate_definition_fields(fields, len(requirements))
    definition = ActivationDefinition.objects.create(
        course_key=key, catalog_course=catalog_course(key), holdout_seed=holdout_seed or secrets.token_hex(16),
        created_by=created_by, **{k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()},
    )
    for position, spec in enumerate(requirements):
        if not isinstance(spec, dict):
            raise ActivationRequestError("Each requirement must be an object.", field="requirements")
        requirement = _requirement_from_spec(definition, spec, position)
        requirement.save()
        FollowUpPrompt.objects.bulk_create(_prompts_from_spec(requirement, spec.get("prompts", [])))
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
        raise ActivationRequestError(f"Cannot edit {', '.join(sorted(unknown))}.")
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    changed_history = [f for f in HISTORY_FIELDS if f in changes and changes[f] != getattr(definition, f)]
    if changed_history and definition_is_locked(definition):
        raise DefinitionLocked(
            f"Learners already have windows under this definition, so {', '.join(changed_history)} can no longer "
            "change. Archive it and create a new definition instead.", field=changed_history[0],
        )
    fields = {f: getattr(definition, f) for f in EDITABLE_FIELDS} | changes
    if fields["rule"] != rules.AT_LEAST:
        fields["rule_count"] = None
    _validate_definition_fields(fields, definition.requirements.count())
    for field, value in fields.items():
        setattr(definition, field, value.strip() if isinstance(value, str) else value)
    definition.save()
    return definition


@transaction.atomic
def add_requirement(definition, spec):
    """
    Add an evidence requirement (with prompts) to a definition that has no windows yet.

    Raises:
        DefinitionLocked: windows exist; adding a requirement would change what they had to do.
    """
    if definition_is_locked(definition):
        raise DefinitionLocked("Requirements cannot change once learners have windows.", field="requirements")
    requirement = _requirement_from_spec(definition, spec, definition.requirements.count())
    requirement.save()
    FollowUpPrompt.objects.bulk_create(_prompts_from_spec(requirement, spec.get("prompts", [])))
    return requirement


@transaction.atomic
def activate_definition(definition):
    """
    Start opening windows for completers.

    Raises:
        ActivationRequestError: no requirements, the rule cannot be met, or the definition is archived.
    """
    definition = ActivationDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.status == ActivationDefinition.Status.ARCHIVED:
        raise ActivationRequestError("An archived definition cannot be activated again.", field="status")
    count = definition.requirements.count()
    if count == 0:
        raise ActivationRequestError("Add at least one evidence requirement before activating.", field="requirements")
    problem = rules.rule_problem(definition.rule, definition.rule_count, count)
    if problem:
        raise ActivationRequestError(problem, field="rule")
    if definition.status != ActivationDefinition.Status.ACTIVE:
        definition.status = ActivationDefinition.Status.ACTIVE
        definition.activated_at = timezone.now()
        definition.save(update_fields=["status", "activated_at", "modified"])
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


# ---------------------------------------------------------------------------- windows

def assign_arm(definition, user_id):
    """Randomised but reproducible: a hash of the definition's secret seed and the learner."""
    if definition.holdout_percent <= 0:
        return ActivationWindow.Arm.PROMPTED
    digest = hashlib.sha256(f"{definition.holdout_seed}:{user_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") % 10_000
    return ActivationWindow.Arm.HOLDOUT if draw < definition.holdout_percent * 100 else ActivationWindow.Arm.PROMPTED


def open_windows(user_id, course_key, trigger, occurred_at):
    """
    Open a window for every active definition of this course with this trigger. Idempotent:
    a replayed event, a re-pass or a pass in another run keeps the learner's first window.

    A few queries whatever the course size: definitions, the user, one insert, one select.

    Raises:
        ActivationRequestError: malformed course key, trigger or time.
        ActivationNotFound: the user does not exist.
    """
    key = parse_course_key(course_key)
    if trigger not in ActivationDefinition.Trigger.values:
        raise ActivationRequestError(f"Unknown trigger {trigger!r}.", field="trigger")
    if not isinstance(occurred_at, datetime) or timezone.is_naive(occurred_at):
        raise ActivationRequestError("The completion time must be a timezone-aware datetime.", field="occurred_at")
    definitions = list(ActivationDefinition.objects.filter(
        catalog_course=catalog_course(key), status=ActivationDefinition.Status.ACTIVE, trigger=trigger,
    ))
    if not definitions:
        return []
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ActivationNotFound(f"User {user_id} does not exist.", field="user_id")
    segment = platform.segment_for(user, key)
    # One INSERT statement (atomic by itself); the unique key turns replays into no-ops.
    ActivationWindow.objects.bulk_create([
        ActivationWindow(
            definition=definition, user=user, course_run=key, trigger=trigger, opened_at=occurred_at,
            closes_at=occurred_at + timedelta(days=definition.window_days),
            next_action_at=occurred_at if arm == ActivationWindow.Arm.PROMPTED
            else occurred_at + timedelta(days=definition.window_days),
            arm=arm, **segment,
        )
        for definition, arm in ((d, assign_arm(d, user.pk)) for d in definitions)
    ], ignore_conflicts=True)
    return list(ActivationWindow.objects.filter(definition__in=definitions, user=user))


def expire_due_windows(now=None, batch_size=None):
    """
    Close open windows whose end has passed, in short batches that skip rows other workers hold.

    Returns:
        int: how many windows expired.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.ACTIVATION_TICK_BATCH_SIZE
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                ActivationWindow.objects.select_for_update(skip_locked=True)
                .filter(state=ActivationWindow.State.OPEN, next_action_at__lte=now, closes_at__lte=now)
                .order_by("next_action_at").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return expired
            expired += ActivationWindow.objects.filter(pk__in=ids, state=ActivationWindow.State.OPEN).update(
                state=ActivationWindow.State.EXPIRED, next_action_at=None,
            )


def tick(now=None):
    """The periodic work: everything due by ``now``. Safe to run from several workers at once."""
    now = now or timezone.now()
    return {**send_due_prompts(now=now), "expired": expire_due_windows(now=now)}


def send_due_prompts(now=None, batch_size=None):
    """
    Send the prompts and reminders that fell due, at most once each.

    Each batch of due windows is locked (``skip_locked``: concurrent ticks take other rows), its
    messages are *claimed* by inserting their unique ``PromptDelivery`` rows and the windows'
    ``next_action_at`` moves on; the claims commit before anything is sent. A send that fails
    is marked ``failed`` and retried by a later tick; a worker that dies after sending leaves
    its claim ``sending``, which is never sent again.

    Returns:
        dict: ``sent`` and ``failed`` counts.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.ACTIVATION_TICK_BATCH_SIZE
    totals = {"sent": 0, "failed": 0}
    while True:
        claims = _claim_due_messages(now, batch_size)
        if claims is None:
            return totals
        for delivery, message in claims:
            totals["sent" if _deliver(delivery, message, now) else "failed"] += 1


@transaction.atomic
def _claim_due_messages(now, batch_size):
    """Claim the due messages of one batch of windows; None once no window is due."""
    windows = list(
        ActivationWindow.objects.select_for_update(skip_locked=True)
        .filter(state=ActivationWindow.State.OPEN, next_action_at__lte=now, closes_at__gt=now)
        .order_by("next_action_at")[:batch_size]
    )
    if not windows:
        return None
    # Not select_related: MariaDB cannot restrict FOR UPDATE to the window rows.
    users = get_user_model().objects.in_bulk({window.user_id for window in windows})
    opted_out = set(PromptOptOut.objects.filter(user_id__in=users).values_list("user_id", "definition_id"))
    definition_ids = {window.definition_id for window in windows}
    prompts_by_definition = {}
    for prompt in FollowUpPrompt.objects.filter(requirement__definition_id__in=definition_ids).select_related(
            "requirement__definition"):
        prompts_by_definition.setdefault(prompt.requirement.definition_id, []).append(prompt)
    # Grouped by window once, so each window's lookups below are dictionary reads, not scans of the batch.
    claimed = defaultdict(dict)
    for delivery in PromptDelivery.objects.filter(window__in=windows):
        claimed[delivery.window_id][(delivery.prompt_id, delivery.kind, delivery.sequence)] = delivery
    answered_by_window = defaultdict(set)
    for window_id, requirement_id in Evidence.objects.filter(window__in=windows).values_list("window_id",
                                                                                            "requirement_id"):
        answered_by_window[window_id].add(requirement_id)
    claims = []
    arrivals = _observation_arrivals(users, min(window.opened_at for window in windows))
    for window in windows:
        window.user = users[window.user_id]
        messages = prompts.schedule(window.opened_at, prompts_by_definition.get(window.definition_id, []),
                                    _first_arrivals(arrivals.get(window.user_id, []), window.opened_at))
        silenced = {(window.user_id, None), (window.user_id, window.definition_id)} & opted_out
        if window.arm == ActivationWindow.Arm.HOLDOUT or silenced:
            messages = []
        claims_of_window = claimed[window.pk]
        done = {key for key, d in claims_of_window.items() if d.status != PromptDelivery.Status.FAILED}
        todo = prompts.pending(messages, done, answered_by_window[window.pk])
        send, skip = prompts.split_catch_up([m for m in todo if m.due_at <= now])
        for message in send:
            retry = claims_of_window.get(message.key)
            claims.append((_claim(window, message, retry, now), message))
        # A failed claim overtaken by a later message is skipped too, never sent after it.
        failed_ids = [claims_of_window[m.key].pk for m in skip if m.key in claims_of_window]
        PromptDelivery.objects.filter(pk__in=failed_ids).update(status=PromptDelivery.Status.SKIPPED)
        PromptDelivery.objects.bulk_create([
            PromptDelivery(window=window, prompt=m.prompt, kind=m.kind, sequence=m.sequence, claimed_at=now,
                           status=PromptDelivery.Status.SKIPPED)
            for m in skip if m.key not in claims_of_window
        ])
        later = [m.due_at for m in todo if m.due_at > now]
        window.next_action_at = min([*later, window.closes_at])
    ActivationWindow.objects.bulk_update(windows, ["next_action_at"])
    return claims


def _observation_arrivals(user_ids, since):
    """
    ``{user_id: [(metric, observed_at, arrived_at)]}`` for KPIs measured since ``since``: per
    learner, metric and day of measurement, the latest measurement and arrival. One row per day
    keeps this bounded by the window's length, however often a KPI source reports.
    """
    rows = (MetricObservation.objects.filter(user_id__in=user_ids, observed_at__gte=since)
            .annotate(day=TruncDate("observed_at")).values("user_id", "metric", "day")
            .annotate(observed=Max("observed_at"), arrived=Max("received_at")).order_by("day"))
    arrivals = defaultdict(list)
    for row in rows:
        arrivals[row["user_id"]].append((row["metric"], row["observed"], row["arrived"]))
    return arrivals


def _first_arrivals(arrivals, opened_at):
    """
    ``{metric: when the first KPI measured after completion arrived}``, with ``""`` for any
    metric. Measurements from before completion are the learner's baseline, not a signal.
    """
    first = {}
    for metric, observed_at, arrived_at in arrivals:
        if observed_at >= opened_at:
            first.setdefault(metric, arrived_at)
            first.setdefault("", arrived_at)
    return first


def _claim(window, message, retry, now):
    if retry is not None:
        retry.status, retry.attempts, retry.claimed_at = PromptDelivery.Status.SENDING, retry.attempts + 1, now
        retry.save(update_fields=["status", "attempts", "claimed_at"])
        return retry
    return PromptDelivery.objects.create(window=window, prompt=message.prompt, kind=message.kind,
                                         sequence=message.sequence, claimed_at=now)


def _deliver(delivery, message, now):
    """Send one claimed message; record the outcome. True when the backend accepted it."""
    window, definition = delivery.window, message.prompt.requirement.definition
    user = window.user
    values = {
        "learner_name": user.get_full_name() or user.username,
        "course_name": platform.course_title(window.course_run),
        "deadline": f"{window.closes_at:%Y-%m-%d}",
        "link": f"{getattr(settings, 'LMS_ROOT_URL', '')}/activation/learner/{window.course_run}/",
        "behavior": definition.behavior,
        "opt_out_link": links.opt_out_url(user.pk, definition.pk),
    }
    body = prompts.render(message.prompt.body, values)
    footer = _("You receive this because you completed {course_name}. To stop these messages: {opt_out_link}")
    try:
        platform.send_message(user=user, subject=prompts.render(message.prompt.subject, values),
                              body=f"{body}\n\n-- \n{prompts.render(footer, values)}")
    except Exception as exc:  # pylint: disable=broad-except
        # Any backend failure (SMTP, ACE, network) must leave the claim retryable, never lost.
        log.warning("activation: %s %s for window %s failed: %s", message.kind, message.prompt.pk, window.pk, exc)
        PromptDelivery.objects.filter(pk=delivery.pk).update(status=PromptDelivery.Status.FAILED,
                                                             last_error=str(exc)[:2000])
        ActivationWindow.objects.filter(pk=window.pk, state=ActivationWindow.State.OPEN).update(
            next_action_at=min(now + prompts.RETRY_DELAY, window.closes_at))
        return False
    PromptDelivery.objects.filter(pk=delivery.pk).update(status=PromptDelivery.Status.SENT, sent_at=now,
                                                         last_error="")
    return True


@transaction.atomic
def opt_out(user_id, definition_id=None):
    """
    Stop all further prompts to a learner for one definition, or for all of them. Idempotent.
    The learner's windows stay and keep counting: evidence may still arrive.

    Raises:
        ActivationNotFound: the user or the definition does not exist.
    """
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise ActivationNotFound("No such learner.", field="user")
    if definition_id is not None and not ActivationDefinition.objects.filter(pk=definition_id).exists():
        raise ActivationNotFound("No such activation definition.", field="definition")
    existing = PromptOptOut.objects.filter(user_id=user_id, definition_id=definition_id).first()
    return existing or PromptOptOut.objects.create(user_id=user_id, definition_id=definition_id)


def record_observation(*, source, metric, external_id, observed_at, value, user=None):
    """
    Upsert one KPI observation, idempotent by (source, metric, external_id, observed_at), and wake
    the learner's open windows so a KPI nudge can go out on the next tick.

    Returns:
        tuple: (observation, created).

    Raises:
        ActivationRequestError: empty metric or id, naive time, or a non-finite value.
    """
    if not str(metric).strip() or not str(external_id).strip():
        raise ActivationRequestError("An observation needs a metric and an external id.", field="metric")
    if not isinstance(observed_at, datetime) or timezone.is_naive(observed_at):
        raise ActivationRequestError("The observation time must be timezone-aware.", field="observed_at")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ActivationRequestError("The observed value must be a finite number.", field="value")
    with transaction.atomic():
        observation, created = MetricObservation.objects.get_or_create(
            source=source, metric=str(metric).strip()[:100], external_id=str(external_id).strip()[:255],
            observed_at=observed_at, defaults={"value": float(value), "user": user},
        )
        if created and user is not None:
            ActivationWindow.objects.filter(
                user=user, state=ActivationWindow.State.OPEN, arm=ActivationWindow.Arm.PROMPTED,
                definition__requirements__prompts__condition=FollowUpPrompt.Condition.METRIC_OBSERVED,
            ).update(next_action_at=timezone.now())
    return observation, created


# ---------------------------------------------------------------------------- evidence

def record_evidence(*, window, requirement, source, payload, idempotency_key, submitted_at=None, file=None):
    """
    Store evidence for a window's requirement and re-evaluate the window's rule.

    Idempotent by ``idempotency_key``: the same key returns the stored evidence unchanged.

    Raises:
        IdempotencyConflict: the key was used for another window or requirement.
        ActivationRequestError: invalid payload, requirement from another definition, or a window
            that is withdrawn or was already closed at ``submitted_at``.
    """
    if not idempotency_key or len(idempotency_key) > 255:
        raise ActivationRequestError("An idempotency key of 1 to 255 characters is required.", field="idempotency_key")
    existing = Evidence.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replayed(existing, window, requirement)
    if requirement.definition_id != window.definition_id:
        raise ActivationRequestError("This requirement belongs to another definition.", field="requirement")
    if source not in Evidence.Source.values:
        raise ActivationRequestError(f"Unknown evidence source {source!r}.", field="source")
    submitted_at = submitted_at or timezone.now()
    payload = _clean_submission(window, requirement, payload, file, submitted_at)
    self_verified = requirement.verification == EvidenceRequirement.Verification.NONE
    try:
        with transaction.atomic():
            evidence = Evidence.objects.create(
                window=window, requirement=requirement, source=source, payload=payload, file=file,
                submitted_at=submitted_at, idempotency_key=idempotency_key,
                status=Evidence.Status.VERIFIED if self_verified else Evidence.Status.SUBMITTED,
                verified_at=timezone.now() if self_verified else None,
            )
            if self_verified:
                evaluate_window(window)
    except IntegrityError:
        # A concurrent submission with the same key won the race: behave exactly like a replay.
        return _replayed(Evidence.objects.get(idempotency_key=idempotency_key), window, requirement)
    return evidence


def _clean_submission(window, requirement, payload, file, submitted_at):
    """The validated payload of a submission at ``submitted_at``; raises ActivationRequestError."""
    if window.state == ActivationWindow.State.WITHDRAWN:
        raise ActivationRequestError("This window was withdrawn.", field="window")
    if not window.opened_at <= submitted_at <= window.closes_at:
        raise ActivationRequestError(
            f"Evidence must be submitted between {window.opened_at:%Y-%m-%d} and {window.closes_at:%Y-%m-%d}.",
            field="submitted_at",
        )
    payload = configs.validate_payload(requirement.kind, requirement.config, payload,
                                       settings.ACTIVATION_EVIDENCE_MAX_TEXT_CHARS)
    if file is not None:
        if requirement.kind != EvidenceRequirement.Kind.PROJECT:
            raise ActivationRequestError("Only applied projects take a file.", field="file")
        payload["file_name"] = _checked_file_name(file)
    if requirement.kind == EvidenceRequirement.Kind.PROJECT and not (
            payload["url"] or payload["text"] or payload.get("file_name")):
        raise ActivationRequestError("Add a link, a description or a file.", field="payload")
    return payload


def _checked_file_name(file):
    """The uploaded file's display name, once its size and type are within the operator's limits."""
    name = os.path.basename(str(getattr(file, "name", "") or ""))[:200]
    extension = os.path.splitext(name)[1].lower()
    allowed = settings.ACTIVATION_EVIDENCE_FILE_TYPES
    if extension not in allowed:
        raise ActivationRequestError(f"Files of this type are not accepted; use one of {', '.join(allowed)}.",
                                     field="file")
    max_mb = settings.ACTIVATION_EVIDENCE_MAX_FILE_MB
    if file.size > max_mb * 1024 * 1024:
        raise ActivationRequestError(f"The file is larger than {max_mb} MB.", field="file")
    return name


LEARNER_KINDS = (EvidenceRequirement.Kind.PROJECT, EvidenceRequirement.Kind.SURVEY)


def save_learner_response(*, window, requirement, payload, idempotency_key, file=None):
    """
    What the learner page calls: the learner's one response to a project or survey requirement,
    created, or edited in place while that is still honest — a project until someone reviews
    it, a survey until the window closes. A rejected project gets a fresh submission.

    Raises:
        ActivationRequestError: not a learner-submitted kind, under review, verified, closed, or invalid.
    """
    if requirement.kind not in LEARNER_KINDS:
        raise ActivationRequestError("This requirement is not answered by the learner.", field="requirement")
    existing = (window.evidence.filter(requirement=requirement, source=Evidence.Source.LEARNER)
                .exclude(status=Evidence.Status.REJECTED).order_by("-submitted_at").first())
    if existing is None or existing.idempotency_key == idempotency_key:
        return record_evidence(window=window, requirement=requirement, source=Evidence.Source.LEARNER,
                               payload=payload, idempotency_key=idempotency_key, file=file)
    return _edit_response(existing, window, requirement, payload, file)


@transaction.atomic
def _edit_response(evidence, window, requirement, payload, file):
    evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
    if requirement.kind == EvidenceRequirement.Kind.PROJECT and (
            evidence.status == Evidence.Status.VERIFIED or evidence.reviews.exists()):
        raise ActivationRequestError("This project was already reviewed, so it can no longer change.",
                                     field="evidence")
    now = timezone.now()
    payload = _clean_submission(window, requirement, payload, file, now)
    if file is None and evidence.payload.get("file_name"):
        payload["file_name"] = evidence.payload["file_name"]  # keep the attachment when only text changes
    evidence.payload = payload
    if file is not None:
        if evidence.file:
            evidence.file.delete(save=False)
        evidence.file = file
    if requirement.kind == EvidenceRequirement.Kind.PROJECT:
        evidence.submitted_at = now  # what gets reviewed is this version
    evidence.save()
    evaluate_window(window)
    return evidence


def _replayed(existing, window, requirement):
    if existing.window_id != window.pk or existing.requirement_id != requirement.pk:
        raise IdempotencyConflict("This idempotency key was already used for other evidence.", field="idempotency_key")
    return existing


@transaction.atomic
def review_evidence(evidence, *, verdict, role, reviewer=None, reviewer_email=None, comment="", score=None,
                    checklist=None):
    """
    Record one reviewer's verdict and settle the evidence once enough reviews agree.

    Staff decide alone (and may override peers); otherwise the majority of ``reviews_required``
    reviews decides, a tie rejecting.

    Raises:
        ActivationRequestError: invalid verdict or role, or the reviewer already reviewed it.
    """
    if verdict not in Review.Verdict.values:
        raise ActivationRequestError(f"Unknown verdict {verdict!r}.", field="verdict")
    if role not in Review.Role.values:
        raise ActivationRequestError(f"Unknown reviewer role {role!r}.", field="role")
    if reviewer is None and not reviewer_email:
        raise ActivationRequestError("A review needs a reviewer.", field="reviewer")
    evidence = Evidence.objects.select_for_update().select_related("requirement", "window").get(pk=evidence.pk)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                evidence=evidence, reviewer=reviewer, reviewer_email=reviewer_email or None, role=role,
                verdict=verdict, comment=comment, score=score, checklist=checklist or {},
            )
    except IntegrityError as exc:
        raise ActivationRequestError("This reviewer already reviewed this evidence.", field="reviewer") from exc
    if role == Review.Role.STAFF:
        decided = verdict
    else:
        tally = evidence.reviews.values("verdict").annotate(n=Count("id"))
        counts = {row["verdict"]: row["n"] for row in tally}
        if sum(counts.values()) < evidence.requirement.reviews_required:
            return review
        verified = counts.get(Review.Verdict.VERIFIED, 0) > counts.get(Review.Verdict.REJECTED, 0)
        decided = Review.Verdict.VERIFIED if verified else Review.Verdict.REJECTED
    evidence.status = decided
    evidence.verified_at = timezone.now() if decided == Review.Verdict.VERIFIED else None
    evidence.save(update_fields=["status", "verified_at"])
    evaluate_window(evidence.window)
    return review


def evaluate_window(window):
    """
    Recompute a window's state from its verified evidence; must run inside a transaction.

    The window activates at the submission time of the evidence that completed its rule, if that
    time lies inside the window; a later rejection that breaks the rule re-opens or expires it.
    """
    window = ActivationWindow.objects.select_for_update().select_related("definition").get(pk=window.pk)
    if window.state == ActivationWindow.State.WITHDRAWN:
        return window
    definition = window.definition
    requirement_ids = set(definition.requirements.values_list("pk", flat=True))
    verified = window.evidence.filter(status=Evidence.Status.VERIFIED).values_list("requirement_id", "submitted_at")
    activated_at = rules.activation_time(definition.rule, definition.rule_count, requirement_ids, verified)
    if activated_at is not None and activated_at <= window.closes_at:
        window.state = ActivationWindow.State.ACTIVATED
        window.activated_at = activated_at
        window.days_to_activation = (activated_at - window.opened_at).days
        window.next_action_at = None
    elif window.state == ActivationWindow.State.ACTIVATED:
        closed = window.closes_at <= timezone.now()
        window.state = ActivationWindow.State.EXPIRED if closed else ActivationWindow.State.OPEN
        window.activated_at = window.days_to_activation = None
        window.next_action_at = None if closed else window.closes_at
    else:
        return window
    window.save(update_fields=["state", "activated_at", "days_to_activation", "next_action_at"])
    return window


# ---------------------------------------------------------------------------- privacy

@transaction.atomic
def retire_user(user_id):
    """
    Remove what this plugin holds about a retired learner while keeping anonymous counts right:
    windows stay (state and dates only), their evidence content, files, supervisors' emails,
    identity links and KPI links are erased.

    Returns:
        dict: how many rows of each kind were changed.
    """
    evidence = Evidence.objects.filter(window__user_id=user_id)
    for item in evidence.exclude(file="").exclude(file__isnull=True):
        item.file.delete(save=False)
    return {
        "evidence": evidence.update(payload={}, file=None),
        "reviews_written": Review.objects.filter(reviewer_id=user_id).update(reviewer=None, comment=""),
        "supervisor_invites": SupervisorInvite.objects.filter(window__user_id=user_id).delete()[0],
        "identity_links": IdentityLink.objects.filter(user_id=user_id).delete()[0],
        "observations": MetricObservation.objects.filter(user_id=user_id).update(user=None),
    }


def learner_windows(user, course_key):
    """A learner's windows for this course, with the requirements and the evidence they submitted."""
    key = parse_course_key(course_key)
    return list(
        ActivationWindow.objects.filter(user=user, definition__catalog_course=catalog_course(key))
        .select_related("definition")
        .prefetch_related("definition__requirements", "evidence__reviews")
        .order_by("-opened_at")
    )


def learner_window(user, course_key, window_id):
    """
    One of the learner's own windows in this course.

    Raises:
        ActivationNotFound: no such window for this learner and course (no hint whether it exists).
    """
    key = parse_course_key(course_key)
    window = ActivationWindow.objects.select_related("definition").filter(
        pk=window_id, user=user, definition__catalog_course=catalog_course(key),
    ).first()
    if window is None:
        raise ActivationNotFound("No such activation window.", field="window")
    return window
