"""
Receivers: completion events from openedx-events open activation windows; retirement erases PII.

The completion receivers run inside the platform's signal dispatch, where an exception is
logged and the event is lost, so they never raise into it. A completion is stored before it is processed
(``api.record_completion``); if even that store fails, the completion goes to a task that retries
it through the broker, and if the broker fails too, the log line carries everything needed to
replay it (``activation_backfill`` also finds it again in the platform's grades and certificates).
"""
import logging

from activation_plugin import api, toggles
from activation_plugin.errors import ActivationRequestError

log = logging.getLogger(__name__)


def _record(trigger, user, course_key, metadata):
    """The one path every completion event takes: guard, parse, call the api."""
    user_id = getattr(user, "id", None)
    try:
        if toggles.receivers_paused():
            return  # nothing written in the platform's transaction; activation_backfill finds it later
        api.record_completion(user_id, course_key, trigger, metadata.time)
    except ActivationRequestError as exc:
        log.warning("activation: ignored %s event for user %s in %s: %s", trigger, user_id, course_key, exc)
    except Exception:  # pylint: disable=broad-except
        log.warning("activation: could not store the %s completion of user %s in %s; a task will retry it",
                    trigger, user_id, course_key, exc_info=True)
        _retry_later(trigger, user_id, course_key, metadata.time)


def _retry_later(trigger, user_id, course_key, occurred_at):
    from activation_plugin.tasks import record_completion  # pylint: disable=import-outside-toplevel
    try:
        record_completion.apply_async(args=(user_id, str(course_key), trigger, occurred_at.isoformat()),
                                      countdown=60)
    except Exception:  # pylint: disable=broad-except
        log.error("activation: LOST %s completion of user %s in %s at %s: replay it or run activation_backfill",
                  trigger, user_id, course_key, occurred_at.isoformat(), exc_info=True)


def on_course_passing_status_updated(course_passing_status, metadata, **kwargs):
    """COURSE_PASSING_STATUS_UPDATED: a learner who now passes opens windows of ``passing`` definitions."""
    if course_passing_status.is_passing:
        _record("passing", course_passing_status.user, course_passing_status.course.course_key, metadata)


def on_ccx_course_passing_status_updated(course_passing_status, metadata, **kwargs):
    """
    CCX_COURSE_PASSING_STATUS_UPDATED: the LMS sends this one, not the other, for a pass in a CCX.
    The window's run is the CCX; its definitions are the master course's (same org and course).
    """
    if course_passing_status.is_passing:
        _record("passing", course_passing_status.user, course_passing_status.course.ccx_course_key, metadata)


def on_certificate_created(signal, sender, certificate, metadata, **kwargs):  # pylint: disable=unused-argument
    """CERTIFICATE_CREATED: opens windows of ``certificate`` definitions."""
    _record("certificate", certificate.user, certificate.course.course_key, metadata)


def on_user_retired(sender, user, **kwargs):  # pylint: disable=unused-argument
    """
    USER_RETIRE_LMS_MISC: erase this learner's personal data, keep anonymous counts. Unlike the
    completion receivers it lets an error through: the LMS's retirement call then fails and the
    retirement pipeline retries it, instead of recording a learner as retired whose data is still here.
    """
    counts = api.retire_user(user.id)
    log.info("activation: retired user %s: %s", user.id, counts)
