"""
How the portfolio scales (issue 33): ``api.portfolio``'s figures over many definitions, against a
hand-written grouped SQL aggregate over the same tallies (the floor). Import only after
``benchmarks.bootstrap()``.

Definitions are spread over ten orgs, each with its own rate; each has one window per benchmark
learner (the windows are a cross join of definitions and learners, made by MariaDB itself with
``INSERT … SELECT``), two runs, a holdout and three enrollment modes, opened over the last 200
days so that some are still running and some close today. The cell tallies the portfolio reads
are then summed from the windows by one ``INSERT … SELECT`` (the api's rebuild counts each window
in Python: hours at millions of windows), in the order of their closing days as the api creates
them, and each cell's total (``CellTotal``) from those; one definition's are then rebuilt by the
api (``api.rebuild_tallies``) and must come out the same, or the run stops.

Target (issue 33): at 2,000 definitions and 10,000,000 windows, the portfolio's figures at most
twice the floor cold, and under a second warm (cached: ``figures.portfolio_cache``). Measured for
global staff, and for an org lead who sees no learner row by row (the figures released day by day).
"""
import itertools
import os
import secrets
import time
from contextlib import contextmanager
from datetime import UTC, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import UniqueConstraint
from django.test.utils import override_settings
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.figures.tallies import CELL_COUNTERS, CELL_FIELDS
from activation_plugin.models import ActivationDefinition, ActivationWindow, CellTotal, WindowTally
from activation_plugin.platform import ORG_GROUP_PREFIX
from benchmarks import execute, log
from benchmarks.summary import interleaved
from demo.models import DemoCourse

ORGS = 10
WINDOW_DAYS = 30
USERNAME_PREFIX = "pf-"
REPEATS = 5
TARGET_DEFINITIONS, TARGET_WINDOWS = 2_000, 10_000_000
TARGET_VS_FLOOR, TARGET_WARM_S = 2.0, 1.0
User = get_user_model()


