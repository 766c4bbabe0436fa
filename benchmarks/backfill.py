"""
``activation_backfill`` on a course with many past completers: time, queries per batch and peak
memory at two sizes (memory must not grow with the course), a second run that opens nothing, and
a floor measured in the same run: ``bulk_create`` of the same windows in the same batches, with no
reading of records, no existing-window check, no segments and no tracking. Import only after
``benchmarks.bootstrap()``.
"""
import secrets
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, ActivationWindow, EvidenceRequirement
from benchmarks.tick import log, peak_memory
from demo.models import DemoCompletionRecord, DemoEnrollment

BATCH = 1_000
CHUNK = 10_000
User = get_user_model()


def _course(number):
    return CourseKey.from_string(f"course-v1:Bench+BACK{number}+2026")


def _seed(course_key, count, now):
    """``count`` learners who passed over the last 40 days, enrolled, with their grade records."""
    password, prefix = make_password(None), f"{course_key.course}-"
    for start in range(0, count, CHUNK):
        User.objects.bulk_create([User(username=f"{prefix}{n}", password=password)
                                  for n in range(start, min(start + CHUNK, count))])
    users = User.objects.filter(username__startswith=prefix).values_list("pk", flat=True).iterator(chunk_size=CHUNK)
    records, enrollments = [], []
    for number, user_id in enumerate(users):
        records.append(DemoCompletionRecord(user_id=user_id, course_key=course_key, trigger="passing",
                                            completed_at=now - timedelta(minutes=number % (40 * 24 * 60))))
        enrollments.append(DemoEnrollment(user_id=user_id, course_key=course_key, mode="verified", cohort="A"))
        if len(records) == CHUNK:
            DemoCompletionRecord.objects.bulk_create(records)
            DemoEnrollment.objects.bulk_create(enrollments)
            records, enrollments = [], []
    DemoCompletionRecord.objects.bulk_create(records)
    DemoEnrollment.objects.bulk_create(enrollments)


def _definition(course_key, now):
    definition = ActivationDefinition.objects.create(
        course_key=course_key, catalog_course=api.catalog_course(course_key), name="Bench", behavior="apply it",
        window_days=45, holdout_seed=secrets.token_hex(16), status=ActivationDefinition.Status.ACTIVE,
        activated_at=now)
    EvidenceRequirement.objects.create(definition=definition, kind="project", title="Project",
                                       config={"instructions": "x", "rubric": []})
    return definition


def _floor(definition, course_key):
    """The same windows inserted in the same batches, knowing everything in advance."""
    records = DemoCompletionRecord.objects.filter(course_key=course_key).values_list("user_id", "completed_at")
    started, batch = time.perf_counter(), []
    for user_id, completed_at in records.iterator(chunk_size=CHUNK):
        batch.append(ActivationWindow(definition=definition, user_id=user_id, course_run=course_key, trigger="passing",
                                      opened_at=completed_at, closes_at=completed_at + timedelta(days=45),
                                      next_action_at=completed_at, enrollment_mode="verified", org="Bench",
                                      cohort="A"))
        if len(batch) == BATCH:
            ActivationWindow.objects.bulk_create(batch)
            batch = []
    ActivationWindow.objects.bulk_create(batch)
    return time.perf_counter() - started


def _measure(number, count, now):
    """
    One size: the first backfill (time, queries per batch), a re-run that must open nothing, peak memory
    on a fresh run, and the bulk_create floor to compare with.
    """
    course_key = _course(number)
    log(f"backfill: seeding {count:,} past completers")
    _seed(course_key, count, now)
    definition = _definition(course_key, now)
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        first = api.backfill(definition, batch_size=BATCH)
        seconds = time.perf_counter() - started
    assert first == {"completions": count, "opened": count}, first
    assert ActivationWindow.objects.filter(definition=definition).count() == count
    started = time.perf_counter()
    second = api.backfill(definition, batch_size=BATCH)
    second_seconds = time.perf_counter() - started
    assert second == {"completions": count, "opened": 0}, second
    ActivationWindow.objects.filter(definition=definition).delete()
    ActivationDefinition.objects.filter(pk=definition.pk).update(backfilled_at=None)
    log(f"backfill: peak memory at {count:,} (tracemalloc)")
    peak = peak_memory(api.backfill, definition, batch_size=BATCH)
    ActivationWindow.objects.filter(definition=definition).delete()
    floor = _floor(definition, course_key)
    batches = -(-count // BATCH)
    return {"count": count, "seconds": seconds, "per_second": count / seconds, "second_seconds": second_seconds,
            "queries_per_batch": len(captured) / batches, "peak_mib": peak / 2**20, "floor": floor}


def run(sizes):
    """Print one table: each size's time, rate, queries per batch, memory, re-run and floor ratio."""
    now = timezone.now()
    rows = [_measure(number, size, now) for number, size in enumerate(sizes)]
    print(f"\nBackfill: api.backfill over DemoCompletionRecord (the LMS's grades stand-in), batches of {BATCH:,}")
    print("  " + "".join(f"{row['count']:>16,}" for row in rows))
    for label, key, form in (
            ("seconds, first run", "seconds", "{:>16.1f}"), ("windows opened / s", "per_second", "{:>16,.0f}"),
            ("queries per batch", "queries_per_batch", "{:>16.2f}"), ("peak memory, MiB", "peak_mib", "{:>16.2f}"),
            ("seconds, second run (opens 0)", "second_seconds", "{:>16.1f}")):
        print(f"  {label:<32}" + "".join(form.format(row[key]) for row in rows))
    print(f"  {'first run / bulk_create floor':<32}" + "".join(f"{row['seconds'] / row['floor']:>16.2f}"
                                                               for row in rows))
    if len(rows) > 1:
        print(f"  growth of time for {rows[-1]['count'] // rows[0]['count']}x the completers: "
              f"{rows[-1]['seconds'] / rows[0]['seconds']:.2f}x; of peak memory: "
              f"{rows[-1]['peak_mib'] / rows[0]['peak_mib']:.2f}x")
