"""
How KPI ingestion scales: observations per second through the real CSV path (the commit of an
upload) and the real REST path (a pull of JSON pages from a local HTTP server in another
process), against a raw ``executemany`` upsert of the same rows into the same table, and
peak Python memory at each size (flat means the rows stream). Import only after
``benchmarks.bootstrap()``.
"""
import csv
import json
import multiprocessing
import os
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, connections, transaction

from activation_plugin import api
from activation_plugin.kpi import csv_import, pull, sources
from activation_plugin.models import MetricObservation
from benchmarks import log
from tests.kpi_server import KpiServer, Reply

PEOPLE = 5_000  # distinct external ids; half of them are learners' emails, so matching does real work
LEARNERS = PEOPLE // 2
PAGE = 5_000
START = datetime(2025, 1, 1, tzinfo=UTC)
METRICS = ("handle_time", "csat", "first_contact_resolution")


def observation(n):
    """The n-th synthetic observation: deterministic, unique by (metric, external_id, observed_at)."""
    person = n % PEOPLE
    external_id = f"bench-{person}@example.com" if person < LEARNERS else f"EMP-{person}"
    return external_id, METRICS[n % len(METRICS)], 100 + n % 400, START + timedelta(seconds=n)


def write_csv(path, count):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "metric", "value", "observed_at"])
        for n in range(count):
            external_id, metric, value, at = observation(n)
            writer.writerow([external_id, metric, value, at.isoformat()])


def serve_pages(count, pipe):
    """
    In a child process: answer ``?p=N`` with the N-th page of observations as JSON records. Pages
    are rendered before the server starts, so the figures measure the client, not this stand-in API.
    """
    pages = []
    for first in range(0, count, PAGE):
        rows = [observation(n) for n in range(first, min(first + PAGE, count))]
        pages.append(json.dumps({"data": [{"agent": external_id, "kpi": metric, "v": value, "at": at.isoformat()}
                                          for external_id, metric, value, at in rows]}).encode())
    empty = json.dumps({"data": []}).encode()

    def page(query):
        number = int(query.get("p", "1"))
        return Reply(raw=pages[number - 1] if 1 <= number <= len(pages) else empty)

    with KpiServer() as server:
        server.route("/observations", page)
        pipe.send(server.url("/observations"))
        pipe.recv()  # until the parent is done


def seed_learners():
    password = make_password(None)
    get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-{n}", email=f"bench-{n}@example.com", password=password)
         for n in range(LEARNERS)], batch_size=5_000, ignore_conflicts=True)


def clear():
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE TABLE {MetricObservation._meta.db_table}")


def learner_ids():
    """Email → user id of the seeded learners, so the floor writes the very rows the real paths write."""
    return dict(get_user_model().objects.filter(username__startswith="bench-").values_list("email", "pk"))


def raw_upsert(count, batch, users):
    """
    The floor: already-parsed tuples with their user ids looked up beforehand, one multi-row
    INSERT … ON DUPLICATE KEY UPDATE per batch, one transaction; no checking, no matching, no counts.
    The rows are identical to the real paths' (same user ids, so the same index pages are touched).
    """
    source = api.metric_source("bench-csv")
    table = MetricObservation._meta.db_table
    sql = (f"INSERT INTO {table} (source_id, metric, external_id, user_id, observed_at, value, received_at, record_id)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)")
    received = datetime.now(UTC).replace(tzinfo=None)
    with transaction.atomic(), connection.cursor() as cursor:  # one commit, like the CSV commit
        for start in range(0, count, batch):
            cursor.executemany(sql, [
                (source.pk, metric, external_id, users.get(external_id), at.replace(tzinfo=None), float(value),
                 received, "")
                for external_id, metric, value, at in map(observation, range(start, min(start + batch, count)))
            ])


def ingest_csv(path):
    source = api.metric_source("bench-csv")
    with open(path, "rb") as handle, transaction.atomic():  # as the upload's commit does: all or nothing
        result = api.ingest_observations(source, csv_import.observation_records(handle), strict=True)
    return result["stored"]


def ingest_rest():
    result = pull.pull("bench-rest")
    if result["status"] != "ok":
        raise SystemExit(f"REST pull failed: {result['error']}")
    return result["stored"]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def peak(function, *args):
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def expect(actual, wanted, what):
    if actual != wanted:
        raise SystemExit(f"benchmark is wrong: {what} {actual}, expected {wanted}")


