"""
What only a real server shows: concurrent ticks on MariaDB row locks, and the tick run by a real
celery worker over Redis. Runs in the MariaDB pass (`make test-mariadb`, part of CI).
"""
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import ActivationWindow, PromptDelivery
from activation_plugin.test_utils.factories import UserFactory
from demo.models import DemoSentMail
from tests.conftest import NOW

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
    make_definition(window_days=60, name="prompting", requirements=[{
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
