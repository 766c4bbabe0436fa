"""
Faults: replayed, duplicated and out-of-order completion events, a database failure in the middle
of a request or a tick, a worker killed in the middle of a tick, and retirement racing the tick
and reviews. Afterwards nothing is lost and nothing is counted twice.

The tests that need real row locks, several connections or a killed process run on MariaDB only
(``make test-mariadb``), with the skip pattern of tests/test_concurrency.py.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import OperationalError, connection, connections, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.figures.headline import funnel_counts
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    FollowUpPrompt,
    MetricObservation,
    MetricSource,
    PendingCompletion,
    PromptDelivery,
    Review,
    SupervisorInvite,
    WindowTally,
)
from demo.models import DemoCompletionRecord, DemoSentMail
from tests.conftest import (
    DOCS,
    NOW,
    PROJECT,
    certificate_created,
    failures,
    replay_into_sqlite,
    send_certificate,
    send_passing,
)
from tests.factories import DefinitionFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
mariadb_only = pytest.mark.skipif(os.environ.get("DEMO_DB") != "mariadb",
                                  reason="needs MariaDB row locks and several connections (make test-mariadb)")
PROMPTED_PROJECT = {**PROJECT, "prompts": [{"send_after_days": 0, "subject": "Show us", "body": "{link}"}]}


def run_together(*works):
    """Run each callable in its own thread, all released at the same instant, each on its own connection."""
    results, errors, barrier = {}, [], threading.Barrier(len(works))

    def worker(index, work):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(f"{getattr(work, '__name__', work)}: {exc!r}\n{traceback.format_exc()}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], "a concurrent side failed:\n" + "\n".join(errors)
    return [results[index] for index in range(len(works))]


@pytest.fixture
def lock_holder():
    """
    A second real MariaDB connection, like another request in flight: ``lock(model, pk)`` takes
    the row with SELECT … FOR UPDATE and keeps it until ``release()``.
    """
    other = connections.create_connection("default")
    other.set_autocommit(False)

    class Holder:
        """Holds a row lock from another connection until released."""
        def lock(self, model, pk):
            with other.cursor() as cursor:
                cursor.execute(f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608

        def is_free(self, model, pk):
            """Whether the row can be locked at once (``NOWAIT``): no other transaction holds it."""
            try:
                with other.cursor() as cursor:
                    cursor.execute(f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                return True
            except OperationalError:
                return False
            finally:
                other.rollback()

        def release(self):
            other.rollback()

    yield Holder()
    other.rollback()
    other.close()


def short_lock_waits():
    """This test's own connection gives up on a held row after one second instead of fifty."""
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")


# 1. Replayed, duplicated and out-of-order completion events, through the real openedx-events signals.

