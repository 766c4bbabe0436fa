"""Follow-up prompts and reminders sent by the tick: on their day, at most once, retried on failure."""
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.utils import timezone
from django.utils.formats import date_format
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api, prompts
from activation_plugin.api import messaging
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.figures.headline import funnel_counts
from activation_plugin.figures.quality import data_quality
from activation_plugin.models import ActivationWindow, PromptDelivery, PromptOptOut
from demo.models import DemoCourse
from tests.conftest import NOW, PROJECT, SURVEY
from tests.factories import UserFactory

PROMPTED_PROJECT = {**PROJECT, "prompts": [{
    "send_after_days": 7, "reminder_days": [14, 21],
    "subject": "{course_name}: how did it go?",
    "body": "Hi {learner_name}, show us before {deadline}: {link} {unknown}",
}]}


@pytest.fixture
def window(make_definition, learner, course_key):
    make_definition(requirements=[PROMPTED_PROJECT], window_days=30)
    learner.first_name = "Ada"
    learner.save()
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    return window


def ticks(*days):
    return [api.tick(now=NOW + timedelta(days=day)) for day in days]


def test_prompt_and_reminders_go_out_on_their_days_once(window, course_key):
    ticks(0, 6)
    assert mail.outbox == []
    ticks(7, 7, 8)
    [prompt] = mail.outbox
    assert prompt.subject == "Applying Things: how did it go?"
    assert prompt.body.startswith(f"Hi Ada, show us before {date_format(window.closes_at, 'DATE_FORMAT')}: "
                                  f"http://127.0.0.1:8000/activation/learner/{course_key}/ {{unknown}}\n\n-- \n")
    assert "To stop these messages: http://127.0.0.1:8000/activation/opt-out/" in prompt.body
    ticks(14, 15, 21, 22, 29)
    assert [m.subject for m in mail.outbox] == ["Applying Things: how did it go?"] * 3
    assert list(PromptDelivery.objects.order_by("sequence").values_list("kind", "sequence", "status")) == [
        ("prompt", 0, "sent"), ("reminder", 1, "sent"), ("reminder", 2, "sent")]
    window.refresh_from_db()
    assert window.next_action_at == window.closes_at


def test_next_action_follows_the_schedule(window):
    ticks(0)
    window.refresh_from_db()
    assert window.next_action_at == NOW + timedelta(days=7)
    ticks(7)
    window.refresh_from_db()
    assert window.next_action_at == NOW + timedelta(days=14)


def test_reminders_stop_once_the_learner_responded(window):
    ticks(7)
    api.record_evidence(window=window, requirement=window.definition.requirements.get(), source="learner",
                        payload={"text": "done"}, idempotency_key="k", submitted_at=NOW + timedelta(days=8))
    ticks(14, 21)
    assert len(mail.outbox) == 1


def test_a_closed_window_gets_no_more_reminders(window):
    ticks(7, 31, 40)
    assert len(mail.outbox) == 1
    window.refresh_from_db()
    assert window.state == "expired"


def test_holdout_learners_get_no_prompt(make_definition, course_key):
    definition = make_definition(requirements=[PROMPTED_PROJECT], holdout_percent=50)
    users = UserFactory.create_batch(20)
    for user in users:
        api.open_windows(user.pk, course_key, "passing", NOW)
    ticks(7)
    holdout = {w.user.email for w in definition.windows.filter(arm="holdout")}
    assert holdout and len(mail.outbox) == 20 - len(holdout)
    assert not holdout & {m.to[0] for m in mail.outbox}


def test_failing_mail_backend_keeps_the_prompt_and_retries(window, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    assert ticks(7) == [{"completions_retried": 0, "completions_pending": 0, "sent": 0, "failed": 1, "reclaimed": 0,
                         "ambiguous": 0, "expired": 0, "invitations_retried": 0, "tallies_counted": 0,
                         "tallies_built": 0}]
    delivery = PromptDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1) and delivery.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ticks(7)  # the retry waits for its delay
    assert mail.outbox == []
    assert ticks(7 + 1 / 12) == [{"completions_retried": 0, "completions_pending": 0, "sent": 1, "failed": 0,
                                  "reclaimed": 0, "ambiguous": 0, "expired": 0, "invitations_retried": 0,
                                  "tallies_counted": 0, "tallies_built": 0}]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")


