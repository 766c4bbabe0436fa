"""Supervisor observation through a signed, expiring, single-use link, without an account."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import Evidence, Review, SupervisorInvite
from tests.conftest import committed
from tests.factories import UserFactory

OBSERVE = {"kind": "observation", "title": "Supervisor", "verification": "supervisor",
           "config": {"checklist": ["Greets", "Resolves"], "min_observed": 2}}


@pytest.fixture
def window(make_definition, learner, course_key):
    learner.first_name, learner.last_name = "Ada", "Lovelace"
    learner.save()
    make_definition(requirements=[OBSERVE], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    return window


def invite_url(window, course_key):
    return reverse("activation_plugin:invite_supervisor", kwargs={
        "course_id": str(course_key), "window_id": window.pk,
        "requirement_id": window.definition.requirements.get().pk})


def link_in(message):
    return re.search(r"http://127.0.0.1:8000(/activation/observe/\S+/)", message.body).group(1)


def committed_invite(window, requirement, email):
    """An invitation made and committed, as at the end of the learner's request: its mail leaves then."""
    with committed():
        return api.invite_supervisor(window, requirement, email)


def test_supervisor_confirms_once_and_the_window_activates(client, window, learner, course_key):
    client.force_login(learner)
    page = client.post(invite_url(window, course_key), {"email": "Boss@Example.com"}, follow=True)
    assert b"We emailed Boss@Example.com" in page.content
    [invitation] = mail.outbox
    assert invitation.to == ["Boss@Example.com"] and "Ada Lovelace asks you" in invitation.subject
    client.logout()
    link = link_in(invitation)
    form = client.get(link)
    assert form.status_code == 200
    assert b"Ada Lovelace" in form.content and b"Greets" in form.content and b"Uses it at work." in form.content
    done = client.post(link, {"item-0": "observed", "item-1": "observed", "comment": "Saw it Tuesday"})
    assert b"your observation was recorded" in done.content
    window.refresh_from_db()
    evidence = Evidence.objects.get()
    review = Review.objects.get()
    assert (window.state, evidence.source, evidence.status) == ("activated", "supervisor", "verified")
    assert (review.role, review.reviewer_email, review.comment) == ("supervisor", "Boss@Example.com", "Saw it Tuesday")
    again = client.post(link, {"item-0": "observed", "item-1": "observed"})
    assert again.status_code == 400 and b"already used" in again.content
    assert Evidence.objects.count() == 1


def test_too_few_behaviours_observed_rejects(window, client):
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    client.post(link_in(mail.outbox[0]), {"item-0": "observed", "item-1": "not_observed"})
    window.refresh_from_db()
    assert (Evidence.objects.get().status, window.state) == ("rejected", "open")


@pytest.mark.parametrize("email, message", [
    ("not-an-address", "supervisor's email address"),
    ("LEARNER@example.com", "own address"),
    ("learner+boss@Example.com", "own address"),  # a +tag reaches the learner's own mailbox
])
def test_bad_supervisor_addresses_are_refused(window, email, message):
    with pytest.raises(ActivationRequestError, match=message):
        committed_invite(window, window.definition.requirements.get(), email)
    assert not SupervisorInvite.objects.exists() and mail.outbox == []


