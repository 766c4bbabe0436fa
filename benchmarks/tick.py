"""
How the periodic tick scales: time, queries per batch and peak memory of ``send_due_prompts`` and
``expire_due_windows`` at each size, against a raw-SQL floor. Machines are noisy, so what matters
are the ratios, all measured in the same run. Import only after ``benchmarks.bootstrap()``.
"""
import math
import os
import secrets
import time
import tracemalloc
from contextlib import contextmanager
from datetime import UTC, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    EvidenceRequirement,
    FollowUpPrompt,
    PromptDelivery,
)
from benchmarks import log
from demo.models import DemoCourse

COURSE_KEY = CourseKey.from_string("course-v1:Bench+TICK+2026")
CHUNK = 5_000
WINDOW_DAYS = 30
PROMPT_DAY, REMINDER_DAY = 7, 14
OPENED_DAYS_AGO = 10  # between the prompt and its reminder: exactly one message due per window
PROBE_BATCH_SIZE = 100
USERNAME_PREFIX = "bench-"
User = get_user_model()


def naive_utc(moment):
    """Raw SQL gets the naive UTC value Django itself stores in MariaDB with USE_TZ."""
    return timezone.make_naive(moment, UTC)


def seed_definition(now):
    """One active definition with one prompt whose subject and body use the placeholders a real one would."""
    DemoCourse.objects.get_or_create(course_key=COURSE_KEY, defaults={"display_name": "Bench course"})
    definition = ActivationDefinition.objects.create(
        course_key=COURSE_KEY, catalog_course=api.catalog_course(COURSE_KEY), name="Bench",
        behavior="apply the skill", window_days=WINDOW_DAYS, holdout_seed=secrets.token_hex(16),
        status=ActivationDefinition.Status.ACTIVE, activated_at=now,
    )
    requirement = EvidenceRequirement.objects.create(
        definition=definition, kind=EvidenceRequirement.Kind.PROJECT, title="Project",
        config={"instructions": "x", "rubric": []},
    )
    return FollowUpPrompt.objects.create(
        requirement=requirement, send_after_days=PROMPT_DAY, reminder_days=[REMINDER_DAY],
        subject="{learner_name}, how is it going?",
        body="You finished {course_name}. Try to {behavior} by {deadline}: {link}",
    )


def seed_windows(definition, count, now):
    """Bulk inserts, not ``open_windows``: seeding must be fast and must not depend on the code measured."""
    password = make_password(None)  # unusable
    User.objects.bulk_create(
        [User(username=f"{USERNAME_PREFIX}{n}", email=f"{USERNAME_PREFIX}{n}@example.com", password=password)
         for n in range(count)], batch_size=CHUNK,
    )
    opened = now - timedelta(days=OPENED_DAYS_AGO)
    user_ids = User.objects.filter(username__startswith=USERNAME_PREFIX).values_list("pk", flat=True)
    ActivationWindow.objects.bulk_create([
        ActivationWindow(
            definition=definition, user_id=user_id, course_run=COURSE_KEY, trigger=definition.trigger,
            opened_at=opened, closes_at=opened + timedelta(days=WINDOW_DAYS), org=COURSE_KEY.org,
            state=ActivationWindow.State.OPEN, arm=ActivationWindow.Arm.PROMPTED, next_action_at=opened,
        ) for user_id in user_ids
    ], batch_size=CHUNK)
    recount()


def recount():
    """
    Rebuild the tallies after writing around the api, as the repair command would: the tick then
    finds each window counted as the api counts the windows it opens (``ActivationWindow.tallied``).
    """
    for definition in ActivationDefinition.objects.all():
        api.rebuild_tallies(definition)


def execute(*statements):
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def clear_windows():
    """Raw deletes: the ORM's cascade collector would first load every row into Python."""
    execute((f"DELETE FROM {PromptDelivery._meta.db_table}", []),
            (f"DELETE FROM {ActivationWindow._meta.db_table}", []),
            (f"DELETE FROM {User._meta.db_table} WHERE username LIKE %s", [f"{USERNAME_PREFIX}%"]))