@pytest.mark.django_db
def test_out_of_order_pass_fail_pass_keeps_the_window_of_the_first_event_delivered(make_definition, learner,
                                                                                   course_key, settings):
    """
    Fault: the event bus delivers a learner's passing → failing → passing history late and out
    of order, then replays all of it. The time of the first *delivered* passing event wins: from
    that moment the window is live — its deadline is in the prompts the learner receives and
    evidence is accepted against it — so an older event arriving later must not move it (it could
    retroactively shorten the window the learner was told about or expire it). A failing grade
    never closes a window. One window, and the figures do not move on replays.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=30)
    first_pass, failed, re_passed = NOW, NOW + timedelta(days=1), NOW + timedelta(days=2)
    assert failures(send_passing(learner.id, course_key, time=re_passed)) == []  # delivered first
    assert failures(send_passing(learner.id, course_key, is_passing=False, time=failed)) == []
    assert failures(send_passing(learner.id, course_key, time=first_pass)) == []  # the delayed original
    window = ActivationWindow.objects.get()
    assert (window.opened_at, window.closes_at, window.state) == (re_passed, re_passed + timedelta(days=30), "open")
    figures = api.summarize(definition)
    for when, passing in ((first_pass, True), (failed, False), (re_passed, True), (re_passed, True)):
        assert failures(send_passing(learner.id, course_key, is_passing=passing, time=when)) == []
    assert list(ActivationWindow.objects.values_list("opened_at", "state")) == [(re_passed, "open")]
    cache.clear()  # recomputed from the tables, not read back from the figures cache
    assert api.summarize(definition) == figures and figures["completers"] == 1


@pytest.mark.django_db
def test_certificate_before_passing_opens_one_follow_up_at_the_first_trigger(learner, course_key):
    """
    Fault: CERTIFICATE_CREATED arrives before the COURSE_PASSING_STATUS_UPDATED that caused it, in a
    course where a passing and a certificate definition are both active (as before activation
    archived the other). The certificate definition opens at the certificate's time; the passing
    event, when it comes, falls inside that window and opens no second follow-up. Replays of both
    change nothing.
    """
    on_certificate = DefinitionFactory(name="on certificate", trigger="certificate")
    DefinitionFactory(name="on passing")
    certified, passed = NOW + timedelta(hours=1), NOW
    send_certificate(learner.id, course_key, time=certified)
    assert list(ActivationWindow.objects.values_list("definition", "opened_at")) == [(on_certificate.pk, certified)]
    send_passing(learner.id, course_key, time=passed)
    for _replay in range(2):
        send_certificate(learner.id, course_key, time=certified + timedelta(days=3))
        send_passing(learner.id, course_key, time=passed + timedelta(days=3))
    assert list(ActivationWindow.objects.values_list("definition", "opened_at")) == [(on_certificate.pk, certified)]


@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_the_same_events_delivered_twice_at_once_open_one_window_each(make_definition, course_key, settings,
                                                                     events):  # noqa: F811
    """
    Fault: an at-least-once event bus delivers the same completion events to two consumers at
    the same instant, each with its own database connection. The unique (definition, user) key
    makes the slower INSERT a no-op: one window per learner, opened at the event's time, and the
    figures equal those of a single delivery — on the tab, and in the documented warehouse
    query over the tracking events, where both consumers may have emitted ``window.opened``
    (docs/references/events.rst says so; the query counts distinct windows).
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    learners = UserFactory.create_batch(30)

    def deliver():
        return sum(len(failures(send_passing(user.id, course_key))) for user in learners)

    assert run_together(deliver, deliver) == [0, 0]
    assert ActivationWindow.objects.count() == 30
    assert set(ActivationWindow.objects.values_list("user", flat=True)) == {user.pk for user in learners}
    assert set(ActivationWindow.objects.values_list("opened_at", flat=True)) == {NOW}
    figures = api.summarize(definition)
    assert figures["completers"] == 30
    deliver()
    cache.clear()
    assert api.summarize(definition) == figures
    warehouse = replay_into_sqlite(events()).execute((DOCS / "activation_rate.sql").read_text(encoding="utf-8"),
                                                     {"as_of": timezone.now().isoformat()}).fetchall()
    assert [row[3] for row in warehouse] == [30]


# 2. A database error in the middle of a request, and in the middle of the tick.

