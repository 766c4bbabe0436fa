"""Evidence and its reviews, and the rule evaluation that activates a window."""
import os

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import configs, figures, rules, strength_tags, tracking
from activation_plugin.api.queries import evidence_list_in_course, run_scope
from activation_plugin.api.tallies import count_after_commit
from activation_plugin.errors import (
    ActivationNotFound,
    ActivationRequestError,
    IdempotencyConflict,
    database_errors_as_internal,
)
from activation_plugin.models import (
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    Review,
)


@database_errors_as_internal
def record_evidence(*, window, requirement, source, payload, idempotency_key, submitted_at=None, file=None):
    """
    Store evidence for a window's requirement and re-evaluate the window's rule.

    Idempotent by ``idempotency_key``: the same key returns the stored evidence unchanged.

    Raises:
        IdempotencyConflict: the key was used for another window or requirement.
        ActivationInternalError: the database failed (e.g. a lock wait timeout); nothing was stored.
        ActivationRequestError: invalid payload, requirement from another definition, or a window
            that is withdrawn or was already closed at ``submitted_at``.
    """
    if not idempotency_key or len(idempotency_key) > 255:
        raise ActivationRequestError(_("An idempotency key of 1 to 255 characters is required."),
                                     field="idempotency_key")
    existing = Evidence.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replayed(existing, window, requirement)
    if requirement.definition_id != window.definition_id:
        raise ActivationRequestError(_("This requirement belongs to another definition."), field="requirement")
    if source not in Evidence.Source.values:
        raise ActivationRequestError(_("Unknown evidence source {source}.").format(source=repr(source)), field="source")
    submitted_at = submitted_at or timezone.now()
    try:
        with transaction.atomic():
            window = _locked(window)
            payload = _clean_submission(window, requirement, payload, file, submitted_at)
            status, strength = _first_status(requirement, source, payload)
            verified = status == Evidence.Status.VERIFIED
            evidence = Evidence.objects.create(
                window=window, requirement=requirement, source=source, payload=payload, file=file,
                submitted_at=submitted_at, idempotency_key=idempotency_key, status=status,
                verified_at=timezone.now() if verified else None, strength=strength,
            )
            figures.invalidate(window.definition_id)
            tracking.evidence_submitted(evidence, requirement)
            if verified:
                tracking.evidence_verified(evidence, requirement)
                evaluate_window(window)
            else:
                count_after_commit(window.definition, [window.pk])
    except IntegrityError:
        # A concurrent submission with the same key won the race: behave exactly like a replay.
        return _replayed(Evidence.objects.get(idempotency_key=idempotency_key), window, requirement)
    return evidence


def _first_status(requirement, source, payload):
    """
    ``(status, strength)`` of new evidence: a survey answer that does not meet its activation condition
    is kept as a response, never verified; self-reported evidence is verified as it arrives; the rest
    waits for its reviewers.
    """
    if requirement.kind == EvidenceRequirement.Kind.SURVEY and not configs.condition_met(
            requirement.config, payload["answers"]):
        return Evidence.Status.NOT_MET, ""
    if requirement.verification != EvidenceRequirement.Verification.NONE:
        return Evidence.Status.SUBMITTED, ""
    return Evidence.Status.VERIFIED, (
        Evidence.Strength.KPI if source == Evidence.Source.METRIC else Evidence.Strength.SELF_REPORT)


def _restatus_survey(evidence, requirement, now):
    """
    An edited survey answer is judged again against the condition, both ways. One that now meets it is
    dated by this edit: the skill was reported applied now, not when the learner first answered "not yet".
    """
    if not configs.condition_met(requirement.config, evidence.payload["answers"]):
        evidence.status, evidence.strength, evidence.verified_at = Evidence.Status.NOT_MET, "", None
    elif evidence.status == Evidence.Status.NOT_MET:
        evidence.status, evidence.strength = _first_status(requirement, evidence.source, evidence.payload)
        evidence.submitted_at = now
        if evidence.status == Evidence.Status.VERIFIED:
            evidence.verified_at = now
            tracking.evidence_verified(evidence, requirement)


