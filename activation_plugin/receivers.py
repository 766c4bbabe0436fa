"""
Receivers: completion events from openedx-events open activation windows; retirement erases PII.

They run inside the platform's signal dispatch, so they stay cheap (a few queries) and never
raise into it: bad or unknown data is logged and dropped.
"""
import logging

from activation_plugin import api
from activation_plugin.errors import ActivationError

log = logging.getLogger(__name__)


def _open_windows(trigger, user, course, metadata):
    """The one path both completion events take: guard, parse, call the api."""
    try:
        api.open_windows(user.id, course.course_key, trigger, metadata.time)
    except ActivationError as exc:
        log.warning("activation: ignored %s event for user %s in %s: %s",
                    trigger, getattr(user, "id", None), getattr(course, "course_key", None), exc)


def on_course_passing_status_updated(signal, sender, course_passing_status, metadata, **kwargs):  # pylint: disable=unused-argument
    """COURSE_PASSING_STATUS_UPDATED: a learner who now passes opens windows of ``passing`` definitions."""
    if course_passing_status.is_passing:
        _open_windows("passing", course_passing_status.user, course_passing_status.course, metadata)


def on_certificate_created(signal, sender, certificate, metadata, **kwargs):  # pylint: disable=unused-argument
    """CERTIFICATE_CREATED: opens windows of ``certificate`` definitions."""
    _open_windows("certificate", certificate.user, certificate.course, metadata)


def on_user_retired(sender, user, **kwargs):  # pylint: disable=unused-argument
    """USER_RETIRE_LMS_MISC: erase this learner's personal data, keep anonymous counts."""
    counts = api.retire_user(user.id)
    log.info("activation: retired user %s: %s", user.id, counts)