@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_mid_submission_stores_nothing_says_so_and_the_retry_counts_once(
        client, make_definition, learner, course_key, lock_holder, settings):
    """
    Fault: the learner's submission fails in the database half-way — the evidence row is
    inserted, then re-evaluating the window waits on a definition row another connection holds,
    until MariaDB's lock wait timeout. The whole write rolls back (no evidence without its
    window's re-evaluation), the learner reads that nothing was saved instead of a server error,
    and sending the same form again stores the evidence once and activates the window once.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()  # a self-verified project: saving it activates the window
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    url = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": definition.requirements.get().pk})
    form = {"submission_key": "form-1", "text": "I rewrote our onboarding guide.", "url": ""}
    client.force_login(learner)
    short_lock_waits()
    lock_holder.lock(ActivationDefinition, definition.pk)
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    assert "nothing was stored" in response.content.decode()
    assert not Evidence.objects.exists()
    window.refresh_from_db()
    assert (window.state, window.activated_at) == ("open", None)

    lock_holder.release()
    for _send_again in range(2):
        response = client.post(url, form, follow=True)
        assert "your answer was saved" in response.content.decode()
    assert Evidence.objects.get().payload["text"] == form["text"]
    window.refresh_from_db()
    assert window.state == "activated"
    assert api.summarize(definition)["open_activated"] == 1  # its window is still running


@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_mid_event_keeps_the_completion_and_the_next_tick_opens_its_window(
        make_definition, learner, course_key, lock_holder, caplog):
    """
    Fault: the completion event arrives while another transaction holds the definition row, so
    the window's INSERT (whose foreign key check needs that row) waits until MariaDB's lock wait
    timeout. The receiver used to let that error escape into the platform's dispatch, which
    logged it: the completion was lost. Now the stored completion stays and the tick opens the
    window, at the event's own time, once.
    """
    definition = make_definition()
    short_lock_waits()
    lock_holder.lock(ActivationDefinition, definition.pk)
    assert failures(send_passing(learner.id, course_key)) == []
    assert not ActivationWindow.objects.exists()
    pending = PendingCompletion.objects.get()
    assert pending.attempts == 1 and "Lock wait timeout" in pending.last_error
    lock_holder.release()

    assert api.tick(now=timezone.now() + timedelta(hours=1))["completions_retried"] == 1
    window = ActivationWindow.objects.get()
    assert (window.definition_id, window.user_id, window.opened_at) == (definition.pk, learner.pk, NOW)
    assert not PendingCompletion.objects.exists()


@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_in_the_tick_rolls_its_batch_back_and_the_next_tick_sends_each_prompt_once(
        make_definition, course_key, lock_holder, settings):
    """
    Fault: the tick's batch fails in the database after it locked its windows — claiming the
    prompts waits on the prompt row another connection holds (the claim's foreign key check)
    until the lock wait timeout. The error reaches the scheduler, the batch rolls back whole (no
    claim, ``next_action_at`` unchanged, nothing sent), and the next tick sends each prompt once.
    """
    settings.ACTIVATION_TICK_BATCH_SIZE = 50
    definition = make_definition(window_days=60, requirements=[PROMPTED_PROJECT])
    opened = timezone.now() - timedelta(hours=1)
    for user in UserFactory.create_batch(12):
        api.open_windows(user.pk, course_key, "passing", opened)
    short_lock_waits()
    lock_holder.lock(FollowUpPrompt, FollowUpPrompt.objects.get(requirement__definition=definition).pk)
    with pytest.raises(OperationalError, match="Lock wait timeout"):
        api.tick()
    assert not PromptDelivery.objects.exists() and mail.outbox == []
    assert set(ActivationWindow.objects.values_list("next_action_at", flat=True)) == {opened}

    lock_holder.release()
    assert api.tick()["sent"] == 12
    assert api.tick()["sent"] == 0
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        ActivationWindow.objects.values_list("user__email", flat=True))


# 3. A worker killed in the middle of a tick.

def database_connections():
    """The ids of the server's connections to this test's database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s",
                       [connection.settings_dict["NAME"]])
        return {row[0] for row in cursor.fetchall()}


# The tick's groups (ACTIVATION_TICK_SEND_GROUP) in these tests: smaller than a batch, so a batch killed
# while mailing has claims both in doubt (its group in flight) and not yet started (its later groups).
SEND_GROUP = 3


