"""
What only a real server shows: concurrent ticks on MariaDB row locks, and the tick run by a real
celery worker over Redis. Runs in the MariaDB pass (`make test-mariadb`, part of CI).
"""
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from activation_plugin import api, links
from activation_plugin.errors import ActivationInternalError
from activation_plugin.figures import tallies
from activation_plugin.kpi import sources
from activation_plugin.kpi.webhook import sign
from activation_plugin.models import (
    ActivationWindow,
    Evidence,
    MetricObservation,
    MetricSource,
    PromptDelivery,
    Review,
    WindowTally,
)
from demo.models import DemoSentMail
from tests.conftest import NOW, api_url, mint_jwt
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("DEMO_DB") != "mariadb", reason="needs MariaDB row locks (make test-mariadb)"),
]


def open_due_windows(course_key, count):
    for user in UserFactory.create_batch(count):
        api.open_windows(user.pk, course_key, "passing", NOW - timedelta(days=40))


def run_concurrently(work, workers=2):
    """Start ``work`` in several threads at the same instant, each on its own connection."""
    results, barrier = [], threading.Barrier(workers)

    def worker():
        try:
            barrier.wait()
            results.append(work())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == workers, "a worker raised; see the thread's traceback above"
    return results


def test_two_concurrent_ticks_expire_each_window_exactly_once(make_definition, course_key, settings):
    settings.ACTIVATION_TICK_BATCH_SIZE = 7
    make_definition(window_days=30)
    open_due_windows(course_key, 120)
    results = run_concurrently(lambda: api.expire_due_windows(now=NOW))
    assert sum(results) == 120
    assert ActivationWindow.objects.filter(state="expired").count() == 120


@pytest.mark.slow
def test_ticks_in_two_real_celery_workers_over_redis_send_each_prompt_once(make_definition, course_key):
    make_definition(window_days=30, name="expiring")
    open_due_windows(course_key, 5)
    make_definition(window_days=60, name="prompting", supersede=True, requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"},
        "prompts": [{"send_after_days": 0, "subject": "Show us", "body": "b"}]}])
    for user in UserFactory.create_batch(40):
        api.open_windows(user.pk, course_key, "passing", timezone.now() - timedelta(hours=1))
    env = {**os.environ, "DEMO_BROKER": "redis://127.0.0.1:6379/15", "DEMO_DB": "mariadb",
           "DEMO_DB_NAME": connection.settings_dict["NAME"], "DEMO_TICK_BATCH_SIZE": "3"}
    celery = [sys.executable, "-m", "celery", "-A", "demo"]
    queue = f"activation-test-{uuid.uuid4().hex}"  # a worker left over from another run cannot steal the ticks
    workers = [subprocess.Popen([*celery, "worker", "--pool=solo", "-Q", queue, "-n", f"w{n}-{queue}@%h",
                                 "-l", "WARNING"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for n in (1, 2)]
    try:
        # Enqueued by the celery CLI through Redis, as a scheduler would: nothing runs in this process.
        for _ in range(4):
            subprocess.run([*celery, "call", "--queue", queue, "activation_plugin.tasks.tick"], cwd=ROOT, env=env,
                           check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (
                PromptDelivery.objects.filter(status="sent").count() < 40
                or ActivationWindow.objects.filter(state="expired").count() < 5):
            time.sleep(0.5)
        # The workers' email backend is the demo's, which stores each message it sends.
        assert DemoSentMail.objects.count() == 40
        assert DemoSentMail.objects.values("to").distinct().count() == 40
        assert ActivationWindow.objects.filter(state="expired").count() == 5
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def test_two_concurrent_ticks_send_each_prompt_exactly_once(make_definition, course_key, settings):
    from django.core import mail  # pylint: disable=import-outside-toplevel
    settings.ACTIVATION_TICK_BATCH_SIZE = 5
    make_definition(window_days=60, requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"},
        "prompts": [{"send_after_days": 7, "subject": "s", "body": "b"}]}])
    open_due_windows(course_key, 60)  # opened 40 days before NOW: the prompt is due, the window open
    results = run_concurrently(lambda: api.send_due_prompts(now=NOW))
    assert sum(result["sent"] for result in results) == 60
    assert len(mail.outbox) == 60 and len({m.to[0] for m in mail.outbox}) == 60


def test_concurrent_reviews_finishing_at_once_settle_one_verdict(make_definition, course_key):
    definition = make_definition(requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"}, "verification": "peer",
        "reviews_required": 2}])
    author = UserFactory()
    [window] = api.open_windows(author.pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "t"}, idempotency_key="e")
    reviewers = iter(UserFactory.create_batch(2))
    lock = threading.Lock()

    def review():
        with lock:
            reviewer = next(reviewers)
        return api.review_evidence(evidence, verdict="verified", role="peer", reviewer=reviewer)

    run_concurrently(review)
    evidence.refresh_from_db()
    window.refresh_from_db()
    assert (evidence.status, evidence.reviews.count(), window.state) == ("verified", 2, "activated")