def seed(definitions, windows, now):
    """``definitions`` active definitions and about ``windows`` windows spread evenly over them; returns them."""
    learners = max(1, windows // definitions)
    keys = [CourseKey.from_string(f"course-v1:BenchOrg{number % ORGS}+P{number}+2026") for number in range(definitions)]
    DemoCourse.objects.bulk_create([DemoCourse(course_key=key, display_name=f"Portfolio course {number}")
                                    for number, key in enumerate(keys)])
    ActivationDefinition.objects.bulk_create([ActivationDefinition(
        course_key=key, catalog_course=api.catalog_course(key), name=f"Portfolio bench {number}",
        behavior="apply the skill", window_days=WINDOW_DAYS, holdout_percent=10, holdout_seed=secrets.token_hex(16),
        status=ActivationDefinition.Status.ACTIVE, activated_at=now) for number, key in enumerate(keys)],
        batch_size=1000)
    params = {"at": timezone.make_naive(now, UTC), "prefix": USERNAME_PREFIX}
    execute(f"INSERT INTO {User._meta.db_table} (password, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) SELECT '!', 0, CONCAT(%(prefix)s, seq), '', '', '', 0, 1, %(at)s"
            f" FROM seq_1_to_{learners}", params)
    opened = "(%(at)s - INTERVAL ((u.id * 7 + d.id) %% 200) DAY - INTERVAL ((u.id + d.id) %% 1440) MINUTE)"
    recent = f"{opened} > %(at)s - INTERVAL {WINDOW_DAYS} DAY"
    # Each org its own rate (15 % to 60 %), a course a few points either side of it.
    activated = "((u.id * 31 + d.id * 17) %% 100 < 15 + 5 * (d.id %% 10) + (d.id %% 7))"
    log(f"seeding {definitions:,} definitions x {learners:,} learners")
    with _indexes_built_after(ActivationWindow):
        execute(
            f"INSERT INTO {ActivationWindow._meta.db_table} (definition_id, user_id, course_run, `trigger`, opened_at,"
            " closes_at, state, activated_at, days_to_activation, arm, enrollment_mode, org, cohort, next_action_at,"
            " verified_strengths, tally_pending, tally_stale)"
            f" SELECT d.id, u.id, IF(u.id %% 3 = 0, REPLACE(d.course_key, '+2026', '+2027'), d.course_key), 'passing',"
            f" {opened}, {opened} + INTERVAL {WINDOW_DAYS} DAY,"
            f" IF({activated}, 'activated', IF({recent}, 'open', 'expired')),"
            f" IF({activated}, {opened} + INTERVAL (u.id %% 29) DAY, NULL), IF({activated}, u.id %% 29, NULL),"
            " IF(u.id %% 10 = 0, 'holdout', 'prompted'), ELT(1 + u.id %% 3, 'audit', 'verified', 'professional'),"
            " 'Bench', '', NULL, '', FALSE, FALSE"
            f" FROM {ActivationDefinition._meta.db_table} d"
            f" CROSS JOIN (SELECT id FROM {User._meta.db_table} WHERE username LIKE 'pf-%%') u", params)
    execute(f"ANALYZE TABLE {ActivationWindow._meta.db_table}")
    return list(ActivationDefinition.objects.order_by("pk"))


@contextmanager
def _indexes_built_after(model):
    """
    The model's plain indexes dropped for a bulk insert and built again after it (InnoDB builds an
    index by sorting, much faster than inserting millions of rows into it in random order): the
    table ends up as the migrations make it. An index a foreign key needs (its column leads no
    unique key) stays.
    """
    unique_leads = {constraint.fields[0] for constraint in model._meta.constraints
                    if isinstance(constraint, UniqueConstraint)}
    indexes = [index for index in model._meta.indexes
               if not (model._meta.get_field(index.fields[0]).is_relation and index.fields[0] not in unique_leads)]
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(model, index)
    yield
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.add_index(model, index)


def build_tallies(now):
    """
    Each definition's cell tallies summed from its windows in SQL, as ``api.tallies`` keeps them
    (the cell digest is ``tallies.cell_key``'s SHA-1 of the cell's fields), inserted by closing day
    (the api inserts a day's row when the first window closing on it opens, so the rows still
    running are the table's last), and each cell's total summed from them; the seeded windows have
    no evidence or prompt, so only completers and activated are counted. Then one definition's are
    rebuilt by the api, and must be equal.
    """
    table, fields = WindowTally._meta.db_table, ", ".join(CELL_FIELDS)
    counters = ", ".join(f"`{counter}`" for counter in CELL_COUNTERS)  # "repeat" is an SQL keyword
    execute(f"INSERT INTO {table} (definition_id, cell, {fields}, closes_on, first_opened, {counters})"
            f" SELECT definition_id, SHA1(CONCAT_WS(CHAR(31), {fields})), {fields}, DATE(closes_at), MIN(opened_at),"
            f" COUNT(*), SUM(state = 'activated'), {', '.join(['0'] * (len(CELL_COUNTERS) - 2))}"
            f" FROM {ActivationWindow._meta.db_table}"
            f" GROUP BY definition_id, {fields}, DATE(closes_at) ORDER BY DATE(closes_at), definition_id")
    execute(f"INSERT INTO {CellTotal._meta.db_table} (definition_id, cell, {fields}, first_opened, {counters})"
            f" SELECT definition_id, cell, {', '.join(f'MIN({field})' for field in CELL_FIELDS)}, MIN(first_opened),"
            f" {', '.join(f'SUM({counter})' for counter in counters.split(', '))}"
            f" FROM {table} GROUP BY definition_id, cell")
    # What each window closing in the last window's length stores of its contribution
    # (``tallies.contribution``, zeros left out): the figures read today's on one side of now, and
    # for a viewer without rows those ended since the last release (``release.counted_through_many``).
    execute(f"UPDATE {ActivationWindow._meta.db_table} SET tallied = JSON_OBJECT('cell', IF(state = 'activated',"
            " JSON_OBJECT('completers', 1, 'activated', 1), JSON_OBJECT('completers', 1)), 'day', days_to_activation,"
            f" 'kpi', JSON_OBJECT()) WHERE closes_at >= %s - INTERVAL {WINDOW_DAYS} DAY"
            " AND closes_at < %s + INTERVAL 1 DAY", [now.date(), now.date()])
    ActivationDefinition.objects.update(tallies_built_at=now)
    execute(f"ANALYZE TABLE {table}, {CellTotal._meta.db_table}")
    sample = ActivationDefinition.objects.order_by("pk").first()
    fields = ("cell", *CELL_FIELDS, "closes_on", "first_opened", *CELL_COUNTERS)

    def kept():
        return (set(WindowTally.objects.filter(definition=sample).values_list(*fields)),
                set(CellTotal.objects.filter(definition=sample).values_list(*(f for f in fields if f != "closes_on"))))

    summed = kept()
    api.rebuild_tallies(sample)
    if kept() != summed:
        raise SystemExit("the tallies summed in SQL differ from the api's rebuild")


def floor(now):
    """
    The least the page's figures need from the tallies it reads, in one hand-written statement:
    each definition's completers, and its activated among the windows that ended (closing days
    before today), as its cells' totals minus their rows closing today or later (found on the
    ``(definition, closes_on)`` index from the definitions, as the page finds them).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT definition_id, SUM(completers), SUM(activated) FROM ("
            f" SELECT definition_id, completers, activated FROM {CellTotal._meta.db_table}"
            f" UNION ALL SELECT t.definition_id, 0, -t.activated FROM {ActivationDefinition._meta.db_table} d"
            f" JOIN {WindowTally._meta.db_table} t ON t.definition_id = d.id AND t.closes_on >= %s) later"
            f" GROUP BY definition_id", [now.date()])
        return cursor.fetchall()


def floor_by_day(now):
    """The floor of earlier runs, before the cells' totals: one grouped pass over every closing day's rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT definition_id, SUM(completers), SUM(IF(closes_on < %s, activated, 0))"
            f" FROM {WindowTally._meta.db_table} GROUP BY definition_id", [now.date()])
        return cursor.fetchall()


