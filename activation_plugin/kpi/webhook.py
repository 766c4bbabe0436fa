"""
Signed webhook deliveries: ``X-Activation-Signature: t=<unix time>,v1=<hex>``, where the hex is
HMAC-SHA256 with the source's secret over ``f"{t}.".encode() + body``. A timestamp outside
``ACTIVATION_WEBHOOK_TOLERANCE_SECONDS`` is refused, so a captured delivery cannot be replayed
later; a replay inside the window is harmless because observations are upserted.
"""
import hashlib
import hmac
import time

from django.conf import settings

from activation_plugin import json_input

HEADER = "HTTP_X_ACTIVATION_SIGNATURE"


class WebhookRefused(Exception):
    """The delivery is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def sign(secret, body, timestamp=None):
    """The header value a sender computes (used by the docs' example, the demo and the tests)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret, header, body, now=None):
    """Raise WebhookRefused(401) unless ``header`` is a fresh, valid signature of ``body``."""
    parts = {}
    for item in (header or "").split(","):
        key, _sep, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise WebhookRefused("Missing or malformed X-Activation-Signature header.", 401) from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > settings.ACTIVATION_WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookRefused("The signature timestamp is outside the accepted window.", 401)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise WebhookRefused("The signature does not match.", 401)


def observations(body):
    """The list of observation objects in a delivery: a JSON list, or ``{"observations": [...]}``."""
    try:
        data = json_input.loads(body)
    except json_input.TooDeep as exc:
        raise WebhookRefused(str(exc), 400) from None
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused("The body is not valid JSON.", 400) from None
    if isinstance(data, dict):
        data = data.get("observations")
    if not isinstance(data, list):
        raise WebhookRefused("The body must be a list of observations, or an object with an 'observations' list.",
                             400)
    return data
