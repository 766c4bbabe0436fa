"""Activation windows: opened by completions, closed by time, read by learners."""
import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import figures, platform, tracking
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


def new_window(definition, user, course_run, trigger, occurred_at, segment):
    """An unsaved window for this completion: opened at the completion, in the learner's arm."""
    arm = assign_arm(definition, user.pk)
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
    Open a window for every active definition of this course with this trigger. Idempotent:
    a replayed event, a re-pass or a pass in another run keeps the learner's first window.

    A few queries whatever the course size: definitions, the user, one insert, one select.

    Raises:
        ActivationRequestError: malformed course key, trigger or time.
        ActivationNotFound: the user does not exist.
    """
    key = parsed_completion(course_key, trigger, occurred_at)
    # With each definition, the learner's window under it if one exists: a replay costs no insert,
    # and only the windows this event opened are reported.
    definitions = list(ActivationDefinition.objects.filter(
        catalog_course=catalog_course(key), status=ActivationDefinition.Status.ACTIVE, trigger=trigger,
    ).annotate(existing_window=Subquery(
        ActivationWindow.objects.filter(definition=OuterRef("pk"), user_id=user_id).values("pk")[:1]),
        uses_metrics=Exists(EvidenceRequirement.objects.filter(definition=OuterRef("pk"),
                                                               kind=EvidenceRequirement.Kind.METRIC))))
    if not definitions:
        return []
    existing = [definition.existing_window for definition in definitions if definition.existing_window]
    missing = [definition for definition in definitions if not definition.existing_window]
    windows = list(ActivationWindow.objects.filter(pk__in=existing)) if existing else []
    if not missing:
        return windows
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ActivationNotFound(_("User {user_id} does not exist.").format(user_id=user_id), field="user_id")
    segment = platform.segment_for(user, key)
    # The windows and their tallies together, in the caller's transaction if there is one (no savepoint).
    with transaction.atomic(savepoint=False):
        # The unique key makes a concurrent twin of the event a no-op.
        ActivationWindow.objects.bulk_create([new_window(definition, user, key, trigger, occurred_at, segment)
                                              for definition in missing], ignore_conflicts=True)
        # Locked: the twin waits, then finds the windows counted.
        opened = list(ActivationWindow.objects.filter(definition__in=missing, user=user).select_for_update())
        count_opened(missing, opened)
    figures.invalidate(*(definition.pk for definition in missing))
    tracking.windows_opened(opened)
    return windows + opened


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