def reset_windows():
    """Undo a tick (no deliveries, every window due again) so each measurement starts from the same rows."""
    execute((f"DELETE FROM {PromptDelivery._meta.db_table}", []),
            (f"UPDATE {ActivationWindow._meta.db_table} SET state = %s, next_action_at = opened_at",
             [ActivationWindow.State.OPEN]))
    recount()


@contextmanager
def counted_queries():
    """
    Count statements as they run. Not ``CaptureQueriesContext``: it slices ``connection.queries``, which
    keeps only the last 9,000, so it undercounts a large tick, and the SQL it stores would inflate memory.
    """
    count = [0]

    def counter(execute_, sql, params, many, context):
        count[0] += 1
        return execute_(sql, params, many, context)

    with connection.execute_wrapper(counter):
        yield count


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def peak_memory(function, *args, **kwargs):
    """Peak Python allocation during the call; flat across sizes means the work really streams in batches."""
    tracemalloc.start()
    try:
        function(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# Issue 34: the tick's first prompts as fast as before the tallies (704 windows/s on the same machine).
TARGET_WINDOWS_PER_SECOND = 700


def raw_sql_floor(prompt, now, batch_size):
    """
    The least any implementation must do for the same rows: lock a batch of due windows, insert their
    claims in one statement, move their next action on, commit. No ORM, no message rendering.
    """
    windows, deliveries, at = ActivationWindow._meta.db_table, PromptDelivery._meta.db_table, naive_utc(now)
    handled = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {windows} WHERE state = 'open' AND next_action_at <= %s AND closes_at > %s"
                           " ORDER BY next_action_at LIMIT %s FOR UPDATE SKIP LOCKED", [at, at, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return handled
            # Only placeholders in VALUES (...): that is what lets MySQLdb send one multi-row INSERT.
            cursor.executemany(
                f"INSERT INTO {deliveries} (window_id, prompt_id, kind, `sequence`, status, attempts, claimed_at,"
                " sent_at, last_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(pk, prompt.pk, "prompt", 0, "sent", 1, at, at, "") for pk in ids],
            )
            cursor.execute(f"UPDATE {windows} SET next_action_at = opened_at + INTERVAL %s DAY"
                           f" WHERE id IN ({', '.join(['%s'] * len(ids))})", [REMINDER_DAY, *ids])
        handled += len(ids)


def expect(actual, wanted, what):
    if actual != wanted:
        raise SystemExit(f"benchmark seeding is wrong: {what} {actual}, expected {wanted}")


def measure(prompt, count, now, batch_size):
    """Every figure for one size, each run starting from the same freshly seeded or reset rows."""
    clear_windows()
    log(f"seeding {count:,} windows")
    seed_windows(prompt.requirement.definition, count, now)
    batches = math.ceil(count / batch_size)
    log("send_due_prompts (timed, queries counted)")
    with counted_queries() as queries:
        cpu_s = time.process_time()
        tick_s, totals = timed(api.send_due_prompts, now=now)
        cpu_s = time.process_time() - cpu_s
    expect({key: totals[key] for key in ("sent", "failed")}, {"sent": count, "failed": 0}, "send_due_prompts returned")
    reset_windows()
    log("send_due_prompts (tracemalloc)")
    peak = peak_memory(api.send_due_prompts, now=now)
    reset_windows()
    log("raw-SQL floor")
    floor_s, floored = timed(raw_sql_floor, prompt, now, batch_size)
    expect(floored, count, "raw-SQL floor handled")
    log("expire_due_windows")
    with counted_queries() as expire_queries:
        expire_s, expired = timed(api.expire_due_windows, now=now + timedelta(days=WINDOW_DAYS + 1))
    expect(expired, count, "expire_due_windows expired")
    return {
        "tick_s": tick_s, "tick_wps": count / tick_s, "tick_mps": totals["sent"] / tick_s,
        "tick_qpb": queries[0] / batches, "tick_qpw": queries[0] / count, "tick_peak_mib": peak / 2**20,
        "tick_cpu_ms": cpu_s / count * 1000, "tick_cpu_wps": count / cpu_s,
        "floor_s": floor_s, "tick_vs_floor": tick_s / floor_s,
        "expire_s": expire_s, "expire_wps": count / expire_s, "expire_qpb": expire_queries[0] / batches,
    }


def probe_batch_size(now, batch_size):
    """Queries per batch at another batch size: if it scales with the batch, the tick queries per window."""
    reset_windows()
    log(f"send_due_prompts with batch_size={batch_size} (queries counted)")
    with counted_queries() as queries:
        totals = api.send_due_prompts(now=now, batch_size=batch_size)
    return queries[0] / math.ceil(totals["sent"] / batch_size)


ROWS = [
    ("send_due_prompts: seconds", "tick_s", "{:.1f}"),
    ("  windows/s", "tick_wps", "{:,.0f}"),
    ("  messages/s", "tick_mps", "{:,.0f}"),
    ("  queries per batch of {batch}", "tick_qpb", "{:,.1f}"),
    ("  queries per window", "tick_qpw", "{:.2f}"),
    ("  queries per batch of {probe}", "probe_qpb", "{:,.1f}"),
    ("  peak Python memory, MiB", "tick_peak_mib", "{:.2f}"),
    ("  the tick process's CPU per window, ms", "tick_cpu_ms", "{:.2f}"),
    ("  windows per CPU second (its ceiling)", "tick_cpu_wps", "{:,.0f}"),
    ("raw-SQL floor: seconds", "floor_s", "{:.2f}"),
    ("send_due_prompts / raw-SQL floor", "tick_vs_floor", "{:.1f}x"),
    ("expire_due_windows: seconds", "expire_s", "{:.2f}"),
    ("  windows/s", "expire_wps", "{:,.0f}"),
    ("  queries per batch of {batch}", "expire_qpb", "{:.2f}"),
]


def print_table(results, batch_size):
    """One table: a column per size, then largest/smallest (1.00: throughput scales linearly, memory is flat)."""
    sizes = sorted(results)
    first, last = results[sizes[0]], results[sizes[-1]]
    lines = [["figure", *(f"{size:,} windows" for size in sizes), "largest/smallest"]]
    for label, key, fmt in ROWS:
        cells = [fmt.format(results[size][key]) if key in results[size] else "-" for size in sizes]
        ratio = f"{last[key] / first[key]:.2f}" if key in last and len(sizes) > 1 else "-"
        lines.append([label.format(batch=batch_size, probe=PROBE_BATCH_SIZE), *cells, ratio])
    widths = [max(map(len, column)) for column in zip(*lines)]
    lines.insert(1, ["-" * width for width in widths])
    for line in lines:
        print("  ".join([line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:], widths[1:]))]))