def measure(count, csv_path, batch):
    """Every figure for one size; the table is emptied before each run so each inserts the same rows."""
    figures = {}
    write_csv(csv_path, count)
    # The server holds the largest size's pages: a run reads only this size's.
    settings.ACTIVATION_METRIC_SOURCES["bench-rest"]["max_pages"] = -(-count // PAGE)
    for label, function, args in (("csv", ingest_csv, (csv_path,)), ("rest", ingest_rest, ())):
        clear()
        log(f"{count:,} observations: {label} (timed)")
        seconds, stored = timed(function, *args)
        expect(stored, count, f"{label} stored")
        clear()
        log(f"{count:,} observations: {label} (tracemalloc)")
        figures[f"{label}_peak_mib"] = peak(function, *args) / 2**20
        figures[f"{label}_s"] = seconds
        figures[f"{label}_ops"] = count / seconds
    clear()
    log(f"{count:,} observations: raw executemany upsert")
    floor_s, _none = timed(raw_upsert, count, batch, learner_ids())
    expect(MetricObservation.objects.count(), count, "raw upsert stored")
    figures.update(floor_s=floor_s, floor_ops=count / floor_s, csv_ratio=floor_s / figures["csv_s"],
                   rest_ratio=floor_s / figures["rest_s"])
    clear()
    return figures


ROWS = [
    ("raw executemany upsert: observations/s", "floor_ops", "{:,.0f}"),
    ("CSV commit: observations/s", "csv_ops", "{:,.0f}"),
    ("  throughput / raw (target >= 0.5)", "csv_ratio", "{:.2f}"),
    ("  peak Python memory, MiB", "csv_peak_mib", "{:.1f}"),
    ("REST pull (pages of 5,000): observations/s", "rest_ops", "{:,.0f}"),
    ("  throughput / raw (target >= 0.5)", "rest_ratio", "{:.2f}"),
    ("  peak Python memory, MiB", "rest_peak_mib", "{:.1f}"),
]


def print_table(results):
    """
    One row per figure, one column per size, and the largest/smallest ratio: how a cost grows matters
    more than any one time.
    """
    sizes = sorted(results)
    first, last = results[sizes[0]], results[sizes[-1]]
    lines = [["figure", *(f"{size:,} observations" for size in sizes), "largest/smallest"]]
    for label, key, fmt in ROWS:
        ratio = f"{last[key] / first[key]:.2f}" if len(sizes) > 1 else "-"
        lines.append([label, *(fmt.format(results[size][key]) for size in sizes), ratio])
    widths = [max(map(len, column)) for column in zip(*lines)]
    lines.insert(1, ["-" * width for width in widths])
    for line in lines:
        print("  ".join([line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:], widths[1:]))]))


def run(sizes):
    """Measure every size in one process against one server process, then print the table."""
    batch = settings.ACTIVATION_METRIC_BATCH_SIZE
    seed_learners()
    connections.close_all()  # the server process is forked: it must not share the database connection
    parent, child = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve_pages, args=(max(sizes), child), daemon=True)
    server.start()
    url = parent.recv()
    settings.ACTIVATION_METRIC_SOURCES = {
        "bench-csv": {"kind": "csv"},
        "bench-rest": {"kind": "rest", "url": url, "allowed_hosts": ["127.0.0.1"], "allow_private": ["127.0.0.1"],
                       "records": "data", "pagination": {"style": "page", "page_param": "p"},
                       "timeout": 60,
                       "mapping": {"external_id": "agent", "metric": "kpi", "value": "v", "observed_at": "at"}},
    }
    settings.ACTIVATION_METRIC_MAX_RESPONSE_BYTES = 50 * 1024 * 1024
    for name in settings.ACTIVATION_METRIC_SOURCES:
        api.sync_metric_source(sources.get(name))
    results = {}
    try:
        with tempfile.TemporaryDirectory() as directory:
            for count in sizes:
                results[count] = measure(count, os.path.join(directory, "observations.csv"), batch)
    finally:
        parent.send("done")
        server.join(timeout=5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    print(f"MariaDB {version}, {os.cpu_count()} CPU cores, ACTIVATION_METRIC_BATCH_SIZE={batch}, "
          f"database {connection.settings_dict['NAME']}.\n{PEOPLE:,} external ids, {LEARNERS:,} of them learners' "
          "emails (matched). The REST server runs in its own process on 127.0.0.1.\n"
          "Ratios above 1 would mean faster than the raw upsert; memory ratio near 1 means flat.\n")
    print_table(results)
