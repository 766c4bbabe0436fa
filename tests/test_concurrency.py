"""
What only a real server shows: concurrent ticks on MariaDB row locks, and the tick run by a real
celery worker over Redis. Runs in the MariaDB pass (`make test-mariadb`, part of CI).
"""
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections

from activation_plugin import api
from activation_plugin.models import ActivationWindow
from activation_plugin.test_utils.factories import UserFactory
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
def test_tick_runs_in_a_real_celery_worker_over_redis(make_definition, course_key):
    make_definition(window_days=30)
    open_due_windows(course_key, 5)
    broker = "redis://127.0.0.1:6379/15"
    env = {**os.environ, "DEMO_BROKER": broker, "DEMO_DB": "mariadb",
           "DEMO_DB_NAME": connection.settings_dict["NAME"]}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "demo", "worker", "--pool=solo", "--concurrency=1", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        # Enqueued by the celery CLI through Redis, as a scheduler would: nothing runs in this process.
        subprocess.run([sys.executable, "-m", "celery", "-A", "demo", "call", "activation_plugin.tasks.tick"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ActivationWindow.objects.filter(state="open").exists():
            time.sleep(0.5)
        assert ActivationWindow.objects.filter(state="expired").count() == 5
    finally:
        worker.terminate()
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
