"""
Client retries of REST writes: the ``Idempotency-Key`` is stored with the write, in its own
transaction, so a replay finds it however long ago the first request ran (within the day the
key is kept) and whatever the cache evicted. docs/decisions/0008-idempotency.rst.
"""
import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from activation_plugin.errors import ActivationRequestError, IdempotencyConflict
from activation_plugin.models import IdempotentRequest

KEPT_FOR = timedelta(days=1)
MAX_KEY_CHARS = 255


def _digest(*parts):
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def run_once(*, user, scope, key, body, write):
    """
    ``write()`` (which returns ``(status_code, data)``) at most once per ``user``, ``scope`` (the
    endpoint) and ``key``; a repeat gets the first ``(status_code, data)`` back. The key's row is
    inserted first, in the write's transaction: a concurrent repeat waits on it and then replays,
    and a write that fails leaves no key behind, so the client may retry with the same one.
    ``body`` (text) tells a repeat from another request sent with the same key.

    Raises:
        ActivationRequestError: the key is empty or longer than 255 characters.
        IdempotencyConflict: the key was used for another request (another ``body``).
    """
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise ActivationRequestError(_("An idempotency key has 1 to 255 characters."), field="Idempotency-Key")
    identity, fingerprint = _digest(user.pk, scope, key), _digest(body)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(key=identity, user=user, fingerprint=fingerprint)
        except IntegrityError:
            stored = IdempotentRequest.objects.get(key=identity)
        else:
            record.status_code, record.response = write()
            record.save(update_fields=["status_code", "response"])
            return record.status_code, record.response
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict(_("This idempotency key was already used for another request."),
                                  field="Idempotency-Key")
    return stored.status_code, stored.response


def forget_idempotency_keys(now):
    """Drop the keys older than the day they are kept for (the tick calls this)."""
    return IdempotentRequest.objects.filter(created__lt=now - KEPT_FOR).delete()[0]
