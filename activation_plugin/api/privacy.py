"""
Retirement and withdrawal: erase a learner's personal data, keep anonymous counts right. A retired
instructor's account id leaves the definitions' audit trail too.
"""

from django.db import transaction
from django.utils import timezone

from activation_plugin import figures, tracking
from activation_plugin.api.follow_ups import hold_follow_ups
from activation_plugin.api.tallies import count_after_commit, retally_learners
from activation_plugin.api.windows import learner_window
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    IdempotentRequest,
    IdentityLink,
    MetricObservation,
    PeerAssignment,
    PendingCompletion,
    Review,
    SupervisorInvite,
)


@transaction.atomic
def retire_user(user_id):
    """
    Remove what this plugin holds about a retired learner while keeping anonymous counts right:
    windows stay (state and dates only), their evidence content, files, supervisors' emails,
    identity links and KPI links are erased.

    Returns:
        dict: how many rows of each kind were changed.
    """
    figures.invalidate_observations()  # the learner's KPI observations become unmatched identities
    erased = {
        "evidence": _erase_evidence(Evidence.objects.filter(window__user_id=user_id)),
        "reviews_written": Review.objects.filter(reviewer_id=user_id).update(reviewer=None, comment=""),
        "peer_assignments": PeerAssignment.objects.filter(reviewer_id=user_id).delete()[0],
        "supervisor_invites": SupervisorInvite.objects.filter(window__user_id=user_id).delete()[0],
        "identity_links": IdentityLink.objects.filter(user_id=user_id).delete()[0],
        "observations": MetricObservation.objects.filter(user_id=user_id).update(user=None),
        "pending_completions": PendingCompletion.objects.filter(user_id=user_id).delete()[0],
        "definitions_authored": _forget_author(user_id),
        "idempotent_requests": IdempotentRequest.objects.filter(user_id=user_id).delete()[0] + _erase_replies(user_id),
    }
    retally_learners([user_id])  # their windows stay; the KPI observations no longer count for them
    return erased


def _erase_replies(user_id):
    """
    Stored REST replies of other clients that show this learner (a staff review's reply holds the
    evidence, its username and text): dropped, since a reply can only be replayed whole. The table
    keeps a day of writes (``idempotency.KEPT_FOR``), so reading it through is bounded; a client
    retrying one of these writes sends it again, which the write's own checks answer.
    """
    mentioning = [row.pk for row in IdempotentRequest.objects.exclude(response=None).only("pk", "response").iterator()
                  if _mentions(row.response, user_id)]
    return IdempotentRequest.objects.filter(pk__in=mentioning).delete()[0]


def _mentions(data, user_id):
    """Whether a serialized reply describes ``user_id``'s data: any object in it with their ``user_id``."""
    if isinstance(data, dict):
        return data.get("user_id") == user_id or any(_mentions(value, user_id) for value in data.values())
    if isinstance(data, list):
        return any(_mentions(value, user_id) for value in data)
    return False


def _forget_author(user_id):
    """An instructor's account id in a definition's audit trail (who created it, who registered its plan)."""
    created = ActivationDefinition.objects.filter(created_by_id=user_id).update(created_by=None)
    registered = 0
    for definition in ActivationDefinition.objects.filter(comparison_plan__registered_by=user_id):
        definition.comparison_plan = {**definition.comparison_plan, "registered_by": None}
        definition.save(update_fields=["comparison_plan"])
        registered += 1
    return created + registered


def _erase_evidence(evidence):
    """
    Erase by primary key, which reviews lock first too. An UPDATE filtered through the window
    would lock the evidence's (window, status) index entries before their rows, the reverse of
    a review that locks a row and then changes its status: on MariaDB the two deadlock.
    """
    ids = list(evidence.values_list("pk", flat=True))
    for item in Evidence.objects.filter(pk__in=ids).exclude(file="").exclude(file__isnull=True):
        item.file.delete(save=False)
    # What reviewers wrote about the work goes with it, and so does a supervisor's address: the
    # verdicts stay, so the counts stay right.
    Review.objects.filter(evidence_id__in=ids).update(reviewer_email=None, comment="")
    return Evidence.objects.filter(pk__in=ids).update(payload={}, file=None)


@transaction.atomic
def withdraw_window(user, course_key, window_id):
    """
    A learner withdraws their consent to the course's follow-up: the window, and their windows under
    every other definition and version of the catalog course (one follow-up per course, ADR 0012),
    leave every figure and export, prompts stop, what they submitted is erased and pending supervisor
    links stop working. No later completion opens a window in the course again. Idempotent; a
    replayed completion event cannot reopen it.

    Raises:
        ActivationNotFound: not one of this learner's windows in this course.
    """
    window = learner_window(user, course_key, window_id)
    # Held to the commit: a completion or backfill opening a window for them in the course meanwhile
    # waits, then finds them withdrawn, or is waited for and its window withdrawn here.
    hold_follow_ups([user.pk], window.definition.catalog_course)
    windows = list(ActivationWindow.objects.filter(
        user=user, definition__catalog_course=window.definition.catalog_course).select_related("definition"))
    for each in windows:
        if ActivationWindow.objects.filter(pk=each.pk).exclude(state=ActivationWindow.State.WITHDRAWN).update(
                state=ActivationWindow.State.WITHDRAWN, next_action_at=None):
            tracking.window_withdrawn(each)
    ids = [each.pk for each in windows]
    _erase_evidence(Evidence.objects.filter(window_id__in=ids))
    SupervisorInvite.objects.filter(window_id__in=ids, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    for each in windows:
        count_after_commit(each.definition, [each.pk])  # the shared running totals move after the commit
    figures.invalidate(*{each.definition_id for each in windows})
    window.refresh_from_db()
    return window