def test_a_failed_prompt_overtaken_by_a_reminder_is_skipped_not_sent_late(window, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    ticks(7)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ticks(14, 15)
    assert len(mail.outbox) == 1
    assert list(PromptDelivery.objects.order_by("sequence").values_list("kind", "status")) == [
        ("prompt", "skipped"), ("reminder", "sent")]


def test_a_claim_left_sending_by_a_dead_worker_is_never_resent_but_reported_until_an_operator_settles_it(window):
    ticks(0)
    PromptDelivery.objects.create(window=window, prompt=window.definition.requirements.get().prompts.get(),
                                  kind="prompt", sequence=0, claimed_at=NOW + timedelta(days=7), status="sending")
    [first, later] = ticks(7, 8)
    assert mail.outbox == []
    assert (first["ambiguous"], later["ambiguous"]) == (0, 1)  # reported once older than the lease
    assert data_quality(window.definition, now=NOW + timedelta(days=8))["prompts_in_doubt"] == 1
    call_command("activation_prompt_claims", "--give-up")
    assert PromptDelivery.objects.get().status == "skipped" and ticks(9)[0]["ambiguous"] == 0
    assert mail.outbox == []


def prompted(definition, now):
    """The funnel's prompted count of the prompted arm, before suppression (one learner here)."""
    return funnel_counts(definition, now)["prompted"]["prompted"]


def test_an_ambiguous_claim_resent_by_an_operator_goes_out_once_and_counts_as_prompted_only_then(window):
    ticks(0)
    PromptDelivery.objects.create(window=window, prompt=window.definition.requirements.get().prompts.get(),
                                  kind="prompt", sequence=0, claimed_at=NOW + timedelta(days=7), status="sending")
    ticks(8)
    assert prompted(window.definition, NOW + timedelta(days=8)) == 0
    assert api.settle_ambiguous_claims(resend=True, now=NOW + timedelta(days=8)) == 1
    ticks(8, 8)
    assert len(mail.outbox) == 1
    delivery = PromptDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert prompted(window.definition, NOW + timedelta(days=8)) == 1


def test_the_queued_claims_of_a_tick_that_died_are_sent_once_by_a_later_tick_after_the_lease(window, settings):
    """A tick that claimed its batch and died before sending: nothing is lost, nothing is doubled."""
    ticks(0)
    claim_time = NOW + timedelta(days=7)
    PromptDelivery.objects.create(window=window, prompt=window.definition.requirements.get().prompts.get(),
                                  kind="prompt", sequence=0, claimed_at=claim_time, status="queued")
    ActivationWindow.objects.filter(pk=window.pk).update(next_action_at=NOW + timedelta(days=8))
    assert ticks(7)[0]["reclaimed"] == 0 and mail.outbox == []  # inside the lease: the claimer may be alive
    settings.ACTIVATION_TICK_CLAIM_LEASE_MINUTES = 10
    [result] = ticks(7 + 1 / 24)
    assert (result["reclaimed"], result["sent"], len(mail.outbox)) == (1, 1, 1)
    assert PromptDelivery.objects.get().status == "sent"
    ticks(7 + 2 / 24, 8)
    assert len(mail.outbox) == 1


def test_a_tick_that_outlived_its_lease_skips_the_claims_taken_back_from_it(window, settings):
    """The slow tick's conditional start (queued at its own claim time) fails once another took the claim."""
    settings.ACTIVATION_TICK_CLAIM_LEASE_MINUTES = 10
    ticks(0)
    now = NOW + timedelta(days=7)
    claims = messaging._claim_due_messages(now, 10)  # pylint: disable=protected-access
    assert messaging.reclaim_stale_claims(now + timedelta(minutes=11)) == 1
    assert messaging._send_group(claims, now, {window.user_id: "en"}) == []  # pylint: disable=protected-access
    assert mail.outbox == [] and PromptDelivery.objects.get().status == "failed"
    assert api.tick(now=now + timedelta(minutes=12))["sent"] == 1 and len(mail.outbox) == 1


def test_a_group_sends_only_the_claims_still_its_own_and_records_them_sent_together(make_definition, course_key):
    """
    Another tick took one claim of the group back (and claimed it again at its own time): the group
    starts and sends the others, and leaves that one, still ``queued``, to the other tick.
    """
    make_definition(requirements=[PROMPTED_PROJECT], window_days=30)
    learners = UserFactory.create_batch(3)
    for user in learners:
        api.open_windows(user.pk, course_key, "passing", NOW)
    now = NOW + timedelta(days=7)
    claims = messaging._claim_due_messages(now, 10)  # pylint: disable=protected-access
    taken = claims[1][0]
    PromptDelivery.objects.filter(pk=taken.pk).update(claimed_at=now + timedelta(minutes=31))
    languages = {user.pk: "en" for user in learners}
    outcomes = messaging._send_group(claims, now, languages)  # pylint: disable=protected-access
    assert [(delivery.pk, sent) for delivery, _message, sent in outcomes] == [
        (claims[0][0].pk, True), (claims[2][0].pk, True)]
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        delivery.window.user.email for delivery, _message, _sent in outcomes)
    assert dict(PromptDelivery.objects.values_list("pk", "status")) == {
        claims[0][0].pk: "sent", taken.pk: "queued", claims[2][0].pk: "sent"}