def test_two_learners_cannot_confirm_each_other(window, course_key, learner):
    friend = UserFactory(username="friend")
    [friends_window] = api.open_windows(friend.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    requirement = window.definition.requirements.get()
    committed_invite(friends_window, requirement, learner.email)
    with pytest.raises(ActivationRequestError, match="asked you to confirm"):
        committed_invite(window, requirement, friend.email)


def test_inviting_twice_sends_once(window):
    requirement = window.definition.requirements.get()
    first = committed_invite(window, requirement, "boss@example.com")
    assert committed_invite(window, requirement, "BOSS@example.com") == first
    assert len(mail.outbox) == 1


def test_revoked_expired_tampered_and_resent_links(window, client, settings):
    requirement = window.definition.requirements.get()
    invite = committed_invite(window, requirement, "boss@example.com")
    old_link = link_in(mail.outbox[0])
    assert client.get(old_link[:-6] + "xxxxx/").status_code == 400
    with committed():
        fresh = api.resend_invite(invite)
    new_link = link_in(mail.outbox[1])
    revoked = client.get(old_link)
    assert revoked.status_code == 400 and b"no longer valid" in revoked.content
    assert client.get(new_link).status_code == 200
    SupervisorInvite.objects.filter(pk=fresh.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.post(new_link, {"item-0": "observed", "item-1": "observed"})
    assert expired.status_code == 400 and b"expired" in expired.content
    api.revoke_invite(fresh)
    assert b"no longer valid" in client.get(new_link).content
    assert not Evidence.objects.exists()


def test_an_invitation_whose_mail_fails_is_kept_and_retried_once_not_lost_or_doubled(window, settings, client,
                                                                                     course_key):
    """
    Issue 20: the mail is sent after the invitation commits, through a real SMTP backend that
    refuses (nothing listens on port 9): the row stays, says ``failed``, the learner is told, and
    the tick mails it after the retry delay, once, however often it runs.
    """
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    client.force_login(window.user)
    response = client.post(invite_url(window, course_key), {"email": "boss@example.com"}, follow=True)
    assert "could not be emailed just now" in response.content.decode()
    invite = SupervisorInvite.objects.get()
    assert (invite.mail_status, invite.mail_attempts, invite.sent_at) == ("failed", 1, None) and invite.mail_error
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    queue = client.get(reverse("activation_plugin:review_queue", kwargs={"course_id": str(course_key)}))
    assert 'data-mail="failed"' in queue.content.decode()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The same address again is the same invitation, not a second one.
    assert committed_invite(window, window.definition.requirements.get(), "Boss@example.com").pk == invite.pk
    assert api.tick()["invitations_retried"] == 0 and mail.outbox == []  # not before the retry delay
    later = timezone.now() + timedelta(hours=1, minutes=1)
    assert api.tick(now=later)["invitations_retried"] == 1
    assert api.tick(now=later + timedelta(hours=2))["invitations_retried"] == 0
    invite.refresh_from_db()
    assert (invite.mail_status, invite.mail_attempts, invite.mail_error) == ("sent", 2, "")
    [message] = mail.outbox
    assert message.to == ["boss@example.com"] and link_in(message)
    assert SupervisorInvite.objects.count() == 1


def test_a_mail_failure_is_retried_a_bounded_number_of_times(window, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    invite = committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    now = timezone.now()
    retried = [api.tick(now=now + timedelta(hours=2 * n))["invitations_retried"] for n in range(1, 7)]
    invite.refresh_from_db()
    assert retried == [1, 1, 1, 1, 0, 0] and (invite.mail_status, invite.mail_attempts) == ("failed", 5)


def test_learners_cannot_invite_for_someone_elses_window(client, window, course_key):
    client.force_login(UserFactory(username="intruder"))
    assert client.post(invite_url(window, course_key), {"email": "boss@example.com"}).status_code == 404
    assert not SupervisorInvite.objects.exists()


def test_the_supervisor_form_is_rate_limited(window, client):
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    link = link_in(mail.outbox[0])
    statuses = [client.post(link, {"item-0": "observed"}).status_code for _ in range(11)]
    assert statuses == [200] + [400] * 9 + [429]  # recorded once, then "already used", then throttled
    assert Evidence.objects.count() == 1


def test_oversized_and_script_comments(window, client):
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    link = link_in(mail.outbox[0])
    too_long = client.post(link, {"item-0": "observed", "item-1": "observed", "comment": "x" * 20001})
    assert too_long.status_code == 400 and b"at most 20000 characters" in too_long.content
    assert not Evidence.objects.exists()
    client.post(link, {"item-0": "observed", "item-1": "observed", "comment": "<script>alert(1)</script>"})
    assert Review.objects.get().comment == "<script>alert(1)</script>"  # stored as written, escaped on output


def test_the_learner_cannot_answer_their_own_link(window, client, learner):
    """Opened in the learner's own session, the link used to record 'all observed' as supervisor evidence."""
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    link = link_in(mail.outbox[0])
    client.force_login(learner)
    assert client.get(link).status_code == 400
    response = client.post(link, {"item-0": "observed", "item-1": "observed"})
    assert response.status_code == 400 and b"cannot confirm your own behaviour" in response.content
    assert not Evidence.objects.exists()
    client.logout()
    assert b"your observation was recorded" in client.post(link, {"item-0": "observed", "item-1": "observed"}).content


def test_invitations_per_day_are_bounded_across_windows(window, settings, course_key, learner):
    """25 invitations to 25 strangers used to go out in 2.3 s."""
    settings.ACTIVATION_SUPERVISOR_INVITES_PER_DAY = 3
    requirement = window.definition.requirements.get()
    for number in range(3):
        committed_invite(window, requirement, f"boss{number}@example.com")
    with pytest.raises(ActivationRequestError, match="as many invitations as a day allows"):
        committed_invite(window, requirement, "stranger@example.com")
    assert len(mail.outbox) == 3 and SupervisorInvite.objects.count() == 3
    assert committed_invite(window, requirement, "boss0@example.com")  # the same one again costs nothing
    SupervisorInvite.objects.update(created=timezone.now() - timedelta(days=1, minutes=1))
    committed_invite(window, requirement, "stranger@example.com")
    assert len(mail.outbox) == 4


def test_a_learner_name_cannot_carry_a_link_into_the_invitation(window, learner):
    learner.first_name, learner.last_name = "WIN $500 now at https://evil.example/claim", "\nPS: reply"
    learner.save()
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    [invitation] = mail.outbox
    for text in (invitation.subject, invitation.body):
        assert "://" not in text.replace(link_in(invitation), "").replace("http://127.0.0.1:8000", "")
        assert "$" not in text and "evil.example/claim" not in text
    assert invitation.subject.startswith("WIN 500 now at https evil.example claim")


def test_dots_gmail_ignores_do_not_make_another_supervisor(make_definition, course_key):
    learner = UserFactory(username="ann", email="ann.lee@gmail.com")
    make_definition(requirements=[OBSERVE], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    with pytest.raises(ActivationRequestError, match="own address"):
        committed_invite(window, window.definition.requirements.get(), "A.NNLEE+boss@gmail.com")
    committed_invite(window, window.definition.requirements.get(), "ann.lee@example.com")  # another provider


@pytest.mark.parametrize("leave", ["retire", "withdraw"])
def test_a_supervisors_address_and_comment_leave_with_the_learner(window, client, learner, course_key, leave):
    """Retirement used to clear only reviews the retired user wrote: the supervisor's email and comment stayed."""
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    client.post(link_in(mail.outbox[0]), {"item-0": "observed", "item-1": "observed", "comment": "Saw Ada on Tuesday"})
    assert Review.objects.get().reviewer_email == "boss@example.com"
    if leave == "retire":
        api.retire_user(learner.pk)
    else:
        api.withdraw_window(learner, course_key, window.pk)
    review = Review.objects.get()
    assert (review.reviewer_email, review.comment, review.verdict) == (None, "", "verified")


def test_bad_attempts_from_a_shared_address_do_not_lock_a_supervisor_out(window, client):
    """Behind one NAT, someone else's 60 guesses used to make the valid link answer 429."""
    committed_invite(window, window.definition.requirements.get(), "boss@example.com")
    link = link_in(mail.outbox[0])
    guesses = [client.post(f"/activation/observe/guess{number}:forged/", {"item-0": "observed"}).status_code
               for number in range(60)]
    assert guesses[0] == 400 and guesses[-1] == 429  # guessing is still throttled per address
    done = client.post(link, {"item-0": "observed", "item-1": "observed"})
    assert done.status_code == 200 and b"your observation was recorded" in done.content


def test_operators_may_restrict_supervisor_domains(window, settings):
    requirement = window.definition.requirements.get()
    settings.ACTIVATION_SUPERVISOR_EMAIL_DOMAINS = ["acme.com"]
    for refused in ("boss@gmail.com", "boss@notacme.com", "boss@acme.com.evil.org"):
        with pytest.raises(ActivationRequestError, match="email domain"):
            committed_invite(window, requirement, refused)
    assert committed_invite(window, requirement, "Boss@Mail.ACME.com").email == "Boss@Mail.ACME.com"
    settings.ACTIVATION_SUPERVISOR_EMAIL_DOMAINS = []
    settings.ACTIVATION_SUPERVISOR_BLOCKED_EMAIL_DOMAINS = ["gmail.com", "@outlook.com"]
    for refused in ("boss@gmail.com", "boss@eu.outlook.com"):
        with pytest.raises(ActivationRequestError, match="email domain"):
            committed_invite(window, requirement, refused)
    assert committed_invite(window, requirement, "lead@example.org").email == "lead@example.org"
    assert [m.to for m in mail.outbox] == [["Boss@Mail.ACME.com"], ["lead@example.org"]]