def twenty_at_once(work):
    """``work(n)`` in 20 threads started together; what each returned or raised, in thread order."""
    outcomes = [None] * 20

    def attempt(number):
        try:
            outcomes[number] = work(number)
        except Exception as exc:  # pylint: disable=broad-except
            outcomes[number] = exc

    barrier = threading.Barrier(20)

    def worker(number):
        try:
            barrier.wait()
            attempt(number)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_twenty_parallel_submissions_with_different_keys_keep_one_response(make_definition, course_key):
    definition = make_definition(requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"}, "verification": "staff"}])
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", timezone.now() - timedelta(days=1))
    requirement = definition.requirements.get()
    outcomes = twenty_at_once(lambda n: api.save_learner_response(
        window=window, requirement=requirement, payload={"text": f"version {n}"}, idempotency_key=f"key-{n}"))
    assert not [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, ActivationInternalError)]
    assert Evidence.objects.filter(window=window).count() == 1
    saved = [o for o in outcomes if isinstance(o, Evidence)]
    assert saved and Evidence.objects.get().payload["text"] in {e.payload["text"] for e in saved}


def supervisor_link(make_definition, course_key):
    """A learner's open window and the path of the link their supervisor was sent."""
    definition = make_definition(requirements=[{
        "kind": "observation", "title": "s", "verification": "supervisor",
        "config": {"checklist": ["Greets"], "min_observed": 1}}])
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", timezone.now() - timedelta(days=1))
    invite = api.invite_supervisor(window, definition.requirements.get(), "boss@example.com")
    return window, links.supervisor_url(invite).removeprefix(settings.LMS_ROOT_URL)


def test_twenty_parallel_supervisor_posts_record_one_observation_and_never_fail(make_definition, course_key):
    _window, url = supervisor_link(make_definition, course_key)
    responses = twenty_at_once(lambda n: Client().post(url, {"item-0": "observed"}))
    codes = sorted(response.status_code for response in responses)
    assert set(codes) <= {200, 400, 429, 503} and codes.count(200) == 1, codes
    assert [r for r in responses if r.status_code == 503][:1] == [] or b"try again" in [
        r for r in responses if r.status_code == 503][0].content.lower()
    assert (Evidence.objects.count(), Review.objects.count()) == (1, 1)


def test_twenty_parallel_rest_writes_without_a_key_answer_without_a_server_error(
        make_definition, course_key, course_staff):
    definition = make_definition(requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"}, "verification": "staff"}])
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "t"}, idempotency_key="e")
    token = mint_jwt(course_staff)

    def post(number):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"JWT {token}")
        if number % 2:
            return client.post(api_url("definitions", course_id=course_key),
                               {"name": f"D{number}", "behavior": "b", "window_days": 30}, format="json")
        return client.post(api_url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk),
                           {"verdict": "verified"}, format="json")

    responses = twenty_at_once(post)
    codes = sorted(response.status_code for response in responses)
    assert set(codes) <= {201, 400, 409, 503}, codes
    assert Review.objects.count() == 1
    assert all(r.headers.get("Retry-After") for r in responses if r.status_code == 503)