def _locked(window):
    """
    The window, locked until the transaction ends. Every writer of a window's evidence takes this
    lock first: parallel submissions then take turns instead of all passing the same checks (two
    responses stored for one requirement) or deadlocking between the evidence insert and the rule
    evaluation's own lock on the window.
    """
    return ActivationWindow.objects.select_for_update().get(pk=window.pk)


def accepts_evidence(window, at):
    """
    Whether the window takes evidence dated ``at``: not withdrawn, and ``at`` inside it. An
    activated window still takes more (a survey answer, a second project) until it closes.
    The learner page asks this to decide which forms to show; ``record_evidence`` enforces it.
    """
    return window.state != ActivationWindow.State.WITHDRAWN and window.opened_at <= at <= window.closes_at


def project_is_settled(evidence):
    """
    Whether a learner's project can no longer change: verified, or reviewed by anyone, so that a
    verdict is about what its reviewer read. Reads ``evidence.reviews.all()``, which a page prefetches.
    """
    return evidence.status == Evidence.Status.VERIFIED or bool(evidence.reviews.all())


def answer_is_settled(evidence, requirement):
    """
    Whether a learner's survey answer can no longer change in place: a reviewer gave a verdict on it,
    or the reviewers its requirement names verified it. Its verdict then stays about what was read,
    and a change is a new submission with its own review (issue 27). A self-reported answer, which
    nobody reviews, stays editable until the window closes.
    """
    return bool(evidence.reviews.all()) or (
        requirement.verification != EvidenceRequirement.Verification.NONE
        and evidence.status == Evidence.Status.VERIFIED)


def _clean_submission(window, requirement, payload, file, submitted_at):
    """The validated payload of a submission at ``submitted_at``; raises ActivationRequestError."""
    if window.state == ActivationWindow.State.WITHDRAWN:
        raise ActivationRequestError(_("This window was withdrawn."), field="window")
    if not accepts_evidence(window, submitted_at):
        raise ActivationRequestError(
            _("Evidence must be submitted between {opened} and {closes}.").format(
                opened=f"{window.opened_at:%Y-%m-%d}", closes=f"{window.closes_at:%Y-%m-%d}"),
            field="submitted_at",
        )
    payload = configs.validate_payload(requirement.kind, requirement.config, payload,
                                       settings.ACTIVATION_EVIDENCE_MAX_TEXT_CHARS)
    if file is not None:
        if requirement.kind != EvidenceRequirement.Kind.PROJECT:
            raise ActivationRequestError(_("Only applied projects take a file."), field="file")
        payload["file_name"] = _checked_file_name(file)
    if requirement.kind == EvidenceRequirement.Kind.PROJECT and not (
            payload["url"] or payload["text"] or payload.get("file_name")):
        raise ActivationRequestError(_("Add a link, a description or a file."), field="payload")
    return payload


def _checked_file_name(file):
    """The uploaded file's display name, once its size and type are within the operator's limits."""
    name = os.path.basename(str(getattr(file, "name", "") or ""))[:200]
    extension = os.path.splitext(name)[1].lower()
    allowed = settings.ACTIVATION_EVIDENCE_FILE_TYPES
    if extension not in allowed:
        raise ActivationRequestError(
            _("Files of this type are not accepted; use one of {types}.").format(types=", ".join(allowed)),
            field="file")
    max_mb = settings.ACTIVATION_EVIDENCE_MAX_FILE_MB
    if file.size > max_mb * 1024 * 1024:
        raise ActivationRequestError(_("The file is larger than {max_mb} MB.").format(max_mb=max_mb), field="file")
    return name


MAX_COMMENT_CHARS = 5000
LEARNER_KINDS = (EvidenceRequirement.Kind.PROJECT, EvidenceRequirement.Kind.SURVEY)


