"""Errors raised by ``activation_plugin.api``: callers catch these, never lower-level ones."""


class ActivationError(Exception):
    """Base of every error the api raises on purpose."""


class ActivationRequestError(ActivationError):
    """The caller asked for something invalid; the message says what, in words a user can act on."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class ActivationNotFound(ActivationRequestError):
    """A referenced object does not exist (or is not visible to the caller)."""


class DefinitionLocked(ActivationRequestError):
    """An edit would rewrite the history of windows that already exist."""


class IdempotencyConflict(ActivationRequestError):
    """An idempotency key was reused for a different submission."""


class ActivationInternalError(ActivationError):
    """Something outside the caller's control failed (database, storage, platform)."""
