"""
``edx.activation.*`` tracking events, emitted through event-tracking to whatever backends the
platform configured (tracking log, event-routing-backends, Aspects).

Each event carries what a warehouse needs without joining LMS tables: the course run and catalog
course, the definition and window ids, the learner's numeric ``user_id`` (never a username or
email: the warehouse can count learners without holding their identity), the arm and the
window's dates. Schemas: docs/references/events.rst.

Events are queued with ``transaction.on_commit``: a write that rolls back emits nothing. Callers
only queue events for changes that happened, so replays emit nothing. Tracking never fails the
caller: a broken backend or a bug here is logged, and the write stands.
"""
import functools
import logging
from datetime import timezone as dt_timezone

from django.db import transaction
from django.utils import timezone
from eventtracking import tracker

from activation_plugin.keys import catalog_course

log = logging.getLogger(__name__)

PREFIX = "edx.activation"
WINDOW_OPENED = f"{PREFIX}.window.opened"
WINDOW_ACTIVATED = f"{PREFIX}.window.activated"
WINDOW_REOPENED = f"{PREFIX}.window.reopened"
WINDOW_EXPIRED = f"{PREFIX}.window.expired"
WINDOW_WITHDRAWN = f"{PREFIX}.window.withdrawn"
EVIDENCE_SUBMITTED = f"{PREFIX}.evidence.submitted"
EVIDENCE_VERIFIED = f"{PREFIX}.evidence.verified"
PROMPT_SENT = f"{PREFIX}.prompt.sent"
OBSERVATIONS_MATCHED = f"{PREFIX}.observations.matched"
# What every event reads from a window: bulk paths load only these, and never query per window.
WINDOW_FIELDS = ("course_run", "definition", "user", "arm", "opened_at", "closes_at")


def timestamp(value):
    """UTC with microseconds, always the same width: text comparisons order like the times."""
    return value.astimezone(dt_timezone.utc).isoformat(timespec="microseconds") if value else None


def _window_data(window):
    return {
        "course_id": str(window.course_run),
        "catalog_course": catalog_course(window.course_run),
        "definition_id": window.definition_id,
        "window_id": window.pk,
        "user_id": window.user_id,
        "arm": window.arm,
        "opened_at": timestamp(window.opened_at),
        "closes_at": timestamp(window.closes_at),
    }


def _evidence_data(evidence, requirement):
    return {
        **_window_data(evidence.window),
        "evidence_id": evidence.pk,
        "requirement_id": requirement.pk,
        "evidence_kind": requirement.kind,
        "source": evidence.source,
        "submitted_at": timestamp(evidence.submitted_at),
    }


def _queue(name, build, *args):
    """Build the event now (the objects may change later) and emit it once the transaction commits."""
    try:
        data = build(*args)
    except Exception:  # pylint: disable=broad-except
        # A tracking bug must not undo the learner's write; the log says which event was lost.
        log.exception("activation: could not build tracking event %s", name)
        return
    transaction.on_commit(functools.partial(_emit, name, data))


def _emit(name, data):
    try:
        tracker.emit(name, data)
    except Exception:  # pylint: disable=broad-except
        # Runs after the commit: raising here would report a saved write as failed.
        log.exception("activation: tracking event %s for window %s was not emitted", name, data.get("window_id"))


def windows_opened(windows):
    """The windows a completion opened (not those it found already open)."""
    for window in windows:
        _queue(WINDOW_OPENED, lambda w: {
            **_window_data(w), "trigger": w.trigger, "window_days": (w.closes_at - w.opened_at).days,
            "enrollment_mode": w.enrollment_mode, "org": w.org, "cohort": w.cohort,
        }, window)


def windows_expired(windows, now):
    """Windows the tick closed, from the rows it already loaded: no query per window."""
    for window in windows:
        _queue(WINDOW_EXPIRED, lambda w: {**_window_data(w), "expired_at": timestamp(now), "reason": "closed"},
               window)


def window_changed(window, old_state, old_activated_at):
    """A rule evaluation's outcome, only when it changed the window's state or activation time."""
    if window.state == window.State.ACTIVATED:
        if (old_state, old_activated_at) != (window.state, window.activated_at):
            _queue(WINDOW_ACTIVATED, lambda w: {
                **_window_data(w), "activated_at": timestamp(w.activated_at),
                "days_to_activation": w.days_to_activation,
            }, window)
    elif old_state == window.State.ACTIVATED and window.state == window.State.OPEN:
        _queue(WINDOW_REOPENED, lambda w: {**_window_data(w), "reopened_at": timestamp(timezone.now())}, window)
    elif old_state == window.State.ACTIVATED and window.state == window.State.EXPIRED:
        _queue(WINDOW_EXPIRED, lambda w: {
            **_window_data(w), "expired_at": timestamp(timezone.now()), "reason": "activation_withdrawn"}, window)


def window_withdrawn(window):
    """The learner withdrew: the window leaves every figure, so the warehouse must drop it too."""
    _queue(WINDOW_WITHDRAWN, lambda w: {**_window_data(w), "withdrawn_at": timestamp(timezone.now())}, window)


def evidence_submitted(evidence, requirement):
    _queue(EVIDENCE_SUBMITTED, lambda e, r: {**_evidence_data(e, r), "status": e.status}, evidence, requirement)


def evidence_verified(evidence, requirement):
    _queue(EVIDENCE_VERIFIED, lambda e, r: {
        **_evidence_data(e, r), "strength": e.strength, "verified_at": timestamp(e.verified_at),
    }, evidence, requirement)


def prompt_sent(delivery, prompt, sent_at):
    """A prompt, reminder or nudge the messaging backend accepted."""
    _queue(PROMPT_SENT, lambda d, p: {
        **_window_data(d.window), "delivery_id": d.pk, "prompt_id": p.pk, "requirement_id": p.requirement_id,
        "evidence_kind": p.requirement.kind, "prompt_kind": d.kind, "sequence": d.sequence,
        "sent_at": timestamp(sent_at),
    }, delivery, prompt)


def observations_matched(source, user_id, count, matched_at):
    """
    Stored KPI observations of ``source`` that now belong to a learner (a new identity link or
    account). About a learner, not a window: no external id, which may be an email, leaves the LMS.
    """
    _queue(OBSERVATIONS_MATCHED, lambda s: {
        "user_id": user_id, "source_id": s.pk, "source": s.name, "observations": count,
        "matched_at": timestamp(matched_at),
    }, source)