@database_errors_as_internal
@transaction.atomic
def save_learner_response(*, window, requirement, payload, idempotency_key, file=None):
    """
    What the learner page calls: the learner's one response to a project or survey requirement,
    created, or edited in place while that is still honest — a project until someone reviews
    it, a survey until the window closes. A rejected project gets a fresh submission.

    Raises:
        ActivationRequestError: not a learner-submitted kind, under review, verified, closed, or invalid.
        ActivationInternalError: the database failed; nothing was stored, the same key may be retried.
    """
    if requirement.kind not in LEARNER_KINDS:
        raise ActivationRequestError(_("This requirement is not answered by the learner."), field="requirement")
    window = _locked(window)
    existing = (window.evidence.filter(requirement=requirement, source=Evidence.Source.LEARNER)
                .exclude(status=Evidence.Status.REJECTED).order_by("-submitted_at").first())
    if existing is None or existing.idempotency_key == idempotency_key or (
            requirement.kind == EvidenceRequirement.Kind.SURVEY and answer_is_settled(existing, requirement)):
        return record_evidence(window=window, requirement=requirement, source=Evidence.Source.LEARNER,
                               payload=payload, idempotency_key=idempotency_key, file=file)
    return _edit_response(existing, window, requirement, payload, file)


@transaction.atomic
def _edit_response(evidence, window, requirement, payload, file):
    """
    A learner's change to evidence already given: refused once a review is in, or while a peer holds it,
    because a verdict must be about what its reviewer read. The row is locked so two tabs saving at once
    cannot both pass these checks.
    """
    evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
    now = timezone.now()
    if requirement.kind == EvidenceRequirement.Kind.PROJECT and project_is_settled(evidence):
        raise ActivationRequestError(_("This project was already reviewed, so it can no longer change."),
                                     field="evidence")
    # A peer holding the project reviews what they were shown: it cannot change under them.
    if evidence.peer_assignments.filter(completed_at__isnull=True, due_at__gt=now).exists():
        raise ActivationRequestError(_("A peer is reviewing this project; it can change again if they hand it back."),
                                     field="evidence")
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
    else:
        if requirement.verification != EvidenceRequirement.Verification.NONE:
            evidence.submitted_at = now  # awaiting its reviewer, who reviews this version
        _restatus_survey(evidence, requirement, now)
    evidence.save()
    evaluate_window(window)
    return evidence


def _replayed(existing, window, requirement):
    if existing.window_id != window.pk or existing.requirement_id != requirement.pk:
        raise IdempotencyConflict(_("This idempotency key was already used for other evidence."),
                                  field="idempotency_key")
    return existing


@transaction.atomic
def review_evidence(evidence, *, verdict, role, reviewer=None, reviewer_email=None, comment="", score=None,
                    checklist=None, version=None):
    """
    Record one reviewer's verdict and settle the evidence once enough reviews agree.

    Staff decide alone, and the latest staff verdict stands over peers before or after it;
    otherwise, once ``reviews_required`` reviews are in, the requirement's ``peer_rule`` decides:
    ``majority`` (default; a tie rejects) or ``mean_score`` (mean rubric score ratio of at least
    ``pass_ratio``, default 0.6).

    ``version`` is the evidence's ``submitted_at`` as the reviewer saw it: a verdict on text the
    learner has changed since is refused, not applied to the new text.

    Raises:
        ActivationRequestError: invalid verdict or role, the reviewer already reviewed it, or the
            evidence changed since ``version``.
    """
    if verdict not in Review.Verdict.values:
        raise ActivationRequestError(_("Unknown verdict {verdict}.").format(verdict=repr(verdict)), field="verdict")
    if role not in Review.Role.values:
        raise ActivationRequestError(_("Unknown reviewer role {role}.").format(role=repr(role)), field="role")
    if reviewer is None and not reviewer_email:
        raise ActivationRequestError(_("A review needs a reviewer."), field="reviewer")
    if len(comment or "") > MAX_COMMENT_CHARS:
        raise ActivationRequestError(
            _("Keep the comment under {max_chars} characters.").format(max_chars=MAX_COMMENT_CHARS), field="comment")
    evidence = Evidence.objects.select_for_update().select_related("requirement", "window").get(pk=evidence.pk)
    if evidence.status == Evidence.Status.NOT_MET:
        raise ActivationRequestError(_("This survey answer does not meet its activation condition: it is a response, "
                                       "not evidence to verify."), field="evidence")
    if version is not None and version != evidence.submitted_at:
        raise ActivationRequestError(_("The learner changed this evidence after you opened it: read the new "
                                       "version, then decide."), field="version")
    try:
        with transaction.atomic():
            review = Review.objects.create(
                evidence=evidence, reviewer=reviewer, reviewer_email=reviewer_email or None, role=role,
                verdict=verdict, comment=comment, score=score, checklist=checklist or {},
            )
    except IntegrityError as exc:
        raise ActivationRequestError(_("This reviewer already reviewed this evidence."), field="reviewer") from exc
    decided = _settled_verdict(evidence)
    if decided is None:
        return review
    verified = decided == Review.Verdict.VERIFIED
    newly_verified = verified and evidence.status != Evidence.Status.VERIFIED
    evidence.status = decided
    evidence.verified_at = timezone.now() if verified else None
    evidence.strength = _strength(evidence) if verified else ""
    evidence.save(update_fields=["status", "verified_at", "strength"])
    if newly_verified:
        tracking.evidence_verified(evidence, evidence.requirement)
    evaluate_window(evidence.window)
    return review


