"""
The Activation page as an instructor opens it, and the windows CSV as one downloads it, on the
figures benchmark's data: the page's query count (the same at every size) and render time, cold
and warm cache; the export's peak memory in a process of its own, so that what seeding and the
other benchmarks allocated does not count. Import only after ``benchmarks.bootstrap()``.
"""
import json
import os
import subprocess
import sys
import time

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _staff_client():
    user, _created = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    return client


def page(definition):
    """``(cold seconds, warm seconds, queries)`` of the definition's Activation page, rendered whole."""
    client = _staff_client()
    address = reverse("activation_plugin:definition",
                      kwargs={"course_id": str(definition.course_key), "definition_id": definition.pk})
    cache.clear()
    client.get(address)  # the session and the user, so only the page's own work is timed
    cache.clear()
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # Not CaptureQueriesContext: the request_started signal empties the query log it reads.
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        response = client.get(address)
        cold = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    started = time.perf_counter()
    client.get(address)
    warm = time.perf_counter() - started
    return cold, warm, len(statements)


def export(definition):
    """Stream the windows CSV in a fresh process: ``{"rows", "seconds", "rss_start_mb", "rss_peak_mb"}``."""
    probe = subprocess.run(
        [sys.executable, "-m", "benchmarks.export_probe", str(definition.pk)], cwd=ROOT, env={**os.environ},
        capture_output=True, text=True, check=True)
    return json.loads(probe.stdout.strip().splitlines()[-1])
