"""Follow-up prompts, reminders and nudges: claimed at most once, then sent; and opt-outs."""
import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Max
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from activation_plugin import figures, links, platform, prompts, toggles, tracking
from activation_plugin.api.follow_ups import silenced_windows
from activation_plugin.api.tallies import count_pending_prompts, count_prompted
from activation_plugin.errors import (
    ActivationNotFound,
)
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    FollowUpPrompt,
    MetricObservation,
    PromptDelivery,
    PromptOptOut,
)

log = logging.getLogger(__name__)


def send_due_prompts(now=None, batch_size=None):
    """
    Send the prompts and reminders that fell due, at most once each.

    Each batch of due windows is locked (``skip_locked``: concurrent ticks take other rows), its
    messages are *claimed* as ``queued`` by inserting their unique ``PromptDelivery`` rows and the
    windows' ``next_action_at`` moves on; the claims commit before anything is sent. The batch is
    then sent in groups of ``ACTIVATION_TICK_SEND_GROUP`` messages: a group turns ``sending`` in one
    commit just before it goes out and is recorded ``sent`` in one statement after, so a tick that
    dies leaves at most the group in flight ambiguous. Its ``queued`` claims are taken back by a
    later tick once ``ACTIVATION_TICK_CLAIM_LEASE_MINUTES`` have passed (``reclaim_stale_claims``),
    while a ``sending`` claim that old is reported (``ambiguous``) for an operator to resend or give
    up (``activation_prompt_claims``), never re-sent on a guess. A send that fails is marked
    ``failed`` at once and retried by a later tick.

    The windows a batch makes prompted are counted in the tallies once per batch, after its sends
    (``count_prompted``). The claim marks those windows ``tally_pending``, so the windows of a tick
    that died before counting them are recounted by the next one (``count_pending_prompts``).

    Returns:
        dict: ``sent``, ``failed``, ``reclaimed`` (claims of a dead tick taken back) and ``ambiguous``
        (claims that may or may not have been sent, waiting for an operator) counts.
    """
    if toggles.mail_paused():
        # Nothing claimed: every due window stays due for the first tick after the switch is off.
        return {"sent": 0, "failed": 0, "reclaimed": 0, "ambiguous": 0, "paused": True}
    now = now or timezone.now()
    batch_size = batch_size or settings.ACTIVATION_TICK_BATCH_SIZE
    totals = {"sent": 0, "failed": 0, "reclaimed": reclaim_stale_claims(now)}
    count_pending_prompts(in_flight=PromptDelivery.objects.filter(
        status__in=(PromptDelivery.Status.QUEUED, PromptDelivery.Status.SENDING), claimed_at__gte=now - _lease()))
    group_size = settings.ACTIVATION_TICK_SEND_GROUP
    shared = _Shared()
    while True:
        claims = _claim_due_messages(now, batch_size)
        if claims is None:
            totals["ambiguous"] = stale_claims(now, PromptDelivery.Status.SENDING).count()
            return totals
        languages = platform.languages_for([delivery.window.user for delivery, _message in claims])
        started, sent_windows, definitions = set(), set(), {}
        for start in range(0, len(claims), group_size):
            for delivery, message, sent in _send_group(claims[start:start + group_size], now, languages, shared):
                started.add(delivery.window)
                totals["sent" if sent else "failed"] += 1
                if sent:
                    sent_windows.add(delivery.window_id)
                definitions[delivery.window.definition_id] = message.prompt.requirement.definition
        count_prompted(definitions, [window for window in started if window.tally_pending], sent_windows)


def _send_group(claims, now, languages, shared=None):
    """
    Send one group of a batch's claims: turned ``sending`` together in one commit just before they go
    out, handed to the mail backend over one connection, recorded ``sent`` together in one statement
    (a failed send is recorded at once, to be retried). Two commits per group instead of two per
    message; the price is that a tick dying meanwhile leaves the whole group in doubt.

    ``languages``: ``{user_id: language}``; ``shared``: the tick's ``_Shared``, if the group is one of many.

    Returns:
        list: ``(delivery, message, sent)`` for each claim the group started; a claim another tick
        took back (this one outlived its lease) is left to that tick.
    """
    shared = shared or _Shared()
    started = PromptDelivery.start_sending([delivery.pk for delivery, _message in claims], now)
    outcomes = []
    with platform.mail_session() as session:
        for delivery, message in claims:
            if delivery.pk not in started:
                continue
            sent = _deliver(delivery, message, now, shared, languages[delivery.window.user_id], session)
            outcomes.append((delivery, message, sent))
        # Before the session closes: a mail server slow to say goodbye must not leave accepted mail in doubt.
        PromptDelivery.record_sent([delivery.pk for delivery, _message, sent in outcomes if sent], now)
    for delivery, message, sent in outcomes:
        if sent:
            tracking.prompt_sent(delivery, message.prompt, now)
    return outcomes