def _rubric_ratio(rubric, scores):
    """
    The share of the rubric's points that ``pass_ratio`` and the ``mean_score`` rule compare; every
    criterion must be scored, within its range.
    """
    if not isinstance(scores, dict) or set(scores) != {item["criterion"] for item in rubric}:
        raise ActivationRequestError(_("Score every rubric criterion."), field="scores")
    total = 0
    for item in rubric:
        score = scores[item["criterion"]]
        if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= item["max_score"]:
            raise ActivationRequestError(
                _("Score '{criterion}' from 0 to {max_score}.").format(
                    criterion=item["criterion"], max_score=item["max_score"]), field="scores")
        total += score
    return total / sum(item["max_score"] for item in rubric)


def rubric_verdict(config, scores):
    """
    ``(verdict, ratio)`` from a reviewer's rubric scores: the pass mark (``pass_ratio`` of the points)
    decides, for staff as for peers, so a requirement's rubric means the same whoever reviews.
    """
    ratio = _rubric_ratio(config["rubric"], scores)
    verdict = Review.Verdict.VERIFIED if ratio >= config.get("pass_ratio", 0.6) else Review.Verdict.REJECTED
    return verdict, ratio


def staff_review(evidence, reviewer, *, verdict=None, scores=None, comment="", version=None):
    """
    A staff verdict from the queue or the REST API. With a rubric, staff score each criterion and the
    pass mark decides; a verdict sent with the scores must agree with them, or it is refused rather
    than silently overridden. Without a rubric, staff give the verdict.

    Raises:
        ActivationRequestError: missing or out-of-range scores, a verdict the scores contradict, or
            anything ``review_evidence`` refuses.
    """
    config = evidence.requirement.config
    ratio = None
    if config.get("rubric"):
        decided, ratio = rubric_verdict(config, scores)
        if verdict and verdict != decided:
            raise ActivationRequestError(
                _("With these scores ({percent} % of the points; {pass_percent} % passes) the rubric decides "
                  "“{decided}”: change the scores, not the verdict.").format(
                    percent=f"{ratio * 100:.0f}", pass_percent=f"{config.get('pass_ratio', 0.6) * 100:g}",
                    decided=Review.Verdict(decided).label), field="verdict")
        verdict = decided
    return review_evidence(evidence, verdict=verdict or "", role=Review.Role.STAFF, reviewer=reviewer,
                           comment=comment, score=ratio, checklist=scores if ratio is not None else None,
                           version=version)


def _settled_verdict(evidence):
    """The verdict the reviews so far settle on, or None while more are needed."""
    reviews = list(evidence.reviews.order_by("created", "pk"))
    staff = [review for review in reviews if review.role == Review.Role.STAFF]
    if staff:
        return staff[-1].verdict
    if len(reviews) < evidence.requirement.reviews_required:
        return None
    config = evidence.requirement.config
    if config.get("peer_rule") == "mean_score":
        ratios = [review.score for review in reviews if review.score is not None]
        verified = bool(ratios) and sum(ratios) / len(ratios) >= config.get("pass_ratio", 0.6)
    else:
        votes = sum(1 if review.verdict == Review.Verdict.VERIFIED else -1 for review in reviews)
        verified = votes > 0
    return Review.Verdict.VERIFIED if verified else Review.Verdict.REJECTED