def run(sizes):
    """Measure every size in one process, then print the table with the run's context above it."""
    batch_size = settings.ACTIVATION_TICK_BATCH_SIZE
    now = timezone.now()
    prompt = seed_definition(now)  # bootstrap() made the database fresh
    results = {}
    for count in sizes:
        results[count] = measure(prompt, count, now, batch_size)
        if count == sizes[0]:
            results[count]["probe_qpb"] = probe_batch_size(now, PROBE_BATCH_SIZE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    print(f"MariaDB {version}, {os.cpu_count()} CPU cores, ACTIVATION_TICK_BATCH_SIZE={batch_size}, "
          f"database {connection.settings_dict['NAME']}.\nEMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend:"
          " every message is rendered and handed to the backend, which sends nothing.\n"
          "Queries per batch count the final empty SELECT that ends each loop.\n")
    print_table(results, batch_size)
    for count in sizes:
        rate = results[count]["tick_wps"]
        print(f"\nFirst prompts at {count:,} windows: {rate:,.0f} windows/s, {rate / TARGET_WINDOWS_PER_SECOND:.2f}x "
              f"the target (at least {TARGET_WINDOWS_PER_SECOND} windows/s, the rate before the tallies): "
              f"{'met' if rate >= TARGET_WINDOWS_PER_SECOND else 'NOT met'}; its own CPU allows at most "
              f"{results[count]['tick_cpu_wps']:,.0f} windows/s, whatever the load.", end="")
    print()