def _lease():
    return timedelta(minutes=settings.ACTIVATION_TICK_CLAIM_LEASE_MINUTES)


def stale_claims(now, status):
    """Claims in ``status`` made longer ago than the lease: a tick that made them is gone."""
    return PromptDelivery.objects.filter(status=status, claimed_at__lt=now - _lease())


@transaction.atomic
def reclaim_stale_claims(now):
    """
    Give the ``queued`` claims of a tick that died back to the retry path: marked ``failed`` (nothing
    was sent) and their open windows due again, so the claim below sends them once, in order.

    Returns:
        int: how many claims were taken back.
    """
    stale = list(stale_claims(now, PromptDelivery.Status.QUEUED).select_for_update(skip_locked=True)
                 .values_list("pk", "window_id"))
    if not stale:
        return 0
    PromptDelivery.objects.filter(pk__in=[pk for pk, _window in stale]).update(
        status=PromptDelivery.Status.FAILED, last_error=_("The tick stopped before sending it; sent again."))
    ActivationWindow.objects.filter(pk__in={window for _pk, window in stale}, state=ActivationWindow.State.OPEN,
                                    closes_at__gt=now).update(next_action_at=now)
    log.warning("activation: took back %s prompt claims of a tick that stopped before sending them", len(stale))
    return len(stale)


@transaction.atomic
def settle_ambiguous_claims(*, resend, now=None):
    """
    An operator's decision on the claims a dead tick left ``sending``, which may or may not have
    left the mail server: ``resend`` makes them due again (a learner may get the message twice),
    otherwise they are given up (``skipped``; the learner may have got nothing). Either way the
    figures count them as not prompted until a send is recorded.

    Returns:
        int: how many claims were settled.
    """
    now = now or timezone.now()
    ambiguous = list(stale_claims(now, PromptDelivery.Status.SENDING).select_for_update()
                     .values_list("pk", "window_id"))
    ids = [pk for pk, _window in ambiguous]
    if resend:
        PromptDelivery.objects.filter(pk__in=ids).update(
            status=PromptDelivery.Status.FAILED, last_error=_("Resent by an operator after the tick stopped."))
        ActivationWindow.objects.filter(pk__in={window for _pk, window in ambiguous},
                                        state=ActivationWindow.State.OPEN, closes_at__gt=now).update(
            next_action_at=now)
    else:
        PromptDelivery.objects.filter(pk__in=ids).update(
            status=PromptDelivery.Status.SKIPPED, last_error=_("Given up by an operator after the tick stopped."))
    return len(ids)