def slow_tick_that_has_mailed(mails, *, batch, delay):
    """
    ``(worker, tick, env)``: an ``activation_tick`` process on this test's database, in batches of
    ``batch`` sent in groups of ``SEND_GROUP``, with a mail server taking ``delay`` seconds a message,
    once it has mailed ``mails``; ``tick`` and ``env`` run the next tick, with a lease of 0 so it
    takes back what the worker left.
    """
    env = {**os.environ, "DEMO_DB": "mariadb", "DEMO_DB_NAME": connection.settings_dict["NAME"],
           "DEMO_TICK_BATCH_SIZE": str(batch), "DEMO_TICK_SEND_GROUP": str(SEND_GROUP),
           "DEMO_TICK_CLAIM_LEASE_MINUTES": "0"}
    tick = [sys.executable, "manage.py", "activation_tick"]
    worker = subprocess.Popen(tick, cwd=ROOT, env={**env, "DEMO_MAIL_DELAY_SECONDS": str(delay)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while DemoSentMail.objects.count() < mails and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.02)
    return worker, tick, env


@mariadb_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_tick_killed_mid_batch_leaves_only_the_group_in_flight_ambiguous_and_the_next_tick_sends_the_rest_once(
        make_definition, course_key):
    """
    Fault: the ``activation_tick`` process is SIGKILLed while it sends a batch (the mail server is
    slow). Only the group of messages in flight is left ``sending``: any of them may or may not have
    left, so they are reported (``ambiguous``) and never re-sent on a guess. The rest of the killed batch stays
    ``queued``; the next tick after the lease takes those claims back and sends each once, with every
    message nobody claimed. Every learner but the one in flight gets the prompt exactly once, the
    funnel counts as prompted exactly the learners recorded sent, and nothing is left due.
    """
    make_definition(window_days=60, requirements=[PROMPTED_PROJECT])
    learners = UserFactory.create_batch(24)
    for user in learners:
        api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(hours=1))
    worker, tick, env = slow_tick_that_has_mailed(10, batch=8, delay=0.4)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read().decode()
    in_flight = set(PromptDelivery.objects.filter(status="sending").values_list("pk", flat=True))
    assert len(in_flight) <= SEND_GROUP  # at most the group being sent when the worker died
    assert PromptDelivery.objects.filter(status="queued").exists()  # the rest of its batch, not lost
    mailed_before = dict(DemoSentMail.objects.values_list("to").annotate(count=Count("pk")))

    report = subprocess.run(tick, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120).stdout
    assert f"ambiguous: {len(in_flight)}" in report and "reclaimed: 0" not in report
    mails = dict(DemoSentMail.objects.values_list("to").annotate(count=Count("pk")))
    assert max(mails.values()) == 1
    deliveries = {d.window.user.email: d for d in PromptDelivery.objects.select_related("window__user")}
    assert len(deliveries) == len(learners) == PromptDelivery.objects.count()
    for email, delivery in deliveries.items():
        if delivery.pk in in_flight:  # left visible for an operator, never re-sent
            assert (delivery.status, mails.get(email, 0)) == ("sending", mailed_before.get(email, 0))
        else:
            assert (delivery.status, mails.get(email)) == ("sent", 1)
    windows = list(ActivationWindow.objects.all())
    assert {window.state for window in windows} == {"open"}
    assert all(window.next_action_at == window.closes_at for window in windows)
    assert funnel_counts(windows[0].definition, timezone.now())["prompted"]["prompted"] == (
        len(learners) - len(in_flight))
    subprocess.run(tick, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    assert DemoSentMail.objects.count() == sum(mails.values())


@mariadb_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_database_gone_under_a_tick_mid_batch_loses_no_prompt(make_definition, course_key):
    """
    Fault: the database drops the tick's connection while it mails a batch (killed on the server, as
    a restart does; only the tick's, so the rest of the suite keeps its connections). The tick dies on its next
    statement; at most the group in flight is left in doubt, the rest of its batch stays
    ``queued``, and the next tick after the lease sends every other learner the prompt exactly once.
    """
    make_definition(window_days=60, requirements=[PROMPTED_PROJECT])
    learners = UserFactory.create_batch(24)
    for user in learners:
        api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(hours=1))
    before = database_connections()
    worker, tick, env = slow_tick_that_has_mailed(5, batch=12, delay=0.3)
    with connection.cursor() as cursor:
        for other in database_connections() - before:  # the tick's, never this process's other connections
            cursor.execute(f"KILL CONNECTION {int(other)}")
    worker.wait(timeout=60)
    assert worker.returncode != 0, "the tick should have died with its connection"
    in_doubt = set(PromptDelivery.objects.filter(status="sending").values_list("pk", flat=True))
    assert len(in_doubt) <= SEND_GROUP and PromptDelivery.objects.filter(status="queued").exists()

    subprocess.run(tick, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    mails = dict(DemoSentMail.objects.values_list("to").annotate(count=Count("pk")))
    assert max(mails.values()) == 1
    deliveries = PromptDelivery.objects.select_related("window__user")
    assert sorted(d.window.user.email for d in deliveries if d.pk not in in_doubt and d.status == "sent") == sorted(
        user.email for user in learners if not in_doubt or user.email not in {
            d.window.user.email for d in deliveries if d.pk in in_doubt})


# 4. Retirement while windows are being processed.

@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_retirement_racing_the_tick_and_reviews_fails_neither_and_leaves_no_personal_data(
        make_definition, course_key, staff_user, settings):
    """
    Fault: learners are retired by the LMS while a tick prompts some of them and staff review
    the others' projects, on three connections at once. Neither side sees a deadlock or lock
    error; afterwards no submission text or supervisor address of a retired learner remains,
    every review counted, and each learner still waiting was prompted once.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(window_days=60, requirements=[{**PROMPTED_PROJECT, "verification": "staff"}])
    requirement = definition.requirements.get()
    opened = timezone.now() - timedelta(hours=1)
    answering, silent = UserFactory.create_batch(15), UserFactory.create_batch(15)
    evidence = []
    for user in answering + silent:
        [window] = api.open_windows(user.pk, course_key, "passing", opened)
        if user in answering:
            evidence.append(api.record_evidence(window=window, requirement=requirement, source="learner",
                                                payload={"text": f"private story of {user.username}"},
                                                idempotency_key=f"k{user.pk}"))
            SupervisorInvite.objects.create(window=window, requirement=requirement, nonce=f"n{user.pk}",
                                            email=f"boss-of-{user.username}@example.com",
                                            expires_at=timezone.now() + timedelta(days=7))

    def retire_everyone():
        return [api.retire_user(user.pk) for user in answering + silent]

    def review_everything():
        return [api.review_evidence(item, verdict="verified", role="staff", reviewer=staff_user) for item in evidence]

    retired, _reviews, ticked = run_together(retire_everyone, review_everything, api.tick)
    assert len(retired) == 30
    assert not Evidence.objects.exclude(payload={}).exists()
    assert not SupervisorInvite.objects.exists()
    assert Review.objects.count() == 15
    assert set(Evidence.objects.values_list("status", flat=True)) == {"verified"}
    assert api.summarize(definition)["open_activated"] == 15  # windows still running: not in the rate yet
    # A window a review held is skipped (skip_locked) and prompted by the next tick, unless the
    # review activated it first: activated learners are not prompted.
    assert ticked["sent"] + api.tick()["sent"] == len(mail.outbox)
    recipients = [message.to[0] for message in mail.outbox]
    assert len(recipients) == len(set(recipients))
    assert {user.email for user in silent} <= set(recipients) <= {user.email for user in answering + silent}


def test_a_kpi_source_down_for_a_day_loses_nothing_and_counts_nothing_twice(db, settings, kpi_server, fast_retries):
    """
    The operator's KPI API answers 503 to every hourly pull for a day while its records keep
    accumulating. The source is marked failing (operators see it), its cursor never moves, and
    the first pull after recovery fetches everything since the last stored record: each record
    stored once, the overlapping one counted as a duplicate, nothing lost.
    """
    from activation_plugin.kpi import pull  # pylint: disable=import-outside-toplevel
    settings.ACTIVATION_METRIC_FAILING_AFTER = 3
    settings.ACTIVATION_METRIC_SOURCES = {"crm": {
        "kind": "rest", "url": kpi_server.url("/tickets"), "allowed_hosts": ["127.0.0.1"], "allow_private": True,
        "records": "data", "since_param": "since", "schedule_minutes": 60,
        "mapping": {"external_id": "agent", "metric": "'handle_time'", "value": "aht", "observed_at": "at"}}}
    UserFactory(username="ann", email="ann@example.com")
    start = timezone.now() - timedelta(days=2)
    produced = [{"agent": "ann@example.com", "aht": 300 - n, "at": (start + timedelta(hours=n)).isoformat()}
                for n in range(30)]
    available = {"count": 6, "up": True}

    def api_answer(query):
        from tests.kpi_server import Reply  # pylint: disable=import-outside-toplevel
        if not available["up"]:
            return Reply(status=503, body={"error": "maintenance"})
        since = query.get("since", "")
        return Reply(body={"data": [row for row in produced[:available["count"]] if row["at"] >= since]})

    kpi_server.route("/tickets", api_answer)
    assert pull.pull("crm")["stored"] == 6
    cursor = MetricSource.objects.get(name="crm").cursor
    available["up"] = False
    for hour in range(24):  # a day of scheduled pulls, the records piling up at the source
        available["count"] = min(6 + hour, len(produced))
        assert pull.pull("crm", now=timezone.now() + timedelta(hours=hour))["status"] == "error"
    source = MetricSource.objects.get(name="crm")
    assert (source.failing, source.cursor, MetricObservation.objects.count()) == (True, cursor, 6)
    available["up"] = True
    recovered = pull.pull("crm")
    assert recovered["status"] == "ok" and recovered["stored"] == available["count"] - 6
    assert MetricObservation.objects.count() == available["count"]
    assert MetricObservation.objects.values("observed_at").distinct().count() == available["count"]
    assert pull.pull("crm")["stored"] == 0  # and a further pull stores nothing again
    source.refresh_from_db()
    assert not source.failing and source.cursor > cursor


# 5. The platform's own write, with the plugin's work inside it (issue 30).

@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_a_completions_tally_work_that_fails_never_rolls_back_the_platforms_certificate(
        make_definition, course_key, lock_holder):
    """
    Fault: the certificate is saved in the platform's transaction, which sends the event; the
    running total of the learner's cell is held by another connection, so opening the window times
    out. That happens after the platform's commit: the certificate stands, the completion stays
    stored, and the tick opens the window once the row is free.
    """
    make_definition(trigger="certificate")
    learner, classmate = UserFactory.create_batch(2)
    occurred = timezone.now() - timedelta(hours=1)
    api.open_windows(classmate.pk, course_key, "certificate", occurred)  # the cell's running total exists
    short_lock_waits()
    lock_holder.lock(WindowTally, WindowTally.objects.get().pk)
    with transaction.atomic():  # GeneratedCertificate.save()
        DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="certificate",
                                            completed_at=occurred)
        assert failures(certificate_created(learner.pk, course_key, occurred)) == []
    assert DemoCompletionRecord.objects.filter(user=learner).exists()
    assert PendingCompletion.objects.get().user_id == learner.pk
    assert not ActivationWindow.objects.filter(user=learner).exists()

    lock_holder.release()
    assert api.tick(now=timezone.now() + timedelta(minutes=10))["completions_retried"] == 1
    assert ActivationWindow.objects.get(user=learner).opened_at == occurred
    assert not PendingCompletion.objects.exists()


@mariadb_only
@pytest.mark.django_db(transaction=True)
def test_a_certificate_saved_in_the_platforms_transaction_locks_no_running_total_until_it_commits(
        make_definition, course_key, lock_holder):
    """
    Two completions in one cell must not take turns on its running total until *the platform's*
    transaction commits (and an InnoDB deadlock there would roll back the platform's certificate):
    while the certificate's transaction is open, the cell's row is free; after it commits, the window
    is open and counted.
    """
    make_definition(trigger="certificate")
    learner, classmate = UserFactory.create_batch(2)
    occurred = timezone.now() - timedelta(hours=1)
    api.open_windows(classmate.pk, course_key, "certificate", occurred)
    tally = WindowTally.objects.get()
    with transaction.atomic():  # GeneratedCertificate.save()
        DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="certificate",
                                            completed_at=occurred)
        assert failures(certificate_created(learner.pk, course_key, occurred)) == []
        assert lock_holder.is_free(WindowTally, tally.pk)
    assert ActivationWindow.objects.get(user=learner).opened_at == occurred
    tally.refresh_from_db()
    assert tally.completers == 2
