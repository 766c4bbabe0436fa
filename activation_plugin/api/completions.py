"""
Completions as the platform reports them: recorded before anything else, turned into windows, and
retried until that succeeds. A receiver runs inside the platform's signal dispatch, where an
exception is logged by ``send_robust`` and the event is gone; so nothing here raises to it.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin.api.idempotency import forget_idempotency_keys
from activation_plugin.api.messaging import send_due_prompts
from activation_plugin.api.supervision import retry_unsent_invites
from activation_plugin.api.tallies import count_stale, rebuild_missing
from activation_plugin.api.windows import expire_due_windows, open_windows, parsed_completion
from activation_plugin.errors import ActivationRequestError
from activation_plugin.keys import catalog_course
from activation_plugin.models import ActivationDefinition, PendingCompletion

log = logging.getLogger(__name__)

# The receiver processes its own row at once; the tick leaves a fresh row alone this long, so that
# the two do not race, and picks it up after that if the receiver's process died mid-event.
FIRST_RETRY_AFTER = timedelta(minutes=5)
LONGEST_RETRY_WAIT = timedelta(hours=6)


def record_completion(user_id, course_key, trigger, occurred_at):
    """
    The receivers' one call: store the completion, then open its windows once the caller's
    transaction has committed. The platform sends completion events from inside its own writes (a
    certificate's ``save()``, a grade update): the stored row joins that transaction, and is gone if
    it rolls back, but opening windows moves shared running totals (row locks, and a deadlock could
    roll back the platform's write with ours), so it waits for the outermost commit (at once when
    there is no transaction). If opening fails for a reason outside the caller's control (the
    database, the platform), the stored row stays and the tick retries it; the failure is logged,
    never raised.

    Returns:
        list[ActivationWindow]: the windows of this completion; empty if they wait for the caller's
        commit or for a retry.

    Raises:
        ActivationRequestError: malformed course key, trigger, user id or time (nothing to retry).
        DatabaseError: the completion could not even be stored; the receiver hands it to a task.
    """
    key = parsed_completion(course_key, trigger, occurred_at)
    if not isinstance(user_id, int) or user_id <= 0:
        raise ActivationRequestError(_("{user_id} is not a user id.").format(user_id=repr(user_id)), field="user_id")
    if not ActivationDefinition.objects.filter(
            catalog_course=catalog_course(key), status=ActivationDefinition.Status.ACTIVE, trigger=trigger).exists():
        # Most courses of a platform have no definition: one query, and nothing to store. Should one
        # be activated later, activation_backfill finds these completers in the platform's records.
        return []
    now = timezone.now()
    # A savepoint: a failure here leaves the platform's own transaction usable.
    with transaction.atomic():
        PendingCompletion.objects.bulk_create([PendingCompletion(
            user_id=user_id, course_run=key, trigger=trigger, occurred_at=occurred_at,
            received_at=now, next_attempt_at=now + FIRST_RETRY_AFTER,
        )], ignore_conflicts=True)
    pending = PendingCompletion.objects.filter(user_id=user_id, course_run=key, trigger=trigger)
    opened = []
    transaction.on_commit(lambda: opened.extend(_open_or_keep(pending, user_id, key, trigger, occurred_at, now)),
                          robust=True)
    return opened


def retry_pending_completions(now=None, limit=None):
    """
    Open the windows of completions whose first try failed, oldest due first.

    Returns:
        dict: ``retried`` rows tried and ``pending`` rows still waiting after this run.
    """
    now = now or timezone.now()
    limit = limit or settings.ACTIVATION_TICK_BATCH_SIZE
    due = list(PendingCompletion.objects.filter(next_attempt_at__lte=now).order_by("next_attempt_at")[:limit])
    for row in due:
        _open_or_keep(PendingCompletion.objects.filter(pk=row.pk), row.user_id, row.course_run, row.trigger,
                      row.occurred_at, now)
    return {"retried": len(due), "pending": PendingCompletion.objects.count()}


def tick(now=None):
    """
    The periodic work: everything due by ``now``. Safe to run from several workers at once.

    Completions waiting for a retry go first: the windows they open may be due for a prompt.
    The running totals of evidence changes whose move after their commit failed are moved
    (``tallies_counted``).
    REST idempotency keys past the day they are kept for go last.
    """
    now = now or timezone.now()
    completions = retry_pending_completions(now=now)
    done = {
        "completions_retried": completions["retried"], "completions_pending": completions["pending"],
        **send_due_prompts(now=now), "expired": expire_due_windows(now=now),
        "invitations_retried": retry_unsent_invites(now=now), "tallies_counted": count_stale(),
        "tallies_built": rebuild_missing(),
    }
    forget_idempotency_keys(now)
    return done


def _open_or_keep(pending, user_id, course_key, trigger, occurred_at, now):
    """Open the windows and drop the row, in one savepoint; on failure keep the row and say why."""
    try:
        with transaction.atomic():
            windows = open_windows(user_id, course_key, trigger, occurred_at)
            pending.delete()
        return windows
    except ActivationRequestError as exc:
        # The event itself is wrong (an unknown user): retrying cannot help, and nothing valid is lost.
        log.warning("activation: dropped %s completion of user %s in %s: %s", trigger, user_id, course_key, exc)
        pending.delete()
        return []
    except Exception as exc:  # pylint: disable=broad-except
        # Anything else (a lock timeout, a lost connection, a platform error) is retried by the tick.
        log.warning("activation: %s completion of user %s in %s kept for a retry: %r",
                    trigger, user_id, course_key, exc, exc_info=True)
        _note_failure(pending, exc, now)
        return []


def _note_failure(pending, exc, now):
    """Count the attempt and back off; if even that cannot be written, the row's own schedule stands."""
    try:
        with transaction.atomic():
            row = pending.first()
            if row is not None:
                wait = min(FIRST_RETRY_AFTER * (2 ** row.attempts), LONGEST_RETRY_WAIT)
                pending.update(attempts=row.attempts + 1, next_attempt_at=now + wait, last_error=repr(exc)[:2000])
    except DatabaseError:
        log.warning("activation: could not record the failed attempt: %r", exc)