@transaction.atomic
def _claim_due_messages(now, batch_size):
    """Claim the due messages of one batch of windows; None once no window is due."""
    windows = list(
        ActivationWindow.objects.select_for_update(skip_locked=True)
        .filter(state=ActivationWindow.State.OPEN, next_action_at__lte=now, closes_at__gt=now)
        .order_by("next_action_at")[:batch_size]
    )
    if not windows:
        return None
    # Not select_related: MariaDB cannot restrict FOR UPDATE to the window rows.
    users = get_user_model().objects.in_bulk({window.user_id for window in windows})
    silenced = silenced_windows(windows, now)  # held out, withdrawn or opted out in any version, or a twin
    definition_ids = {window.definition_id for window in windows}
    prompts_by_definition = {}
    for prompt in FollowUpPrompt.objects.filter(requirement__definition_id__in=definition_ids).select_related(
            "requirement__definition"):
        prompts_by_definition.setdefault(prompt.requirement.definition_id, []).append(prompt)
    # Grouped by window once, so each window's lookups below are dictionary reads, not scans of the batch.
    claimed = defaultdict(dict)
    for delivery in PromptDelivery.objects.filter(window__in=windows):
        claimed[delivery.window_id][(delivery.prompt_id, delivery.kind, delivery.sequence)] = delivery
    answered_by_window = defaultdict(set)
    # "Not yet" (an answer that does not meet the survey's activation condition) is no reason to stop
    # asking: the reminders go on, and the learner may change the answer until the window closes.
    answers = (Evidence.objects.filter(window__in=windows).exclude(status=Evidence.Status.NOT_MET)
               .values_list("window_id", "requirement_id"))
    for window_id, requirement_id in answers:
        answered_by_window[window_id].add(requirement_id)
    arrivals = _observation_arrivals(users, min(window.opened_at for window in windows))
    claims, new_rows, retry_ids, overtaken_ids = [], [], [], []
    for window in windows:
        window.user = users[window.user_id]
        messages = prompts.schedule(window.opened_at, prompts_by_definition.get(window.definition_id, []),
                                    _first_arrivals(arrivals.get(window.user_id, []), window.opened_at))
        if window.arm == ActivationWindow.Arm.HOLDOUT or window.pk in silenced:
            messages = []
        claims_of_window = claimed[window.pk]
        done = {key for key, d in claims_of_window.items() if d.status != PromptDelivery.Status.FAILED}
        todo = prompts.pending(messages, done, answered_by_window[window.pk])
        send, skip = prompts.split_catch_up([m for m in todo if m.due_at <= now])
        for message in send:
            delivery = claims_of_window.get(message.key)
            if delivery is None:
                delivery = PromptDelivery(window=window, prompt=message.prompt, kind=message.kind,
                                          sequence=message.sequence, claimed_at=now,
                                          status=PromptDelivery.Status.QUEUED)
                new_rows.append(delivery)
            else:  # a failed send, claimed again
                retry_ids.append(delivery.pk)
                delivery.window, delivery.claimed_at = window, now
            claims.append((delivery, message))
        # A failed claim overtaken by a later message is skipped too, never sent after it.
        overtaken_ids += [claims_of_window[m.key].pk for m in skip if m.key in claims_of_window]
        new_rows += [PromptDelivery(window=window, prompt=m.prompt, kind=m.kind, sequence=m.sequence,
                                    claimed_at=now, status=PromptDelivery.Status.SKIPPED)
                     for m in skip if m.key not in claims_of_window]
        later = [m.due_at for m in todo if m.due_at > now]
        window.next_action_at = min([*later, window.closes_at])
        # Its first prompt, counted by the batch after the send: marked so a dead tick's is counted too.
        counted_prompted = (window.tallied or {}).get("cell", {}).get("prompted")
        window.tally_pending = window.tally_pending or bool(send) and not counted_prompted
    # A constant number of statements per batch, whatever its size: the window rows stay locked briefly.
    PromptDelivery.objects.filter(pk__in=overtaken_ids).update(status=PromptDelivery.Status.SKIPPED)
    PromptDelivery.objects.filter(pk__in=retry_ids).update(
        status=PromptDelivery.Status.QUEUED, attempts=F("attempts") + 1, claimed_at=now)
    _insert_claims(new_rows, windows, now)
    _move_next_actions(windows)
    ActivationWindow.objects.filter(pk__in=[window.pk for window in windows if window.tally_pending]).update(
        tally_pending=True)
    return claims


def _move_next_actions(windows):
    """
    Store each window's new ``next_action_at`` in one ``UPDATE … CASE id WHEN …``, the statement
    ``bulk_update`` runs, written here: Django built its ``CASE`` of a branch per window with more CPU
    than the rest of the claim took (issue 34).
    """
    table = connection.ops.quote_name(ActivationWindow._meta.db_table)
    ids = [window.pk for window in windows]
    params = []
    for window in windows:
        params += [window.pk, connection.ops.adapt_datetimefield_value(window.next_action_at)]
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET next_action_at = CASE id {'WHEN %s THEN %s ' * len(ids)}END"
                       f" WHERE id IN ({placeholders})", [*params, *ids])


def _insert_claims(rows, windows, now):
    """One INSERT for the batch's new claims; MySQL (unlike MariaDB) returns no ids, so read them back."""
    PromptDelivery.objects.bulk_create(rows)
    if any(row.pk is None for row in rows):
        ids = {(d.window_id, d.prompt_id, d.kind, d.sequence): d.pk
               for d in PromptDelivery.objects.filter(window__in=windows, claimed_at=now)}
        for row in rows:
            row.pk = ids[(row.window_id, row.prompt_id, row.kind, row.sequence)]


def _observation_arrivals(user_ids, since):
    """
    ``{user_id: [(metric, observed_at, arrived_at)]}`` for KPIs measured since ``since``: per
    learner, metric and day of measurement, the latest measurement and arrival. One row per day
    keeps this bounded by the window's length, however often a KPI source reports.
    """
    rows = (MetricObservation.objects.filter(user_id__in=user_ids, observed_at__gte=since)
            .annotate(day=TruncDate("observed_at")).values("user_id", "metric", "day")
            .annotate(observed=Max("observed_at"), arrived=Max("received_at")).order_by("day"))
    arrivals = defaultdict(list)
    for row in rows:
        arrivals[row["user_id"]].append((row["metric"], row["observed"], row["arrived"]))
    return arrivals


