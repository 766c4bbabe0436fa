"""
Peer review, the MOOC case: completers volunteer to review each other's applied projects.
A volunteer gets one submission at a time — never their own, never one they already had, and,
where another is available, not from someone who reviewed their own work (reciprocal pairs).
"""
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin.api.evidence import review_evidence, rubric_verdict
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import (
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    PeerAssignment,
    Review,
)


def _active(now):
    return Q(completed_at__isnull=True, due_at__gt=now)


def current_peer_assignment(reviewer, course_key, now=None):
    """The volunteer's unfinished, unexpired assignment in this course, if any."""
    now = now or timezone.now()
    return (PeerAssignment.objects.filter(_active(now), reviewer=reviewer,
                                          evidence__window__definition__catalog_course=catalog_course(
                                              parse_course_key(course_key)))
            .select_related("evidence__requirement", "evidence__window__definition").first())


def _course_definitions(reviewer, course_key):
    """The definitions of this course the reviewer has a window in: a volunteer must have completed it."""
    return list(ActivationWindow.objects.filter(
        user=reviewer, definition__catalog_course=catalog_course(parse_course_key(course_key)),
    ).values_list("definition_id", flat=True))


def _reviewable(reviewer, definitions, now):
    """
    Submissions the volunteer may be handed, each with its ``load`` (reviews done or under way):
    awaiting peer review, not their own, never one they already had, not yet filled.
    """
    return (
        Evidence.objects.filter(
            window__definition_id__in=definitions, status=Evidence.Status.SUBMITTED,
            requirement__verification=EvidenceRequirement.Verification.PEER,
        )
        .exclude(window__user=reviewer)
        .exclude(window__state=ActivationWindow.State.WITHDRAWN)
        .exclude(peer_assignments__reviewer=reviewer)
        .exclude(reviews__reviewer=reviewer)
        .annotate(load=Count("peer_assignments", filter=Q(peer_assignments__completed_at__isnull=False)
                             | Q(peer_assignments__due_at__gt=now), distinct=True))
        .filter(load__lt=F("requirement__reviews_required"))
    )


def peer_review_waiting(reviewer, course_key):
    """
    Whether the learner page should invite this learner to review a peer: they hold an assignment,
    or a submission they may review waits. A course without peer review never shows the invitation.
    """
    now = timezone.now()
    if current_peer_assignment(reviewer, course_key, now) is not None:
        return True
    definitions = _course_definitions(reviewer, course_key)
    return bool(definitions) and _reviewable(reviewer, definitions, now).exists()


def request_peer_assignment(reviewer, course_key):
    """
    Hand the volunteer a submission to review, or return the one they already hold.

    Returns:
        PeerAssignment or None when nothing needs a review from them.

    Raises:
        ActivationRequestError: the volunteer has not completed this course.
    """
    now = timezone.now()
    definitions = _course_definitions(reviewer, course_key)
    if not definitions:
        raise ActivationRequestError(_("Reviewers are learners who completed this course."), field="reviewer")
    held = current_peer_assignment(reviewer, course_key, now)
    if held is not None:
        return held
    reviewed_me = Review.objects.filter(reviewer=OuterRef("window__user"), evidence__window__user=reviewer)
    candidates = (
        _reviewable(reviewer, definitions, now)
        .annotate(reciprocal=Exists(reviewed_me))
        .order_by("reciprocal", "load", "submitted_at", "pk")
        .values_list("pk", flat=True)[:20]
    )
    for evidence_id in candidates:
        assignment = _assign(evidence_id, reviewer, now)
        if assignment is not None:
            return assignment
    return None


@transaction.atomic
def _assign(evidence_id, reviewer, now):
    """Assign under the evidence row's lock, so two volunteers never over-fill one submission."""
    evidence = Evidence.objects.select_for_update().select_related("requirement").get(pk=evidence_id)
    load = evidence.peer_assignments.filter(Q(completed_at__isnull=False) | Q(due_at__gt=now)).count()
    if evidence.status != Evidence.Status.SUBMITTED or load >= evidence.requirement.reviews_required:
        return None
    # An expired assignment of this volunteer blocks a second try at the same submission.
    try:
        with transaction.atomic():
            return PeerAssignment.objects.create(
                evidence=evidence, reviewer=reviewer, assigned_at=now,
                due_at=now + timedelta(hours=settings.ACTIVATION_PEER_REVIEW_HOURS))
    except IntegrityError:
        return None


@transaction.atomic
def submit_peer_review(assignment_id, reviewer, *, scores=None, verdict=None, comment=""):
    """
    Record the volunteer's review of their assigned submission. With a rubric, the verdict follows
    from the score (at least ``pass_ratio`` of the points); without one, the volunteer gives it.

    Raises:
        ActivationNotFound: not this volunteer's assignment.
        ActivationRequestError: already done, returned to the pool, or invalid scores.
    """
    assignment = (PeerAssignment.objects.select_for_update().select_related("evidence__requirement")
                  .filter(pk=assignment_id, reviewer=reviewer).first())
    if assignment is None:
        raise ActivationNotFound(_("No such review assignment."), field="assignment")
    if assignment.completed_at:
        raise ActivationRequestError(_("You already reviewed this project. Thank you!"), field="assignment")
    now = timezone.now()
    if assignment.due_at <= now:
        raise ActivationRequestError(_("The time for this review ran out; it went back to the pool."),
                                     field="assignment")
    config = assignment.evidence.requirement.config
    if config.get("rubric"):
        verdict, ratio = rubric_verdict(config, scores)
    else:
        ratio = None
        if verdict not in Review.Verdict.values:
            raise ActivationRequestError(_("Say whether the project shows the behaviour."), field="verdict")
    if not str(comment).strip():
        raise ActivationRequestError(_("Leave the learner a comment: it is what they learn from."), field="comment")
    review = review_evidence(assignment.evidence, verdict=verdict, role=Review.Role.PEER, reviewer=reviewer,
                             score=ratio, checklist=scores or {}, comment=str(comment).strip())
    assignment.completed_at = now
    assignment.save(update_fields=["completed_at"])
    return review