class HeldLock:
    """Another connection holding a row lock, as a long transaction elsewhere in the LMS would."""

    def __init__(self, model, pk, wait=1):
        """``wait``: this test's own connection's lock wait, in seconds (None: the server's)."""
        self.model, self.pk, self.wait = model, pk, wait
        self.taken, self.release = threading.Event(), threading.Event()

    def _hold(self):
        from django.db import transaction  # pylint: disable=import-outside-toplevel
        try:
            with transaction.atomic():
                self.model.objects.select_for_update().get(pk=self.pk)
                self.taken.set()
                self.release.wait(30)
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread = threading.Thread(target=self._hold)  # pylint: disable=attribute-defined-outside-init
        self.thread.start()
        assert self.taken.wait(10)
        if self.wait is not None:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [self.wait])
        return self

    def __exit__(self, *exc_info):
        self.release.set()
        self.thread.join()


def test_a_lock_wait_timeout_asks_the_supervisor_to_send_again_and_the_retry_counts_once(
        make_definition, course_key):
    window, url = supervisor_link(make_definition, course_key)
    with HeldLock(ActivationWindow, window.pk):
        busy = Client().post(url, {"item-0": "observed"})
    assert busy.status_code == 503 and busy["Retry-After"] and b"try again" in busy.content.lower()
    assert not Evidence.objects.exists()
    assert Client().post(url, {"item-0": "observed"}).status_code == 200
    assert (Evidence.objects.count(), Review.objects.count()) == (1, 1)


def test_a_lock_wait_timeout_on_a_rest_review_is_a_503_with_retry_after(make_definition, course_key, course_staff):
    definition = make_definition(requirements=[{
        "kind": "project", "title": "p", "config": {"instructions": "i"}, "verification": "staff"}])
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", timezone.now() - timedelta(days=1))
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "t"}, idempotency_key="e")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(course_staff)}")
    url = api_url("evidence_reviews", course_id=course_key, evidence_id=evidence.pk)
    with HeldLock(Evidence, evidence.pk):
        busy = client.post(url, {"verdict": "verified"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert busy.status_code == 503 and busy["Retry-After"] and "again" in busy.json()["message"]
    assert not Review.objects.exists()
    assert client.post(url, {"verdict": "verified"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert Review.objects.count() == 1


def test_twenty_learners_activating_at_once_in_one_cell_are_each_counted_once(make_definition, course_key, settings):
    """
    Twenty windows of one cell and closing day, activated in parallel: every answer is stored,
    every move after its commit adds its difference to the same tally row, none overwrites
    another's, none deadlocks; a move that met the row held by another learner's more often than it
    retries is left to the tick, after which the tallies equal a rebuild from the windows.
    """
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()  # a self-verified project: submitting it activates the window
    opened = timezone.now() - timedelta(days=1)
    windows = [api.open_windows(user.pk, course_key, "passing", opened)[0] for user in UserFactory.create_batch(20)]
    requirement = definition.requirements.get()
    outcomes = twenty_at_once(lambda n: api.record_evidence(
        window=windows[n], requirement=requirement, source="learner", payload={"text": "applied"},
        idempotency_key=f"parallel-{n}"))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert Evidence.objects.count() == 20
    left = ActivationWindow.objects.filter(tally_stale=True).count()
    assert WindowTally.objects.get(definition=definition).activated == 20 - left
    assert api.tick()["tallies_counted"] == left
    tally = WindowTally.objects.get(definition=definition)
    assert (tally.completers, tally.activated, tally.responded) == (20, 20, 20)
    kept = list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS))
    api.rebuild_tallies(definition)
    assert list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS)) == kept


def session_lock_wait():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
        return cursor.fetchone()[0]