class Killed(BaseException):
    """The worker killed while the mail server talks: no ``except Exception`` of the tick stops it."""


class DyingMailBackend(locmem.EmailBackend):
    """Django's test outbox, whose worker dies as it hands over the fifth message."""

    def send_messages(self, messages):
        if len(mail.outbox) == 4:
            raise Killed
        return super().send_messages(messages)


class CountedMailBackend(locmem.EmailBackend):
    """Django's test outbox, counting the connections the tick opens to it."""

    opened = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        CountedMailBackend.opened += 1


def open_prompted_windows(make_definition, course_key, count):
    make_definition(requirements=[PROMPTED_PROJECT], window_days=30)
    for user in UserFactory.create_batch(count):
        api.open_windows(user.pk, course_key, "passing", NOW)


def test_a_tick_killed_mid_group_leaves_that_group_in_doubt_and_the_rest_of_its_batch_queued(
        make_definition, course_key, settings):
    """
    Groups of 3 (``ACTIVATION_TICK_SEND_GROUP``): the first group is sent and recorded; the second is
    ``sending`` as a whole when the worker dies on its second message (sent or not, nobody knows which,
    so none is re-sent on a guess); the last group never started and stays ``queued`` for a later tick.
    """
    settings.ACTIVATION_TICK_SEND_GROUP = 3
    settings.EMAIL_BACKEND = f"{__name__}.DyingMailBackend"
    open_prompted_windows(make_definition, course_key, 8)
    with pytest.raises(Killed):
        api.send_due_prompts(now=NOW + timedelta(days=7))
    assert len(mail.outbox) == 4
    assert list(PromptDelivery.objects.order_by("pk").values_list("status", flat=True)) == (
        ["sent"] * 3 + ["sending"] * 3 + ["queued"] * 2)


def test_each_group_of_messages_goes_over_one_connection_to_the_mail_backend(make_definition, course_key, settings):
    settings.ACTIVATION_TICK_SEND_GROUP = 3
    settings.EMAIL_BACKEND = f"{__name__}.CountedMailBackend"
    open_prompted_windows(make_definition, course_key, 7)
    CountedMailBackend.opened = 0
    assert api.send_due_prompts(now=NOW + timedelta(days=7))["sent"] == 7
    assert (len(mail.outbox), CountedMailBackend.opened) == (7, 3)  # groups of 3, 3 and 1


def test_a_late_tick_sends_only_the_latest_due_message(window):
    ticks(22)
    assert len(mail.outbox) == 1
    assert list(PromptDelivery.objects.order_by("sequence").values_list("sequence", "status")) == [
        (0, "skipped"), (1, "skipped"), (2, "sent")]
    ticks(23, 29)
    assert len(mail.outbox) == 1


def test_placeholders_render_and_unknown_ones_stay_visible():
    assert prompts.render("{a} and {b}", {"a": 1}) == "1 and {b}"


def test_windows_without_prompts_wait_for_their_close(make_definition, learner, course_key):
    make_definition()
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    ticks(1)
    window.refresh_from_db()
    assert window.next_action_at == window.closes_at
    assert ActivationWindow.objects.filter(state="open").count() == 1


def opt_out_link(message):
    return re.search(r"http://127.0.0.1:8000(/activation/opt-out/\S+/)", message.body).group(1)