def _strength(evidence):
    """What the tab's rate-by-strength groups on: who verified it, the strongest voice winning."""
    roles = set(evidence.reviews.values_list("role", flat=True))
    for role, strength in ((Review.Role.STAFF, Evidence.Strength.STAFF),
                           (Review.Role.SUPERVISOR, Evidence.Strength.SUPERVISOR),
                           (Review.Role.PEER, Evidence.Strength.PEER)):
        if role in roles:
            return strength
    return Evidence.Strength.SELF_REPORT


def evaluate_window(window):
    """
    Recompute a window's state from its verified evidence; must run inside a transaction.

    The window activates at the submission time of the evidence that completed its rule, if that
    time lies inside the window; a later rejection that breaks the rule re-opens or expires it.
    """
    window = ActivationWindow.objects.select_for_update().select_related("definition").get(pk=window.pk)
    # Called after every change to a window's evidence, so the figures (funnel, persistence) change too.
    figures.invalidate(window.definition_id)
    if window.state == ActivationWindow.State.WITHDRAWN:
        return window
    before = (window.state, window.activated_at)
    definition = window.definition
    requirement_ids = set(definition.requirements.values_list("pk", flat=True))
    verified = list(window.evidence.filter(status=Evidence.Status.VERIFIED)
                    .values_list("requirement_id", "submitted_at", "strength"))
    changed = []
    strengths = strength_tags.tag({strength for _req, _at, strength in verified})
    if strengths != window.verified_strengths:
        window.verified_strengths = strengths
        changed.append("verified_strengths")
    activated_at = rules.activation_time(definition.rule, definition.rule_count, requirement_ids,
                                         [(requirement, at) for requirement, at, _strength in verified])
    if activated_at is not None and activated_at <= window.closes_at:
        window.state = ActivationWindow.State.ACTIVATED
        window.activated_at = activated_at
        window.days_to_activation = (activated_at - window.opened_at).days
        window.next_action_at = None
    elif window.state == ActivationWindow.State.ACTIVATED:
        now = timezone.now()
        closed = window.closes_at <= now
        window.state = ActivationWindow.State.EXPIRED if closed else ActivationWindow.State.OPEN
        window.activated_at = window.days_to_activation = None
        # Due at once: the tick sends the reminders the activation stopped (as for any window not yet
        # activated), and moves it on to its next message or its close.
        window.next_action_at = None if closed else now
    if (window.state, window.activated_at) != before:
        changed += ["state", "activated_at", "days_to_activation", "next_action_at"]
    if changed:
        window.save(update_fields=changed)
        tracking.window_changed(window, *before)
    count_after_commit(definition, [window.pk])  # the shared running totals move after the commit
    return window


def review_queue(course_key, *, status=Evidence.Status.SUBMITTED, requirement_id=None, submitted_from=None,
                 submitted_to=None, limit=100, offset=0):
    """
    Evidence of this course's definitions for staff to review, oldest first; ``status`` None or ""
    for every status. One page of ``limit`` from ``offset``, and whether more follow.

    Returns:
        tuple: (evidence list, has_more).

    Raises:
        ActivationRequestError: unknown status or malformed course key.
    """
    queue = evidence_list_in_course(course_key, status=status or None, requirement_id=requirement_id).order_by(
        "submitted_at", "pk")
    if submitted_from:
        queue = queue.filter(submitted_at__date__gte=submitted_from)
    if submitted_to:
        queue = queue.filter(submitted_at__date__lte=submitted_to)
    page = list(queue[offset:offset + limit + 1])
    return page[:limit], len(page) > limit


def pending_reviews(course_key):
    """How many pieces of this run's evidence wait for a verdict (the tab shows it on the queue's link)."""
    return evidence_list_in_course(course_key, status=Evidence.Status.SUBMITTED).count()


def evidence_in_course(course_key, evidence_id):
    """
    One piece of evidence, only if it belongs to a learner of this course run (ids in URLs are
    checked, not trusted; roles are per run).

    Raises:
        ActivationNotFound: no such evidence in this course.
    """
    evidence = (Evidence.objects.select_related("window__user", "requirement")
                .filter(pk=evidence_id, **run_scope(course_key, "window__"))
                .first())
    if evidence is None:
        raise ActivationNotFound(_("No such evidence in this course."), field="evidence")
    return evidence
