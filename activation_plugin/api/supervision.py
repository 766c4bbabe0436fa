"""
Supervisor observation: a learner names the supervisor who saw the behaviour on the job; the
supervisor confirms it through a signed, expiring, single-use link, without an account.

The invitation's mail goes out after the invitation commits, never while its row is locked, and
at most once per attempt, like the prompts (docs/decisions/0006-at-most-once-follow-up.rst): the
row is stored ``sending``, the mail is sent once the transaction commits, the outcome is recorded,
and the tick retries a failed one (``retry_unsent_invites``).
"""
import logging
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from activation_plugin import links, platform, prompts, toggles
from activation_plugin.api.evidence import record_evidence, review_evidence
from activation_plugin.api.queries import run_scope
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.mailboxes import invited_pairs, is_mutual, mailbox
from activation_plugin.models import (
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    Review,
    SupervisorInvite,
)

log = logging.getLogger(__name__)
MAX_MAIL_ATTEMPTS = 5
MAIL_PAUSED = "Outgoing mail is paused (the activation_plugin.pause_outgoing_mail switch is on)."


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
    """Refuse an address that cannot be a supervisor's: malformed, off the allowed domains, own or mutual."""
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ActivationRequestError(_("Enter your supervisor's email address."), field="email") from exc
    if email.startswith('"'):
        # Valid, but a quoted local part ("ann"@example.com) is another spelling of a mailbox.
        raise ActivationRequestError(_("Enter a plain address, without quotation marks."), field="email")
    if not supervisor_domain_allowed(email):
        raise ActivationRequestError(_("This platform does not accept supervisors at this email domain; "
                                       "use your supervisor's work address."), field="email")
    if mailbox(email) == mailbox(window.user.email):
        raise ActivationRequestError(_("A supervisor must be someone else: your own address cannot confirm."),
                                     field="email")
    # Two learners confirming each other is self-report with extra steps.
    course = window.definition.catalog_course
    if is_mutual(course, window.user.email, email, invited_pairs([course], {mailbox(window.user.email)})):
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
    language = platform.language_for(window.user)
    values = {"learner": sender_name(window.user), "course": platform.course_title(window.course_run),
              "behavior": window.definition.behavior, "link": links.supervisor_url(invite),
              "expires": prompts.local_date(invite.expires_at, language)}
    with translation.override(language):
        subject = _("{learner} asks you to confirm a behaviour at work").format(**values)
        body = _("{learner} recently completed the course “{course}” and is applying it at work:\n\n{behavior}\n\n"
                 "If you have seen this, please confirm what you observed (two minutes, no account needed) "
                 "before {expires}:\n{link}\n\nIf you have not, you can ignore this message.").format(**values)
        action = (_("Confirm what you observed"), values["link"])
    platform.send_message(email=invite.email, subject=subject, body=body, action=action, language=language)


def invite_supervisor(window, requirement, email):
    """
    Invite a supervisor to observe; the same pending invitation again changes nothing. The mail
    leaves once the outermost transaction commits; if the mail server refuses it, the invitation stays
    ``failed`` and the tick sends it again (``mail_status`` says which, for the page to tell).

    Raises:
        ActivationRequestError: not an observation of this window's definition, a closed window,
            an invalid, own or mutual address, or too many invitations today.
    """
    with transaction.atomic():
        invite, created = _claim_invite(window, requirement, (email or "").strip())
    if created:
        _deliver_after_commit(invite)
    return invite


def _deliver_after_commit(invite):
    """
    Mail the invitation once the outermost transaction commits: inside the LMS a request runs in one
    (``ATOMIC_REQUESTS``), and the savepoint above is not a commit. Until then ``invite`` reads
    ``sending``; outside a transaction it is mailed at once and reads ``sent`` or ``failed``. If the
    request rolls back, the invitation and its mail go with it.
    """
    transaction.on_commit(lambda: _deliver(invite), robust=True)


