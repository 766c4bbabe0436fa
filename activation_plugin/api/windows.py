"""Activation windows: opened by completions, closed by time, read by learners."""
import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import figures, platform, tracking
from activation_plugin.api.follow_ups import FollowUp, follow_ups, hold_follow_ups
from activation_plugin.api.tallies import count_opened
from activation_plugin.errors import (
    ActivationNotFound,
    ActivationRequestError,
)
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    EvidenceRequirement,
)


def assign_arm(definition, user_id):
    """Randomised but reproducible: a hash of the definition's secret seed and the learner."""
    if definition.holdout_percent <= 0:
        return ActivationWindow.Arm.PROMPTED
    digest = hashlib.sha256(f"{definition.holdout_seed}:{user_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") % 10_000
    return ActivationWindow.Arm.HOLDOUT if draw < definition.holdout_percent * 100 else ActivationWindow.Arm.PROMPTED


def new_window(definition, user, course_run, trigger, occurred_at, segment, arm=None):
    """
    An unsaved window for this completion: opened at the completion, in the learner's arm (``arm``,
    the one they have in the course already, or a draw).
    """
    arm = arm or assign_arm(definition, user.pk)
    closes_at = occurred_at + timedelta(days=definition.window_days)
    return ActivationWindow(
        definition=definition, user=user, course_run=course_run, trigger=trigger, opened_at=occurred_at,
        closes_at=closes_at, next_action_at=occurred_at if arm == ActivationWindow.Arm.PROMPTED else closes_at,
        arm=arm, **segment,
    )


def parsed_completion(course_key, trigger, occurred_at):
    """
    The course key of a well-formed completion.

    Raises:
        ActivationRequestError: malformed course key, trigger or time.
    """
    key = parse_course_key(course_key)
    if trigger not in ActivationDefinition.Trigger.values:
        raise ActivationRequestError(_("Unknown trigger {trigger}.").format(trigger=repr(trigger)), field="trigger")
    if not isinstance(occurred_at, datetime) or timezone.is_naive(occurred_at):
        raise ActivationRequestError(_("The completion time must be a timezone-aware datetime."), field="occurred_at")
    return key


def open_windows(user_id, course_key, trigger, occurred_at):
    """
    Open the learner's window under the course's active definition with this trigger (the newest,
    should several be active). Idempotent: a replayed event, a re-pass or a pass in another run keeps
    the learner's first window. One follow-up per learner and catalog course across definitions and
    versions (``follow_ups``): none after a withdrawal, none while another window runs, and the arm
    they already have.

    A few queries whatever the course size: definitions, the learner's windows in the course (a replay
    stops there), the user, the learner's follow-up row written and held (``hold_follow_ups``: a
    concurrent completion or backfill for them in the course waits, then sees this window), their
    windows again, one insert, one select.

    Returns:
        list[ActivationWindow]: the learner's windows under the course's active definitions with this
        trigger, the one this event opened included.

    Raises:
        ActivationRequestError: malformed course key, trigger or time.
        ActivationNotFound: the user does not exist.
    """
    key = parsed_completion(course_key, trigger, occurred_at)
    course = catalog_course(key)
    definitions = list(ActivationDefinition.objects.filter(
        catalog_course=course, status=ActivationDefinition.Status.ACTIVE, trigger=trigger,
    ).annotate(uses_metrics=Exists(EvidenceRequirement.objects.filter(
        definition=OuterRef("pk"), kind=EvidenceRequirement.Kind.METRIC,
    ))).order_by(F("activated_at").desc(nulls_last=True), "-pk"))
    if not definitions:
        return []
    newest = definitions[0]
    # Read once without waiting: what forbids a window (one under the newest definition, a withdrawal,
    # a window running at the completion) never goes away, so a replay writes and waits for nothing.
    follow_up, windows = _standing(user_id, course, definitions)
    if not _may_open(follow_up, windows, newest, occurred_at):
        return windows
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ActivationNotFound(_("User {user_id} does not exist.").format(user_id=user_id), field="user_id")
    # Then again with the learner's follow-up held, the window and its tallies written with it, in the
    # caller's transaction if there is one (no savepoint): a concurrent completion or backfill for the
    # learner in the course waits for the commit and then finds this window (ADR 0012).
    with transaction.atomic(savepoint=False):
        hold_follow_ups([user_id], course)
        follow_up, windows = _standing(user_id, course, definitions)
        if not _may_open(follow_up, windows, newest, occurred_at):
            return windows
        ActivationWindow.objects.bulk_create([new_window(newest, user, key, trigger, occurred_at,
                                                         platform.segment_for(user, key), arm=follow_up.arm)])
        opened = list(ActivationWindow.objects.filter(definition=newest, user=user))
        count_opened([newest], opened)
    figures.invalidate(newest.pk)
    tracking.windows_opened(opened)
    return windows + opened


def _standing(user_id, course, definitions):
    """The learner's follow-up in the course, and their windows under these (active) definitions."""
    follow_up = follow_ups([user_id], [course]).get((user_id, course), FollowUp())
    active = {definition.pk for definition in definitions}
    return follow_up, [window for window in follow_up.windows if window.definition_id in active]


def _may_open(follow_up, windows, newest, occurred_at):
    """Whether this completion opens a window under ``newest``: none there yet, and ``FollowUp.may_open``."""
    return not any(window.definition_id == newest.pk for window in windows) and follow_up.may_open(occurred_at)


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
            windows = list(
                ActivationWindow.objects.select_for_update(skip_locked=True)
                .filter(state=ActivationWindow.State.OPEN, next_action_at__lte=now, closes_at__lte=now)
                .order_by("next_action_at").only(*tracking.WINDOW_FIELDS)[:batch_size]
            )
            if not windows:
                return expired
            expired += ActivationWindow.objects.filter(
                pk__in=[window.pk for window in windows], state=ActivationWindow.State.OPEN,
            ).update(state=ActivationWindow.State.EXPIRED, next_action_at=None)
            tracking.windows_expired(windows, now)


def learner_windows(user, course_key):
    """A learner's windows for this course, with the requirements and the evidence they submitted."""
    key = parse_course_key(course_key)
    return list(
        ActivationWindow.objects.filter(user=user, definition__catalog_course=catalog_course(key))
        .select_related("definition")
        .prefetch_related("definition__requirements", "evidence__reviews", "supervisor_invites")
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
        raise ActivationNotFound(_("No such activation window."), field="window")
    return window


def windows_from_before_activation(definition):
    """
    How many of the definition's windows date from a completion before it was active: the ones
    "Open windows for past completers" opened (live completions open windows dated now).
    """
    if definition.activated_at is None:
        return 0
    return ActivationWindow.objects.filter(definition=definition, opened_at__lt=definition.activated_at).count()
