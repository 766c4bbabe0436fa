"""Shared guards for the plugin's pages."""
import functools
import logging
from contextlib import nullcontext

from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connection, transaction
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string

from activation_plugin import api, platform
from activation_plugin.api.queries import definition_in_course
from activation_plugin.errors import ActivationInternalError, ActivationNotFound, ActivationRequestError, NotAllowed

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def course_key_or_404(course_id):
    """A malformed course id in a URL is a page that does not exist, not a server error."""
    try:
        return api.parse_course_key(course_id)
    except ActivationRequestError as exc:
        raise Http404(str(exc)) from exc


def staff_course_key(request, course_id):
    """The course of an instructor page; anyone but its staff (and global staff) is refused."""
    course_key = course_key_or_404(course_id)
    if not platform.is_course_staff(request.user, course_key):
        raise PermissionDenied
    return course_key


def global_staff_or_403(request):
    """The operators' pages (every KPI source, a source's test run): the platform's global staff only."""
    if not platform.is_global_staff(request.user):
        raise PermissionDenied


def may_configure(user, course_key, definition=None):
    """Whether ``user`` may create definitions in this run, or change ``definition`` (``api.check_may_configure``)."""
    try:
        api.check_may_configure(user, course_key, definition)
    except NotAllowed:
        return False
    return True


def configurable_or_403(user, course_key, definition=None):
    """Refuse, with the reason, a change to definitions by someone whose role does not cover them."""
    try:
        api.check_may_configure(user, course_key, definition)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc


def definition_or_404(course_key, definition_id):
    """
    A definition covering this course run, with its requirements, prompts and ``has_windows``
    (``api.definition_in_course``): an id from another course is a page that does not exist.
    """
    try:
        return definition_in_course(course_key, definition_id)
    except ActivationNotFound as exc:
        raise Http404(str(exc)) from exc


def busy_database_asks_to_retry(view):
    """
    A page's write that lost a lock race (lock wait timeout, deadlock, a locked SQLite file) has
    rolled back: answer 503 with "try again" instead of a server error. Writes are idempotent or
    checked under a lock, so sending the same form again stores it once.

    The page runs in one transaction when the host runs requests in one (``ATOMIC_REQUESTS``, as
    the LMS does), but opened here rather than by Django's handler: a database that is down fails
    at the transaction's start, and a deadlock can surface at its commit, both outside the view,
    where only a server error could answer. Work after the commit (mail, tasks) runs when it ends.
    """
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            with _request_transaction():
                return view(request, *args, **kwargs)
        except (ActivationInternalError, OperationalError) as exc:
            log.warning("activation: %s answered 'try again': %s", request.path, exc)
            # Without the request's context: its processors read the session (messages, user), and the
            # database may be what failed.
            response = HttpResponse(render_to_string("activation_plugin/try_again.html"), status=503)
            _forget_unreadable_session(request)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
    return transaction.non_atomic_requests(wrapper)


def _request_transaction():
    """The transaction Django would have opened around the view: one, if the host asks for it."""
    return transaction.atomic() if connection.settings_dict.get("ATOMIC_REQUESTS") else nullcontext()


def _forget_unreadable_session(request):
    """
    A session whose load failed has no contents, and Django's session middleware then fails on it
    (``_session_cache`` missing). Nothing was read from it and nothing must be saved to it, so it is
    marked empty and untouched: the learner keeps their cookie and their session.
    """
    session = getattr(request, "session", None)
    if session is not None and not hasattr(session, "_session_cache"):
        session._session_cache = {}  # pylint: disable=protected-access
        session.accessed = session.modified = False