def _claim_invite(window, requirement, email):
    """
    ``(invitation, created)``: the pending one for this address, or a new one stored as the claim
    its mail is sent under; every refusal happens here, before any mail.
    """
    if requirement.kind != EvidenceRequirement.Kind.OBSERVATION or requirement.definition_id != window.definition_id:
        raise ActivationRequestError(_("This requirement is not a supervisor observation."), field="requirement")
    now = timezone.now()
    if window.state not in (ActivationWindow.State.OPEN, ActivationWindow.State.ACTIVATED) or window.closes_at <= now:
        raise ActivationRequestError(_("This window has closed."), field="window")
    _check_supervisor_email(window, email)
    pending = SupervisorInvite.objects.filter(window=window, requirement=requirement, email__iexact=email,
                                              used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
    if pending.exists():
        return pending.first(), False
    # The platform's mail server must not become a learner's way to write to strangers.
    # Counted in distinct addresses: writing again to someone already invited (or staff resending) is no new stranger.
    recent = set(SupervisorInvite.objects.filter(window__user_id=window.user_id, created__gt=now - timedelta(days=1))
                 .values_list(Lower("email"), flat=True))
    if email.lower() not in recent and len(recent) >= settings.ACTIVATION_SUPERVISOR_INVITES_PER_DAY:
        raise ActivationRequestError(
            _("You have sent as many invitations as a day allows; please try again tomorrow."), field="email")
    return _new_invite(window, requirement, email, now), True


def _new_invite(window, requirement, email, now):
    """The invitation, stored ``sending`` with its first attempt: the claim its mail is sent under."""
    return SupervisorInvite.objects.create(
        window=window, requirement=requirement, email=email, nonce=secrets.token_urlsafe(32),
        expires_at=min(now + timedelta(days=settings.ACTIVATION_SUPERVISOR_LINK_DAYS), window.closes_at),
        mail_attempts=1, mail_attempted_at=now,
    )


def _deliver(invite):
    """
    Send a committed claim and record the outcome on the row; never raises, so a mail failure
    cannot undo the invitation or fail the request that made it. ``invite`` is updated in place.
    While outgoing mail is paused the invitation waits as ``failed`` for the tick, the attempt given back.
    """
    if toggles.mail_paused():
        invite.mail_status, invite.mail_error = SupervisorInvite.MailStatus.FAILED, MAIL_PAUSED
        invite.mail_attempts -= 1
        SupervisorInvite.objects.filter(pk=invite.pk).update(
            mail_status=invite.mail_status, mail_error=MAIL_PAUSED, mail_attempts=F("mail_attempts") - 1)
        return
    try:
        _send_invite(invite)
    except Exception as exc:  # pylint: disable=broad-except
        # Any backend failure (SMTP, ACE, network) leaves the invitation for the tick to retry.
        log.warning("activation: supervisor invitation %s could not be mailed: %s", invite.pk, exc)
        invite.mail_status, invite.mail_error = SupervisorInvite.MailStatus.FAILED, str(exc)[:2000]
        SupervisorInvite.objects.filter(pk=invite.pk).update(mail_status=invite.mail_status,
                                                             mail_error=invite.mail_error)
        return
    invite.mail_status, invite.sent_at, invite.mail_error = SupervisorInvite.MailStatus.SENT, timezone.now(), ""
    SupervisorInvite.objects.filter(pk=invite.pk).update(mail_status=invite.mail_status, sent_at=invite.sent_at,
                                                         mail_error="")


def retry_unsent_invites(now=None):
    """
    Mail again the invitations whose last attempt failed at least ``prompts.RETRY_DELAY`` ago and
    that can still be answered, up to ``MAX_MAIL_ATTEMPTS`` attempts. Each is claimed (``sending``,
    one more attempt) and committed before it is sent, so two ticks never mail one twice.

    Returns:
        int: the invitations claimed for another attempt.
    """
    if toggles.mail_paused():
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(
            SupervisorInvite.objects.select_for_update(skip_locked=True)
            .filter(mail_status=SupervisorInvite.MailStatus.FAILED, mail_attempted_at__lte=now - prompts.RETRY_DELAY,
                    mail_attempts__lt=MAX_MAIL_ATTEMPTS, used_at__isnull=True, revoked_at__isnull=True,
                    expires_at__gt=now)
            .order_by("mail_attempted_at")[:settings.ACTIVATION_TICK_BATCH_SIZE])
        for invite in claimed:
            invite.mail_status, invite.mail_attempts = SupervisorInvite.MailStatus.SENDING, invite.mail_attempts + 1
            invite.mail_attempted_at = now
        SupervisorInvite.objects.bulk_update(claimed, ["mail_status", "mail_attempts", "mail_attempted_at"])
    for invite in claimed:
        _deliver(invite)
    return len(claimed)


@transaction.atomic
def revoke_invite(invite):
    """Staff withdraw an invitation; its link stops working at once."""
    SupervisorInvite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def resend_invite(invite):
    """
    Staff send a fresh link (a new secret; the old link stops working), mailed once the outermost
    transaction commits.

    Raises:
        ActivationRequestError: the invitation was already used, or the window has closed.
    """
    with transaction.atomic():
        invite = SupervisorInvite.objects.select_for_update().select_related(
            "window__user", "window__definition").get(pk=invite.pk)
        if invite.used_at:
            raise ActivationRequestError(_("The supervisor already answered this invitation."), field="invite")
        now = timezone.now()
        if invite.window.closes_at <= now:
            raise ActivationRequestError(_("This window has closed."), field="window")
        invite.revoked_at = now
        invite.save(update_fields=["revoked_at"])
        fresh = _new_invite(invite.window, invite.requirement, invite.email, now)
    _deliver_after_commit(fresh)
    return fresh


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
    """
    Supervisor invitations of this course run's learners not answered yet, newest first, for staff to
    manage; ``mutual`` marks one whose supervisor invited its learner in turn (a pair from before such
    invitations were refused, or sent at the same moment).
    """
    invites = list(
        SupervisorInvite.objects.filter(used_at__isnull=True, **run_scope(course_key, "window__"))
        .select_related("window__user", "window__definition", "requirement").order_by("-created")[:limit]
    )
    pairs = invited_pairs({invite.window.definition.catalog_course for invite in invites},
                          {mailbox(invite.window.user.email) for invite in invites})
    for invite in invites:
        invite.mutual = is_mutual(invite.window.definition.catalog_course, invite.window.user.email, invite.email,
                                  pairs)
    return invites


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
