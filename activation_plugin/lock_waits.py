"""
A bound on how long the plugin's requests wait for a row lock. MariaDB and MySQL wait
``innodb_lock_wait_timeout`` (50 s by default), longer than a web worker lives (gunicorn's 30 s):
one row held by a long transaction elsewhere would hold every worker that meets it until the
workers are killed. Under ``ACTIVATION_LOCK_WAIT_SECONDS`` a request gives up first, its write
rolls back, and the page or endpoint answers "try again" (503 with ``Retry-After``).

The bound is a session variable: it is set for the plugin's request only and put back when the
request ends, so the platform's own requests served by the same connection keep the server's
value. A session that already waits less keeps its shorter wait. Other databases are left alone
(SQLite waits on its file lock, ``OPTIONS["timeout"]``).
"""
import functools
import logging
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)

# One round trip: the session's value is kept in a user variable of the same session.
BOUND = ("SET @activation_lock_wait = @@SESSION.innodb_lock_wait_timeout, "
         "SESSION innodb_lock_wait_timeout = LEAST(@@SESSION.innodb_lock_wait_timeout, %s)")
# The server's value if the variable is gone (the connection was replaced during the request).
RESTORE = "SET SESSION innodb_lock_wait_timeout = COALESCE(@activation_lock_wait, @@GLOBAL.innodb_lock_wait_timeout)"
# ``not_waiting``'s pair, in a variable of its own: it runs inside a bounded request and must give
# the request's bound back, not the server's value.
NO_WAIT = ("SET @activation_wait_before = @@SESSION.innodb_lock_wait_timeout, "
           "SESSION innodb_lock_wait_timeout = 0")
NO_WAIT_RESTORE = ("SET SESSION innodb_lock_wait_timeout = "
                   "COALESCE(@activation_wait_before, @@GLOBAL.innodb_lock_wait_timeout)")


class _Bound:
    """
    An execute wrapper that sets the bound just before the request's first statement: a database
    that is down then fails inside the view, which answers "try again", rather than around it.
    """

    def __init__(self, seconds):
        self.seconds, self.applied = seconds, False

    def __call__(self, execute, sql, params, many, context):
        if not self.applied:
            self.applied = True
            execute(BOUND, [self.seconds], False, context)
        return execute(sql, params, many, context)


def bounded_lock_waits(view):
    """
    Run ``view`` with its lock waits bounded by ``ACTIVATION_LOCK_WAIT_SECONDS`` (MariaDB and
    MySQL); a view already bounded (a page inside another) keeps the outer bound.
    """
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        seconds = settings.ACTIVATION_LOCK_WAIT_SECONDS
        if not seconds or connection.vendor != "mysql" or any(
                isinstance(wrapped, _Bound) for wrapped in connection.execute_wrappers):
            return view(request, *args, **kwargs)
        bound = _Bound(int(seconds))
        try:
            with connection.execute_wrapper(bound):
                return view(request, *args, **kwargs)
        finally:
            if bound.applied:
                _restore()
    return wrapper


def _restore(sql=RESTORE):
    """
    Put the session's wait back with ``sql`` (``RESTORE``, or ``not_waiting``'s ``NO_WAIT_RESTORE``).
    If that fails (the database went away, or the request's transaction is broken and refuses
    statements), the connection is closed instead: a connection still carrying the plugin's bound
    must not serve the platform's next request.
    """
    try:
        if connection.needs_rollback and connection.connection is not None:
            # The request's transaction is only marked for rollback (an error answered as a 400 or 503,
            # DRF's set_rollback): Django refuses statements until it ends, but a session variable is
            # not transactional, so it is put back on the driver's own connection.
            raw = connection.connection.cursor()
            try:
                raw.execute(sql)
            finally:
                raw.close()
            return
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except (DatabaseError, connection.Database.Error) as exc:
        log.info("activation: closing a connection whose lock wait could not be restored: %s", exc)
        connection.close()


@contextmanager
def not_waiting():
    """
    Statements inside give up at once on a row another transaction holds (MariaDB's lock wait of 0 s,
    what ``NOWAIT`` does; MySQL's shortest is 1 s) with a lock wait timeout error, then the session
    gets its wait back. For work done after a learner's request has committed, inside that request
    (the shared running totals, ``api.tallies.count_after_commit``): it has a safety net, so it must
    not keep the learner waiting. Other databases are left alone.
    """
    if connection.vendor != "mysql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(NO_WAIT)
    try:
        yield
    finally:
        _restore(NO_WAIT_RESTORE)