def _first_arrivals(arrivals, opened_at):
    """
    ``{metric: when the first KPI measured after completion arrived}``, with ``""`` for any
    metric. Measurements from before completion are the learner's baseline, not a signal.
    """
    first = {}
    for metric, observed_at, arrived_at in arrivals:
        if observed_at >= opened_at:
            first.setdefault(metric, arrived_at)
            first.setdefault("", arrived_at)
    return first


class _Shared:
    """
    What many mails of a tick have in common, looked up once per tick rather than once per mail: each
    course run's title and learner page, each deadline's day as written in each language (the date
    format has no time of day: ``prompts.local_date`` of any moment of a local day reads the same).
    """

    def __init__(self):
        self._runs, self._days = {}, {}

    def run(self, course_run):
        """``(title, learner page link)`` of a course run."""
        if course_run not in self._runs:
            page = reverse("activation_plugin:learner", kwargs={"course_id": str(course_run)})
            link = f"{getattr(settings, 'LMS_ROOT_URL', '')}{page}"
            self._runs[course_run] = (platform.course_title(course_run), link)
        return self._runs[course_run]

    def deadline(self, moment, language):
        """``prompts.local_date(moment, language)``."""
        local = timezone.localtime(moment)
        key = (local.date(), language)
        if key not in self._days:
            self._days[key] = prompts.local_date(local, language)
        return self._days[key]


def _deliver(delivery, message, now, shared, language, session=None):
    """
    Send one claimed message (over the group's mail ``session``; ``shared``: the tick's ``_Shared``);
    record a failure at once. True when the backend accepted it: the caller records it ``sent`` with
    the rest of its group.
    """
    window, definition = delivery.window, message.prompt.requirement.definition
    user = window.user
    course_name, link = shared.run(window.course_run)
    values = {
        "learner_name": user.get_full_name() or user.username,
        "course_name": course_name,
        "deadline": shared.deadline(window.closes_at, language),
        "link": link,
        "behavior": definition.behavior,
        "opt_out_link": links.opt_out_url(user.pk, definition.pk),
    }
    try:
        subject, body, footer = prompts.compose_parts(message.prompt, values, language)
        with translation.override(language):
            action = (_("Show how you applied it"), values["link"])
        platform.send_message(user=user, subject=subject, body=body, footer=footer, action=action, language=language,
                              session=session)
    except Exception as exc:  # pylint: disable=broad-except
        # Any backend failure (SMTP, ACE, network) must leave the claim retryable, never lost.
        log.warning("activation: %s %s for window %s failed: %s", message.kind, message.prompt.pk, window.pk, exc)
        PromptDelivery.objects.filter(pk=delivery.pk).update(status=PromptDelivery.Status.FAILED,
                                                             last_error=str(exc)[:2000])
        ActivationWindow.objects.filter(pk=window.pk, state=ActivationWindow.State.OPEN).update(
            next_action_at=min(now + prompts.RETRY_DELAY, window.closes_at))
        return False
    return True


@transaction.atomic
def opt_out(user_id, definition_id=None):
    """
    Stop all further prompts to a learner for one definition, or for all of them. Idempotent.
    The learner's windows stay and keep counting: evidence may still arrive.

    Raises:
        ActivationNotFound: the user or the definition does not exist.
    """
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise ActivationNotFound(_("No such learner."), field="user")
    if definition_id is not None and not ActivationDefinition.objects.filter(pk=definition_id).exists():
        raise ActivationNotFound(_("No such activation definition."), field="definition")
    # The unique (user, scope), 0 for every course, makes a concurrent twin of this request find the
    # row instead of adding a second one (get_or_create reads it back after the refused insert).
    row, created = PromptOptOut.objects.get_or_create(user_id=user_id, scope=definition_id or 0,
                                                      defaults={"definition_id": definition_id})
    if created:
        # The headline's opted-out count of every definition the learner has a window in (of the course,
        # whose every version the opt-out covers, or of any course).
        windows = ActivationWindow.objects.filter(user_id=user_id)
        if definition_id is not None:
            windows = windows.filter(definition__catalog_course=ActivationDefinition.objects.filter(
                pk=definition_id).values("catalog_course")[:1])
        figures.invalidate(*{*windows.values_list("definition_id", flat=True), definition_id} - {None})
    return row
