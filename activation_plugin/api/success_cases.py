"""
Brinkerhoff's success-case method: the instructor interviews the extremes, the strongest
verified activations and completers who show no sign of using the course, to learn what made
the difference. Per-learner data, so one course run's learners only, and only learners who
have not asked to be left alone.
"""
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone

from activation_plugin.api.queries import run_scope
from activation_plugin.figures.base import ACTIVATED, ended
from activation_plugin.figures.exports import csv_cell
from activation_plugin.models import ActivationWindow, Evidence, PromptOptOut

# Stronger evidence first: a colleague or a KPI saw it, then staff, then peers, then the learner alone.
STRENGTH_RANK = (("supervisor", 4), ("kpi", 4), ("staff", 3), ("peer", 2))
CASE_COLUMNS = ("case", "window_id", "username", "name", "email", "course_run", "completed_at", "activated_at",
                "verified_evidence", "strengths", "interviewed_on", "notes")


def _candidates(definition, course_key):
    """The run's windows of this definition, without learners who opted out of its messages or withdrew."""
    opted_out = PromptOptOut.objects.filter(Q(definition__catalog_course=definition.catalog_course)
                                            | Q(definition__isnull=True))  # an opt-out holds for every version
    return (ActivationWindow.objects.filter(definition=definition, **run_scope(course_key))
            .exclude(state=ActivationWindow.State.WITHDRAWN)
            .exclude(user_id__in=opted_out.values("user_id"))
            .select_related("user"))


def success_cases(definition, course_key, limit=5, now=None):
    """
    Up to ``limit`` learners of each extreme, for follow-up interviews.

    ``successes``: activated windows, strongest evidence first (``STRENGTH_RANK``), then the most
    verified evidence, then the quickest. ``non_users``: prompted completers whose window ended
    with no evidence at all, most recent first (the course is freshest in their mind). Learners
    who opted out of follow-up messages, or withdrew, are never listed: an interview request is
    a message too.

    Returns:
        dict: ``{"successes": [...], "non_users": [...]}``, each a list of windows annotated with
        ``verified_count``.
    """
    now = now or timezone.now()
    windows = _candidates(definition, course_key).annotate(
        verified_count=Count("evidence", filter=Q(evidence__status=Evidence.Status.VERIFIED)))
    rank = Case(*(When(verified_strengths__contains=f",{strength},", then=Value(points))
                  for strength, points in STRENGTH_RANK), default=Value(1), output_field=IntegerField())
    successes = (windows.filter(ACTIVATED).annotate(rank=rank)
                 .order_by("-rank", "-verified_count", "days_to_activation", "pk")[:limit])
    any_evidence = Evidence.objects.filter(window=OuterRef("pk"))
    non_users = (windows.filter(ended(now), arm=ActivationWindow.Arm.PROMPTED)
                 .exclude(ACTIVATED).exclude(Exists(any_evidence)).order_by("-closes_at", "-pk")[:limit])
    return {"successes": list(successes), "non_users": list(non_users)}


def success_case_rows(definition, course_key, limit=20, now=None):
    """The interview sheet: header, then one row per case with empty columns for the interview's date and notes."""
    yield list(CASE_COLUMNS)
    cases = success_cases(definition, course_key, limit=limit, now=now)
    for case, windows in (("success", cases["successes"]), ("non_user", cases["non_users"])):
        for window in windows:
            user = window.user
            yield [csv_cell(value) for value in (
                case, window.pk, user.username, user.get_full_name(), user.email, str(window.course_run),
                window.opened_at, window.activated_at, window.verified_count, window.verified_strengths.strip(","),
                "", "")]
