"""
Backfill: windows for completers the events missed, read back from the platform's own records.

Events can be missed (an outage, a plugin installed after the fact) and a definition can be
activated in a course that already has completers. ``backfill`` reads the platform's passing
grades or certificates through ``platform.completions``, a batch at a time, and opens the windows
those completions would have opened, at their original time. Running it again opens nothing new.
A backfill of a new version is no second experiment: learners who withdrew, or whose follow-up under
an earlier version covered the same completion, get nothing, and the others keep their arm
(docs/decisions/0012-versions-and-the-experiment.rst).
"""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activation_plugin import figures, platform, tracking
from activation_plugin.api.follow_ups import FollowUp, follow_ups, hold_follow_ups
from activation_plugin.api.tallies import count_opened
from activation_plugin.api.windows import new_window
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import ActivationDefinition, ActivationWindow

DEFAULT_BATCH_SIZE = 1000


def backfill_since(definition):
    """
    The earliest completion a backfill opens a window for: one whose window was still running when
    the definition became active. Older completers would count as not activated, never having been
    asked; later ones are completions the events missed.
    """
    return (definition.activated_at or timezone.now()) - timedelta(days=definition.window_days)


def has_past_completers(definition):
    """Whether the platform has completers since ``backfill_since``: one look at one record."""
    return bool(platform.completions(definition.catalog_course, definition.trigger,
                                     since=backfill_since(definition), limit=1))


def backfill(definition, *, batch_size=DEFAULT_BATCH_SIZE, progress=None):
    """
    Open the windows of this definition's past completers that have none, in batches of
    ``batch_size`` records (memory does not grow with the course). Idempotent and safe to run
    while events arrive: the unique (definition, user) key keeps each learner's first window.

    Args:
        progress: called after each batch with the counts so far.

    Returns:
        dict: ``completions`` read and windows ``opened``.

    Raises:
        ActivationRequestError: the definition is not active.
    """
    if definition.status != ActivationDefinition.Status.ACTIVE:
        raise ActivationRequestError(_("Only an active definition's past completers get windows."), field="status")
    counts, after, since = {"completions": 0, "opened": 0}, 0, backfill_since(definition)
    while True:
        batch = platform.completions(definition.catalog_course, definition.trigger, since=since, after=after,
                                     limit=batch_size)
        if not batch:
            break
        counts["completions"] += len(batch)
        counts["opened"] += _open_batch(definition, batch)
        after = batch[-1].record_id
        if progress:
            progress(dict(counts))
    ActivationDefinition.objects.filter(pk=definition.pk).update(backfilled_at=timezone.now())
    if counts["opened"]:
        figures.invalidate(definition.pk)
    return counts


@transaction.atomic(savepoint=False)
def _open_batch(definition, batch):
    """
    One batch: a few queries whatever its size (the learners' windows in the course, users, their
    follow-up rows written and held, their windows again, segments, insert, select). A learner gets a
    window only where a live completion would have opened one (``FollowUp.may_open``), in the arm they
    already have in the course.
    """
    first = {}
    for completion in sorted(batch, key=lambda completion: completion.completed_at):
        first.setdefault(completion.user_id, completion)
    # Read once without waiting (what forbids a window never goes away: a run again writes nothing),
    # then again with the follow-ups held to the commit: a live completion or another backfill for
    # these learners in the course waits, then finds the windows this batch opened (ADR 0012).
    users = get_user_model().objects.only("pk").in_bulk(_may_open(definition, first, _standing(definition, first)))
    if not users:
        return 0
    hold_follow_ups(users, definition.catalog_course)
    standing = _standing(definition, users)
    users = {user_id: users[user_id] for user_id in _may_open(definition, first, standing) if user_id in users}
    if not users:
        return 0
    segments = platform.segments_for([(user, first[user.pk].course_run) for user in users.values()])
    ActivationWindow.objects.bulk_create([
        new_window(definition, user, completion.course_run, definition.trigger, completion.completed_at,
                   segments[(user.pk, completion.course_run)],
                   arm=standing.get(user.pk, FollowUp()).arm)
        for user, completion in ((user, first[user.pk]) for user in users.values())
    ])
    opened = list(ActivationWindow.objects.filter(definition=definition, user_id__in=users))
    count_opened([definition], opened)
    tracking.windows_opened(opened)
    return len(opened)


def _standing(definition, user_ids):
    """``{user_id: FollowUp}`` of these learners in the definition's catalog course (none: no window there)."""
    return {user_id: follow_up for (user_id, _course), follow_up in
            follow_ups(user_ids, [definition.catalog_course], fields=()).items()}


def _may_open(definition, first, standing):
    """The learners whose first completion in the batch (``first``) opens a window under the definition."""
    return [user_id for user_id in first
            if user_id not in standing or (standing[user_id].may_open(first[user_id].completed_at) and not any(
                window.definition_id == definition.pk for window in standing[user_id].windows))]
