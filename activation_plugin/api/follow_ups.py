"""
A learner's follow-up in a catalog course, across its definitions and their versions.

A new version (or any second definition) of a course must not give a learner a fresh random arm,
a second follow-up beside a running one, or messages they declined under an earlier version: the
pre-registered holdout would be redrawn after results were visible, and consent given or withdrawn
once would hold for one definition only. So the unit of the experiment and of consent is the
learner and the catalog course, read here from the learner's windows in every definition of it.
(docs/decisions/0012-versions-and-the-experiment.rst)
"""
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F
from django.utils import timezone

from activation_plugin.models import ActivationDefinition, ActivationWindow, CourseFollowUp, PromptOptOut


@dataclass
class FollowUp:
    """A learner's windows in one catalog course, in the order they opened."""

    windows: list = field(default_factory=list)

    @property
    def arm(self):
        """The arm of their first window: theirs for the course, never drawn again."""
        return self.windows[0].arm if self.windows else None

    @property
    def withdrawn(self):
        """Withdrawing from one window withdraws consent for the course's follow-up."""
        return any(window.state == ActivationWindow.State.WITHDRAWN for window in self.windows)

    def may_open(self, occurred_at):
        """
        Whether a completion at ``occurred_at`` may open a window under another definition: not after
        a withdrawal, and only once every window they have ended before it (a completion that fell
        inside a window, or a backfill reading the completion that opened one, already has its follow-up).
        """
        return not self.withdrawn and all(window.closes_at <= occurred_at for window in self.windows)

    def running_window_id(self, now):
        """The one running window that may be followed up: the first opened (later twins stay silent)."""
        return next((window.pk for window in self.windows
                     if window.state == ActivationWindow.State.OPEN and window.closes_at > now), None)


def hold_follow_ups(user_ids, catalog_course):
    """
    Write these learners' ``CourseFollowUp`` rows in the catalog course, creating the missing ones,
    and hold them to the caller's commit. Call it inside the transaction that reads their windows
    and opens or withdraws one: a concurrent one for the same learner waits here until this one
    commits, then reads the window it opened (read committed, Django's isolation on MySQL and
    MariaDB; SQLite has one writer at a time). An insert-or-update takes the row's exclusive lock at
    once: an insert that skips a duplicate takes a shared one, and two of those waiting to upgrade
    deadlock. In user order, so two batches lock their common learners in the same order.
    """
    now = timezone.now()
    by_target = connection.features.supports_update_conflicts_with_target  # SQLite's ON CONFLICT names it
    CourseFollowUp.objects.bulk_create(
        [CourseFollowUp(user_id=user_id, catalog_course=catalog_course, checked_at=now)
         for user_id in sorted(set(user_ids))],
        update_conflicts=True, update_fields=["checked_at"],
        unique_fields=["user", "catalog_course"] if by_target else None,
    )


def follow_ups(user_ids, catalog_courses, fields=None):
    """
    ``{(user_id, catalog_course): FollowUp}`` for these learners in these catalog courses, in one query;
    a learner with no window there has none.

    Args:
        fields: window fields to load (all by default); the ones ``FollowUp`` reads are always loaded.
    """
    windows = ActivationWindow.objects.filter(
        user_id__in=user_ids, definition__catalog_course__in=catalog_courses,
    ).annotate(catalog_course=F("definition__catalog_course")).order_by("opened_at", "pk")
    if fields is not None:
        windows = windows.only("user_id", "definition_id", "arm", "state", "opened_at", "closes_at", *fields)
    found = {}
    for window in windows:
        found.setdefault((window.user_id, window.catalog_course), FollowUp()).windows.append(window)
    return found


def silenced_windows(windows, now):
    """
    The ids of ``windows`` that get no message: their learner is held out in the course (by their
    first window's arm), withdrew from any of its windows, opted out of any of its definitions or of
    all, or this is not their one running follow-up there. Two queries whatever the batch.
    """
    user_ids = {window.user_id for window in windows}
    courses = ActivationDefinition.objects.filter(
        pk__in={window.definition_id for window in windows}).values("catalog_course")
    standing = follow_ups(user_ids, courses, fields=())
    course_of = {window.pk: course for (_user, course), follow_up in standing.items() for window in follow_up.windows}
    opted_out = set(PromptOptOut.objects.filter(user_id__in=user_ids)
                    .values_list("user_id", "definition__catalog_course"))
    silenced = set()
    for window in windows:
        course = course_of[window.pk]
        follow_up = standing[(window.user_id, course)]
        if (follow_up.arm == ActivationWindow.Arm.HOLDOUT or follow_up.withdrawn
                or follow_up.running_window_id(now) != window.pk
                or {(window.user_id, None), (window.user_id, course)} & opted_out):
            silenced.add(window.pk)
    return silenced