def cold(user, now, moments):
    """``api.portfolio`` as a first visit computes it: at a moment of its own, which nothing is cached for."""
    return api.portfolio(user, now=now + timedelta(microseconds=next(moments)))


# The cache a deployment gives the figures (Tutor's Redis): the demo's default, Django's local-memory cache,
# keeps at most 300 keys, fewer than the 2,000 courses' version tokens a portfolio reads, so no call would be warm.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 10**6}}}


@override_settings(CACHES=CACHES)
def run(definitions, windows):
    """Seeds, builds the tallies, then times the portfolio against the floor and prints the verdict."""
    now = timezone.now().replace(microsecond=0)
    made = seed(definitions, windows, now)
    seeded = ActivationWindow.objects.count()
    log(f"summing the tallies of {len(made):,} definitions ({seeded:,} windows)")
    started = time.perf_counter()
    build_tallies(now)
    build_s = time.perf_counter() - started
    tally_rows = WindowTally.objects.count()
    operator = User.objects.create(username="pf-operator", is_staff=True)
    lead = User.objects.create(username="pf-lead")  # every org's lead: sees no learner row by row
    lead.groups.set([Group.objects.get_or_create(name=f"{ORG_GROUP_PREFIX}BenchOrg{org}")[0] for org in range(ORGS)])
    log("measuring")
    started = time.perf_counter()
    first = api.portfolio(operator, now=now + timedelta(seconds=1))
    first_s = time.perf_counter() - started
    moments = itertools.count(2)
    (portfolio_s, figures), (floor_s, floored), (by_day_s, by_day) = interleaved(
        (cold, operator, now, moments), (floor, now), (floor_by_day, now), repeats=REPEATS)
    if len(figures["rows"]) != len(floored) or len(first["rows"]) != len(made) or sorted(floored) != sorted(by_day):
        raise SystemExit(f"the portfolio has {len(figures['rows'])} rows, the floor {len(floored)}")
    completers = {pk: count for pk, count, _activated in floored}
    if any(row["completers"] != completers[row["definition_id"]] for row in figures["rows"] if not row["suppressed"]):
        raise SystemExit("the portfolio's completers differ from the floor's")
    ratio = portfolio_s / floor_s
    [(warm_s, _figures)] = interleaved((api.portfolio, operator, api.PortfolioFilters(), "rate", now), repeats=REPEATS)
    log(f"global staff cold {portfolio_s:.3f} s, floor {floor_s:.3f} s, warm {warm_s:.3f} s; timing an org lead's")
    # Once: at 2,000 courses an org lead's cold portfolio takes minutes (the release walks every course's days).
    [(lead_cold_s, _figures)] = interleaved((cold, lead, now, moments), repeats=1)
    [(lead_warm_s, _figures)] = interleaved((api.portfolio, lead, api.PortfolioFilters(), "rate", now),
                                            repeats=REPEATS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
        version, pool = cursor.fetchone()
    print(f"\nPortfolio: MariaDB {version}, innodb_buffer_pool_size {pool / 2**20:.0f} MiB, {os.cpu_count()} CPU "
          f"cores; {len(made):,} definitions, {seeded:,} windows, {tally_rows:,} cell tally rows.")
    print(f"  cell tallies summed from the windows in SQL (seeding, not measured): {build_s:.1f} s")
    print(f"  portfolio, first call: {first_s:.3f} s")
    print(f"  portfolio cold (not cached), fastest of {REPEATS} alternating runs: {portfolio_s:.3f} s")
    print(f"  portfolio warm (cached; another sort), fastest of {REPEATS}: {warm_s:.3f} s")
    print(f"  an org lead's portfolio (released day by day, ADR 0016): cold (once) {lead_cold_s:.3f} s, "
          f"warm {lead_warm_s:.3f} s")
    print(f"  floor (the cells' totals minus their rows from today, one statement), fastest of {REPEATS}: "
          f"{floor_s:.3f} s")
    print(f"  earlier runs' floor (one grouped SUM over every day's cell tallies), fastest of {REPEATS}: "
          f"{by_day_s:.3f} s")
    print(f"  portfolio / floor: {ratio:.2f}x (/ earlier floor: {portfolio_s / by_day_s:.2f}x)")
    verdict = ("met" if ratio <= TARGET_VS_FLOOR and max(warm_s, lead_warm_s) < TARGET_WARM_S else "MISSED") \
        if definitions >= TARGET_DEFINITIONS and seeded >= TARGET_WINDOWS else \
        f"the target is set at {TARGET_DEFINITIONS:,} definitions and {TARGET_WINDOWS:,} windows"
    print(f"  target: cold at most {TARGET_VS_FLOOR}x the floor and warm under {TARGET_WARM_S} s: {verdict}.")