def test_opt_out_link_asks_once_then_stops_further_prompts_but_keeps_counting(window, client, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's window is counted, not hidden, for this check
    ticks(7)
    link = opt_out_link(mail.outbox[0])
    page = client.get(link)
    assert page.status_code == 200 and b"Stop these messages" in page.content
    assert not PromptOptOut.objects.exists()  # a mail scanner following the link changes nothing
    assert client.post(link).status_code == 200
    assert client.post(link).status_code == 200  # twice is harmless
    assert PromptOptOut.objects.get().definition == window.definition
    ticks(14, 21)
    assert len(mail.outbox) == 1
    summary = api.summarize(window.definition, now=NOW + timedelta(days=22))
    assert (summary["completers"], summary["opted_out"]) == (1, 1)


def test_opting_out_of_everything_silences_every_definition(make_definition, learner, course_key, client):
    other_course = CourseKey.from_string("course-v1:TestX+OTHER+2026")
    DemoCourse.objects.create(course_key=other_course, display_name="Other")
    make_definition(requirements=[PROMPTED_PROJECT], name="one")
    make_definition(requirements=[PROMPTED_PROJECT], name="two", course_key=other_course)
    api.open_windows(learner.pk, course_key, "passing", NOW)
    api.open_windows(learner.pk, other_course, "passing", NOW)
    ticks(7)
    assert len(mail.outbox) == 2
    assert b"every course" in client.get(opt_out_link(mail.outbox[0])).content
    client.post(opt_out_link(mail.outbox[0]), {"scope": "all"})
    assert PromptOptOut.objects.get().definition is None
    ticks(14, 21)
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("mangle, message", [
    (lambda link: link.replace("/opt-out/", "/opt-out/x"), b"not valid"),
    (lambda link: link[:-5] + "AAAA/", b"not valid"),
])
def test_tampered_opt_out_links_are_refused(window, client, mangle, message):
    ticks(7)
    response = client.post(mangle(opt_out_link(mail.outbox[0])))
    assert response.status_code == 400 and message in response.content
    assert not PromptOptOut.objects.exists()


def test_expired_opt_out_link_is_refused(window, client, settings):
    ticks(7)
    settings.ACTIVATION_OPT_OUT_LINK_MAX_AGE_DAYS = -1
    response = client.post(opt_out_link(mail.outbox[0]))
    assert response.status_code == 400 and b"expired" in response.content
    assert not PromptOptOut.objects.exists()


def test_opt_out_of_an_unknown_learner_or_definition_is_refused(db):
    with pytest.raises(ActivationNotFound):
        api.opt_out(123456)


def test_prompts_are_written_in_the_learners_language(make_definition, course_key):
    from demo.models import DemoLanguagePreference  # pylint: disable=import-outside-toplevel
    make_definition(requirements=[{**PROJECT, "prompts": [{
        "send_after_days": 7, "subject": "How did it go?", "body": "Tell us, {learner_name}.",
        "translations": {"fr": {"subject": "Comment ça s'est passé ?", "body": "Racontez-nous, {learner_name}."}},
    }]}])
    french, english = UserFactory(first_name="Zoé"), UserFactory(first_name="Ann")
    DemoLanguagePreference.objects.create(user=french, language="fr-ca")
    for user in (french, english):
        api.open_windows(user.pk, course_key, "passing", NOW)
    ticks(7)
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert by_recipient[french.email].subject == "Comment ça s'est passé ?"
    assert by_recipient[french.email].body.startswith("Racontez-nous, Zoé.")
    assert "Vous recevez ce message car vous avez terminé Applying Things." in by_recipient[french.email].body
    assert by_recipient[english.email].subject == "How did it go?"
    assert "You receive this because you completed Applying Things." in by_recipient[english.email].body


def test_translations_without_a_body_are_refused(make_definition):
    with pytest.raises(ActivationRequestError, match="fr translation needs a subject and a body"):
        make_definition(requirements=[{**PROJECT, "prompts": [{
            "subject": "s", "body": "b", "translations": {"fr": {"subject": "s"}}}]}])


def test_a_batch_costs_a_constant_number_of_queries_plus_two_status_updates_per_group_of_messages(
        make_definition, course_key, settings):
    settings.ACTIVATION_TICK_BATCH_SIZE = 100
    settings.ACTIVATION_TICK_SEND_GROUP = 5
    make_definition(requirements=[PROMPTED_PROJECT])

    def queries_to_send(count):
        users = UserFactory.create_batch(count)
        for user in users:
            api.open_windows(user.pk, course_key, "passing", NOW)
        from django.db import connection  # pylint: disable=import-outside-toplevel
        from django.test.utils import CaptureQueriesContext  # pylint: disable=import-outside-toplevel
        with CaptureQueriesContext(connection) as captured:
            assert api.send_due_prompts(now=NOW + timedelta(days=7))["sent"] == count
        return len(captured)

    small, large = queries_to_send(5), queries_to_send(25)
    # Each group's start (queued → sending, committed before it goes out, so a crash leaves only the group
    # ambiguous), then its status recorded once it is sent: 1 group of 5, then 5. The windows it made
    # prompted are counted once for the batch (the windows locked, one upsert, one update).
    assert large - small == (5 - 1) * 2


USED_SURVEY = {**SURVEY, "config": {**SURVEY["config"], "activation_condition": {
    "match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}, "prompts": [{
        "send_after_days": 7, "reminder_days": [14], "subject": "Did you use it?", "body": "{link}"}]}


@pytest.mark.parametrize("used, reminded", [("no", True), ("yes", False)])
def test_a_not_yet_answer_keeps_the_reminders_coming_and_an_answer_that_counts_stops_them(
        make_definition, learner, course_key, used, reminded):
    make_definition(requirements=[USED_SURVEY], window_days=30)
    opened = timezone.now() - timedelta(days=8)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    api.tick(now=opened + timedelta(days=7))
    api.save_learner_response(window=window, requirement=window.definition.requirements.get(),
                              payload={"answers": {"used": used}}, idempotency_key="answer")
    api.tick(now=opened + timedelta(days=14))
    assert [message.subject for message in mail.outbox] == ["Did you use it?"] * (2 if reminded else 1)
