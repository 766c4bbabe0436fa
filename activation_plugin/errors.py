"""Errors raised by ``activation_plugin.api``: callers catch these, never lower-level ones."""
import functools
import logging

from django.db import DatabaseError
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


class ActivationError(Exception):
    """Base of every error the api raises on purpose."""


class ActivationRequestError(ActivationError):
    """The caller asked for something invalid; the message says what, in words a user can act on."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class ActivationNotFound(ActivationRequestError):
    """A referenced object does not exist (or is not visible to the caller)."""


class NotAllowed(ActivationRequestError):
    """The caller holds no role that covers what they asked to change; the message says who does."""


class DefinitionLocked(ActivationRequestError):
    """An edit would rewrite the history of windows that already exist."""


class OtherDefinitionActive(ActivationRequestError):
    """Activating would supersede another active definition of the course; the caller has not said so."""


class IdempotencyConflict(ActivationRequestError):
    """An idempotency key was reused for a different submission."""


class ActivationInternalError(ActivationError):
    """Something outside the caller's control failed (database, storage, platform)."""


def database_errors_as_internal(function):
    """
    Re-raise a database failure (lock wait timeout, deadlock, lost connection) of an api write as
    ActivationInternalError, once the write's transaction has rolled back: its callers (pages,
    REST views) then tell the user to try again instead of failing with a server error, and the
    idempotency key makes the retry count once.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except DatabaseError as exc:
            log.warning("activation: %s failed in the database and was rolled back: %s", function.__name__, exc)
            raise ActivationInternalError(_("The database could not store this just now; nothing was saved.")) from exc
    return wrapper
