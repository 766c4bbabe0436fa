"""
Supervisor observation: a learner names the supervisor who saw the behaviour on the job; the
supervisor confirms it through a signed, expiring, single-use link, without an account.
"""
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from activation_plugin import links, platform
from activation_plugin.api.evidence import record_evidence, review_evidence
from activation_plugin.api.queries import run_scope
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.models import (
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    Review,
    SupervisorInvite,
)


# Providers known to ignore dots in the local part: a.n.n@gmail.com reaches ann@gmail.com.
DOTLESS_DOMAINS = {"gmail.com", "googlemail.com"}


def mailbox(email):
    """
    The mailbox an address delivers to, for comparing addresses: case aside, without a ``+tag``
    (``ann+boss@example.com`` reaches ann@example.com at most providers), and without the dots
    the providers of ``DOTLESS_DOMAINS`` ignore.
    """
    local, _at, domain = (email or "").strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _in_domains(domain, domains):
    return any(domain == entry or domain.endswith(f".{entry}")
               for entry in (str(entry).strip().lower().lstrip("@.") for entry in domains) if entry)


def supervisor_domain_allowed(email):
    """Whether the operator's domain lists admit a supervisor at ``email``."""
    domain = (email or "").strip().lower().rpartition("@")[2]
    allowed = settings.ACTIVATION_SUPERVISOR_EMAIL_DOMAINS
    return (not allowed or _in_domains(domain, allowed)) and not _in_domains(
        domain, settings.ACTIVATION_SUPERVISOR_BLOCKED_EMAIL_DOMAINS)


def _check_supervisor_email(window, email):
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ActivationRequestError(_("Enter your supervisor's email address."), field="email") from exc
    if not supervisor_domain_allowed(email):
        raise ActivationRequestError(_("This platform does not accept supervisors at this email domain; "
                                       "use your supervisor's work address."), field="email")
    if mailbox(email) == mailbox(window.user.email):
        raise ActivationRequestError(_("A supervisor must be someone else: your own address cannot confirm."),
                                     field="email")
    # Two learners confirming each other is self-report with extra steps.
    mutual = SupervisorInvite.objects.filter(
        window__definition_id=window.definition_id, window__user__email__iexact=email,
        email__iexact=window.user.email,
    ).exists()
    if mutual:
        raise ActivationRequestError(_("This person asked you to confirm their own behaviour; ask someone else."),
                                     field="email")


def sender_name(user):
    """
    The learner's name as mail to a stranger shows it: letters, spaces and ``.'-`` only, at most
    60 characters, so a name cannot carry a link or a message of its own into the platform's mail.
    """
    name = re.sub(r"[^\w .'-]+", " ", user.get_full_name() or user.username)
    return " ".join(name.split())[:60].strip() or user.username


def _send_invite(invite):
    """Written in the learner's language, their workplace's best guess, whoever sends or resends it."""
    window = invite.window
    values = {"learner": sender_name(window.user),
              "behavior": window.definition.behavior, "link": links.supervisor_url(invite),
              "expires": f"{invite.expires_at:%Y-%m-%d}"}
    language = platform.language_for(window.user)
    with translation.override(language):
        subject = _("{learner} asks you to confirm a behaviour at work").format(**values)
        body = _("{learner} recently completed a course and is applying it at work:\n\n{behavior}\n\n"
                 "If you have seen this, please confirm what you observed (two minutes, no account needed) "
                 "before {expires}:\n{link}\n\nIf you have not, you can ignore this message.").format(**values)
    platform.send_message(email=invite.email, subject=subject, body=body, language=language)


