"""Retirement: erase a learner's personal data, keep anonymous counts."""

from django.db import transaction

from activation_plugin import figures

from activation_plugin.models import (
    Evidence,
    IdentityLink,
    MetricObservation,
    PeerAssignment,
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
    evidence = Evidence.objects.filter(window__user_id=user_id)
    for item in evidence.exclude(file="").exclude(file__isnull=True):
        item.file.delete(save=False)
    figures.invalidate_observations()  # the learner's KPI observations become unmatched identities
    return {
        "evidence": evidence.update(payload={}, file=None),
        "reviews_written": Review.objects.filter(reviewer_id=user_id).update(reviewer=None, comment=""),
        "peer_assignments": PeerAssignment.objects.filter(reviewer_id=user_id).delete()[0],
        "supervisor_invites": SupervisorInvite.objects.filter(window__user_id=user_id).delete()[0],
        "identity_links": IdentityLink.objects.filter(user_id=user_id).delete()[0],
        "observations": MetricObservation.objects.filter(user_id=user_id).update(user=None),
    }