def test_a_held_tally_row_never_holds_the_learner_nor_a_read_only_page_and_the_tick_moves_it_once_free(
        make_definition, course_key, course_staff, settings):
    """
    Another transaction holds the tally row of a cell (a long write elsewhere): a learner whose
    answer moves that cell is answered at once, "saved", because the request stores only the
    learner's own rows and the running totals move after its commit, without waiting for the held
    row (issue 29). That move fails, so the window stays marked; pages that only read the tallies
    (the tab, the figures page, its CSV, the REST figures, the learner's page) do not wait either;
    the connection goes back to the server's wait for the platform's next request. Once the row is
    free, the tick moves the answer's tallies, as a rebuild counts them, and a replay moves nothing.
    """
    settings.ACTIVATION_LOCK_WAIT_SECONDS = 2
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()  # a self-verified project: an answer activates the window
    learner, other = UserFactory.create_batch(2)
    opened = timezone.now() - timedelta(days=1)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    api.open_windows(other.pk, course_key, "passing", opened)
    tally = WindowTally.objects.get(definition=definition)
    submit = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": definition.requirements.get().pk})
    server_wait = session_lock_wait()
    learner_client, staff_client = Client(), Client()
    learner_client.force_login(learner)
    staff_client.force_login(course_staff)
    in_course = {"course_id": str(course_key)}
    of_definition = {**in_course, "definition_id": definition.pk}
    readers = {
        "instructor": lambda: staff_client.get(reverse("activation_plugin:instructor", kwargs=in_course)),
        "figures": lambda: staff_client.get(reverse("activation_plugin:definition", kwargs=of_definition)),
        "figures.csv": lambda: staff_client.get(reverse("activation_plugin:export_figures", kwargs=of_definition)),
        "REST figures": lambda: staff_client.get(api_url("definition_figures", **of_definition)),
    }
    with HeldLock(WindowTally, tally.pk, wait=None):
        started = time.monotonic()
        answered = learner_client.post(submit, {"submission_key": "k", "text": "I did it.", "url": ""})
        waited = time.monotonic() - started
        after_request = session_lock_wait()
        started = time.monotonic()
        told = learner_client.get(answered["Location"])  # the learner's page, with what happened
        read = {"learner": (told.status_code, time.monotonic() - started < 2)}
        for name, get in readers.items():
            started = time.monotonic()
            read[name] = (get().status_code, time.monotonic() - started < 2)
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        assert api.tick()["tallies_counted"] == 0  # still held: left marked for the next tick
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [server_wait])
    assert waited < 1.5, waited
    assert after_request == server_wait
    assert "your answer was saved" in told.content.decode()
    assert Evidence.objects.get().window_id == window.pk
    assert ActivationWindow.objects.get(pk=window.pk).state == "activated"
    assert read == dict.fromkeys(["learner", *readers], (200, True))
    assert ActivationWindow.objects.get(pk=window.pk).tally_stale
    assert WindowTally.objects.get(pk=tally.pk).activated == 0  # the figures lag until the move

    assert api.tick()["tallies_counted"] == 1
    assert not ActivationWindow.objects.filter(tally_stale=True).exists()
    assert WindowTally.objects.get(pk=tally.pk).activated == 1
    assert "your answer was saved" in learner_client.post(submit, {
        "submission_key": "k", "text": "I did it.", "url": ""}, follow=True).content.decode()  # a replay
    assert api.tick()["tallies_counted"] == 0
    kept = list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS))
    api.rebuild_tallies(definition)
    assert list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS)) == kept
    assert (Evidence.objects.count(), kept[0]["activated"], kept[0]["responded"]) == (1, 1, 1)


def test_a_learners_answer_locks_no_running_total_until_its_request_commits(make_definition, course_key):
    """
    Inside the learner's transaction only the learner's rows are written and locked: another
    connection can lock the cell's running total at once (NOWAIT) until the commit, after which
    the answer is counted without waiting for anyone.
    """
    from django.db import transaction  # pylint: disable=import-outside-toplevel
    definition = make_definition()
    learner, other = UserFactory.create_batch(2)
    opened = timezone.now() - timedelta(days=1)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened)
    api.open_windows(other.pk, course_key, "passing", opened)
    tally = WindowTally.objects.get(definition=definition)
    free = []

    def tally_row_is_free():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT id FROM {WindowTally._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                               [tally.pk])  # noqa: S608
            return True
        except OperationalError:
            return False

    with transaction.atomic():  # the learner's request
        api.save_learner_response(window=window, requirement=definition.requirements.get(),
                                  payload={"text": "I did it.", "url": ""}, idempotency_key="k")
        free += run_concurrently(tally_row_is_free, workers=1)
        assert WindowTally.objects.get(pk=tally.pk).activated == 0
    assert free == [True]
    assert WindowTally.objects.get(pk=tally.pk).activated == 1
    assert not ActivationWindow.objects.filter(tally_stale=True).exists()