@transaction.atomic
def invite_supervisor(window, requirement, email):
    """
    Invite a supervisor to observe; the same pending invitation again changes nothing.
    Nothing is stored if the mail cannot be sent.

    Raises:
        ActivationRequestError: not an observation of this window's definition, a closed window,
            an invalid, own or mutual address, or the mail could not be sent.
    """
    if requirement.kind != EvidenceRequirement.Kind.OBSERVATION or requirement.definition_id != window.definition_id:
        raise ActivationRequestError(_("This requirement is not a supervisor observation."), field="requirement")
    now = timezone.now()
    if window.state not in (ActivationWindow.State.OPEN, ActivationWindow.State.ACTIVATED) or window.closes_at <= now:
        raise ActivationRequestError(_("This window has closed."), field="window")
    email = (email or "").strip()
    _check_supervisor_email(window, email)
    pending = SupervisorInvite.objects.filter(window=window, requirement=requirement, email__iexact=email,
                                              used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
    if pending.exists():
        return pending.first()
    # The platform's mail server must not become a learner's way to write to strangers.
    # Counted in distinct addresses: writing again to someone already invited (or staff resending) is no new stranger.
    recent = set(SupervisorInvite.objects.filter(window__user_id=window.user_id, created__gt=now - timedelta(days=1))
                 .values_list(Lower("email"), flat=True))
    if email.lower() not in recent and len(recent) >= settings.ACTIVATION_SUPERVISOR_INVITES_PER_DAY:
        raise ActivationRequestError(
            _("You have sent as many invitations as a day allows; please try again tomorrow."), field="email")
    return _create_and_send(window, requirement, email, now)


def _create_and_send(window, requirement, email, now):
    days = settings.ACTIVATION_SUPERVISOR_LINK_DAYS
    invite = SupervisorInvite.objects.create(
        window=window, requirement=requirement, email=email, nonce=secrets.token_urlsafe(32),
        expires_at=min(now + timedelta(days=days), window.closes_at),
    )
    try:
        _send_invite(invite)
    except Exception as exc:  # pylint: disable=broad-except
        # Any mail failure: roll the invitation back so the learner can simply try again.
        raise ActivationRequestError(_("The invitation could not be sent; please try again later.")) from exc
    return invite


@transaction.atomic
def revoke_invite(invite):
    """Staff withdraw an invitation; its link stops working at once."""
    SupervisorInvite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def resend_invite(invite):
    """
    Staff send a fresh link (a new secret; the old link stops working).

    Raises:
        ActivationRequestError: the invitation was already used, or the window has closed.
    """
    invite = SupervisorInvite.objects.select_for_update().select_related("window__user", "window__definition").get(
        pk=invite.pk)
    if invite.used_at:
        raise ActivationRequestError(_("The supervisor already answered this invitation."), field="invite")
    now = timezone.now()
    if invite.window.closes_at <= now:
        raise ActivationRequestError(_("This window has closed."), field="window")
    invite.revoked_at = now
    invite.save(update_fields=["revoked_at"])
    return _create_and_send(invite.window, invite.requirement, invite.email, now)


def invite_for_link(token, observer=None):
    """
    The invitation a supervisor's link opens, if it may still be answered, and not by the learner
    it is about (``observer``: whoever is signed in where the link is opened).

    Raises:
        ActivationRequestError: altered, revoked, expired or already used link, or opened by its learner.
    """
    invite_id, nonce = links.read_supervisor_token(token)
    invite = (SupervisorInvite.objects.select_related("window__user", "window__definition", "requirement")
              .filter(pk=invite_id, nonce=nonce).first())
    if invite is None or invite.revoked_at:
        raise ActivationRequestError(_("This link is no longer valid."))
    if invite.used_at:
        raise ActivationRequestError(_("This link was already used: thank you, your observation was recorded."))
    if invite.expires_at <= timezone.now():
        raise ActivationRequestError(_("This link has expired. The learner can send you a new one."))
    if observer is not None and observer.is_authenticated and observer.pk == invite.window.user_id:
        raise ActivationRequestError(_("This link is for your supervisor: you cannot confirm your own behaviour."))
    return invite


@transaction.atomic
def record_supervisor_observation(token, observed, comment="", observer=None):
    """
    Record what the supervisor observed, once. The observation verifies the requirement when at
    least ``min_observed`` checklist items were seen.

    Raises:
        ActivationRequestError: invalid, used or expired link, or an incomplete checklist.
        ActivationNotFound: the invitation disappeared (e.g. retired learner).
    """
    invite = invite_for_link(token, observer)
    invite = SupervisorInvite.objects.select_for_update().filter(pk=invite.pk, used_at__isnull=True).first()
    if invite is None:
        raise ActivationNotFound(_("This link was already used."))
    evidence = record_evidence(
        window=invite.window, requirement=invite.requirement, source=Evidence.Source.SUPERVISOR,
        payload={"observed": observed, "comment": comment}, idempotency_key=f"supervisor:{invite.pk}",
    )
    seen = sum(1 for value in evidence.payload["observed"].values() if value)
    verdict = Review.Verdict.VERIFIED if seen >= invite.requirement.config["min_observed"] else Review.Verdict.REJECTED
    review_evidence(evidence, verdict=verdict, role=Review.Role.SUPERVISOR, reviewer_email=invite.email,
                    checklist=evidence.payload["observed"], comment=evidence.payload["comment"])
    invite.used_at = timezone.now()
    invite.save(update_fields=["used_at"])
    return evidence


def invites_for_course(course_key, limit=100):
    """Supervisor invitations of this course run's learners not answered yet, newest first, for staff to manage."""
    return list(
        SupervisorInvite.objects.filter(used_at__isnull=True, **run_scope(course_key, "window__"))
        .select_related("window__user", "requirement").order_by("-created")[:limit]
    )


def invite_in_course(course_key, invite_id):
    """
    One invitation, only if it belongs to a learner of this course run.

    Raises:
        ActivationNotFound: no such invitation in this course.
    """
    invite = SupervisorInvite.objects.filter(pk=invite_id, **run_scope(course_key, "window__")).first()
    if invite is None:
        raise ActivationNotFound(_("No such invitation in this course."), field="invite")
    return invite
