"""
Signed links that act without a login: opt-out, and supervisor observation. Signed with
Django's ``SECRET_KEY`` and a purpose-specific salt, timestamped so they expire.
"""
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext

from activation_plugin.errors import ActivationRequestError

OPT_OUT_SALT = "activation_plugin.opt_out"
ALL_DEFINITIONS = "all"


def opt_out_token(user_id, definition_id=None):
    """A token naming the learner and the definition (or all) whose prompts it stops."""
    scope = ALL_DEFINITIONS if definition_id is None else str(definition_id)
    return signing.TimestampSigner(salt=OPT_OUT_SALT).sign(f"{user_id}:{scope}")


def opt_out_url(user_id, definition_id=None):
    path = reverse("activation_plugin:opt_out", kwargs={"token": opt_out_token(user_id, definition_id)})
    return f"{getattr(settings, 'LMS_ROOT_URL', '')}{path}"


def read_opt_out_token(token):
    """
    ``(user_id, definition_id or None)`` from a token.

    Raises:
        ActivationRequestError: the token was altered, is malformed, or has expired.
    """
    max_age = settings.ACTIVATION_OPT_OUT_LINK_MAX_AGE_DAYS * 24 * 3600
    try:
        value = signing.TimestampSigner(salt=OPT_OUT_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ActivationRequestError(gettext("This link has expired. Use the link in a more recent message.")) from exc
    except signing.BadSignature as exc:
        raise ActivationRequestError(gettext("This link is not valid. Check that it was copied completely.")) from exc
    user_id, _, scope = value.partition(":")
    if not user_id.isdigit() or not (scope == ALL_DEFINITIONS or scope.isdigit()):
        raise ActivationRequestError(gettext("This link is not valid."))
    return int(user_id), None if scope == ALL_DEFINITIONS else int(scope)


SUPERVISOR_SALT = "activation_plugin.supervisor"


def supervisor_url(invite):
    """The link in a supervisor's invitation: signed over the invite and its secret nonce."""
    token = signing.TimestampSigner(salt=SUPERVISOR_SALT).sign(f"{invite.pk}:{invite.nonce}")
    return f"{getattr(settings, 'LMS_ROOT_URL', '')}{reverse('activation_plugin:observe', kwargs={'token': token})}"


def read_supervisor_token(token):
    """
    ``(invite_id, nonce)`` from a supervisor link; expiry and single use are the invite's to check.

    Raises:
        ActivationRequestError: the link was altered or is malformed.
    """
    try:
        value = signing.TimestampSigner(salt=SUPERVISOR_SALT).unsign(token)
    except signing.BadSignature as exc:
        raise ActivationRequestError(gettext("This link is not valid. Check that it was copied completely.")) from exc
    invite_id, _, nonce = value.partition(":")
    if not invite_id.isdigit() or not nonce:
        raise ActivationRequestError(gettext("This link is not valid."))
    return int(invite_id), nonce