WEBHOOK_SECRET = "whsec-concurrency"


def test_twenty_deliveries_of_one_source_at_once_never_deadlock_and_store_each_observation_once(
        make_definition, course_key, settings):
    """
    Twenty signed webhook deliveries of one KPI source at the same instant, about the same ten
    learners, each overlapping the next by one observation per learner, under a definition with a
    KPI requirement (so each delivery also records metric evidence and moves the tallies). Each
    used to take a shared lock on the source row (the observations' foreign key) and then wait
    for the others to update its counters: a deadlock, answered 503.
    """
    settings.ACTIVATION_METRIC_SOURCES = {"tickets": {"kind": "webhook", "secret": WEBHOOK_SECRET}}
    definition = make_definition(requirements=[{
        "kind": "metric", "title": "Handle time",
        "config": {"metric": "handle_time", "threshold": -0.1, "direction": "lower", "relative": True}}])
    learners = UserFactory.create_batch(10)
    opened = timezone.now() - timedelta(days=5)
    for learner in learners:
        api.open_windows(learner.pk, course_key, "passing", opened)
    first = opened - timedelta(days=2)
    url = reverse("activation_plugin:metric_webhook", kwargs={"name": "tickets"})

    def deliver(number):
        body = json.dumps({"observations": [
            {"external_id": learner.email, "metric": "handle_time", "value": 100 - step - number,
             "observed_at": (first + timedelta(hours=6 * (number + step))).isoformat()}
            for learner in learners for step in (0, 1)]}).encode()
        return Client().post(url, data=body, content_type="application/json",
                             HTTP_X_ACTIVATION_SIGNATURE=sign(WEBHOOK_SECRET, body))

    responses = twenty_at_once(deliver)
    assert [getattr(response, "status_code", response) for response in responses] == [200] * 20
    assert sum(response.json()["stored"] for response in responses) == 210 == MetricObservation.objects.count()
    source = MetricSource.objects.get(name="tickets")
    assert (source.records_pulled, source.duplicates_dropped) == (400, 190)
    assert ActivationWindow.objects.filter(state="activated").count() == 10
    assert Evidence.objects.count() == 10
    kept = list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS))
    api.rebuild_tallies(definition)
    assert list(WindowTally.objects.filter(definition=definition).values(*tallies.CELL_COUNTERS)) == kept


def test_a_delivery_waiting_past_the_bound_for_its_turn_is_a_503_and_sending_it_again_stores_it_once(settings):
    """The source's row held longer than ACTIVATION_LOCK_WAIT_SECONDS: the sender is asked to send again."""
    settings.ACTIVATION_LOCK_WAIT_SECONDS = 2
    settings.ACTIVATION_METRIC_SOURCES = {"tickets": {"kind": "webhook", "secret": WEBHOOK_SECRET}}
    source = api.sync_metric_source(sources.get("tickets"))
    body = json.dumps([{"external_id": "ann@example.com", "metric": "csat", "value": 4,
                        "observed_at": (timezone.now() - timedelta(hours=1)).isoformat()}]).encode()
    url = reverse("activation_plugin:metric_webhook", kwargs={"name": "tickets"})

    def deliver():
        return Client().post(url, data=body, content_type="application/json",
                             HTTP_X_ACTIVATION_SIGNATURE=sign(WEBHOOK_SECRET, body))

    with HeldLock(MetricSource, source.id, wait=None):
        started = time.monotonic()
        busy = deliver()
        waited = time.monotonic() - started
    assert busy.status_code == 503 and busy["Retry-After"] and 2 <= waited < 10, (busy.status_code, waited)
    assert not MetricObservation.objects.exists()
    assert deliver().json()["stored"] == 1 and deliver().json()["duplicates"] == 1
    assert MetricObservation.objects.count() == 1
