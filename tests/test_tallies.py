"""
Tallies: the running totals every figure is added up from, kept by the api with every write.

The proof that they hold is that they equal a rebuild from the windows, and that the figures read
from them equal the figures counted from the windows themselves, after every write path the api
has, replays included, and at moments around a window closing today.
"""
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from activation_plugin import api
from activation_plugin.api.tallies import retally
from activation_plugin.figures import tallies
from activation_plugin.models import (
    ActivationDayTally,
    ActivationDefinition,
    ActivationWindow,
    CellTotal,
    CensorTally,
    Evidence,
    KpiTally,
    WindowTally,
)
from demo.models import DemoCourse
from tests.conftest import NOW, PROJECT, SURVEY, committed
from tests.factories import UserFactory
from tests.figures_data import source

STAFF_PROJECT = {**PROJECT, "verification": "staff",
                 "prompts": [{"send_after_days": 1, "reminder_days": [4], "subject": "How did it go?",
                              "body": "Tell us."}]}
TALLY_MODELS = (WindowTally, CellTotal, ActivationDayTally, CensorTally, KpiTally)
METRIC = {"kind": "metric", "title": "Handle time down", "config": {
    "metric": "handle_time", "threshold": -10, "direction": "lower", "relative": True, "baseline_days": 20}}


def stored(definition):
    """
    Every tally row of the definition, without ids, in a comparable order (the cells' totals after
    their days), KPI sums rounded. A day or KPI row a window moved out of stays at zero where a
    rebuild has none: those are left out.
    """
    cells = sorted(tuple(str(value) for value in row) for row in WindowTally.objects.filter(
        definition=definition).values_list("cell", "closes_on", "first_opened", *tallies.CELL_COUNTERS))
    cells += sorted(tuple(str(value) for value in row) for row in CellTotal.objects.filter(
        definition=definition).values_list("cell", "first_opened", *tallies.CELL_COUNTERS))
    days = sorted(ActivationDayTally.objects.filter(definition=definition).exclude(activated=0)
                  .values_list("day", "activated"))
    days += sorted(CensorTally.objects.filter(definition=definition).exclude(waiting=0)
                   .values_list("opened_hour", "closes_on", "waiting"))
    kpi = sorted((row["metric"], row["arm"], row["activated"], row["closes_on"],
                  *(round(row[name], 9) for name in tallies.KPI_SUMS))
                 for row in KpiTally.objects.filter(definition=definition).values())
    return cells, days, [row for row in kpi if any(row[4:])]


def comparable(figures):
    """The figures with floats rounded: sums kept in the tallies may differ from a recount in the last digits."""
    if isinstance(figures, dict):
        return {key: comparable(value) for key, value in figures.items() if key != "computed_at"}
    if isinstance(figures, (list, tuple)):
        return [comparable(value) for value in figures]
    if isinstance(figures, float):
        return round(figures, 9)
    if hasattr(figures, "_asdict"):
        return comparable(figures._asdict())
    return figures


def counted_from_windows(definition, now):
    """The figures as counted from the windows: what a definition whose tallies were never built shows."""
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=None)
    definition.refresh_from_db()
    try:
        return api.analytics(definition, now=now)
    finally:
        ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=NOW)
        definition.refresh_from_db()


def days_summed(definition):
    """Each cell's tally rows summed over their closing days: what its ``CellTotal`` must hold."""
    totals = {}
    rows = WindowTally.objects.filter(definition=definition).values("cell", "first_opened", *tallies.CELL_COUNTERS)
    for row in rows:
        total = totals.setdefault(row["cell"], {**row, **dict.fromkeys(tallies.CELL_COUNTERS, 0)})
        total["first_opened"] = min(total["first_opened"], row["first_opened"])
        for counter in tallies.CELL_COUNTERS:
            total[counter] += row[counter]
    return totals


def assert_tallies_hold(definition, moments):
    definition.refresh_from_db()
    assert {row["cell"]: row for row in CellTotal.objects.filter(definition=definition).values(
        "cell", "first_opened", *tallies.CELL_COUNTERS)} == days_summed(definition)
    for moment in moments:
        from_tallies = comparable(api.analytics(definition, now=moment))
        assert from_tallies == comparable(counted_from_windows(definition, moment)), moment
    kept = stored(definition)
    api.rebuild_tallies(definition)
    for part, (rebuilt, maintained) in zip(("cells", "days and censoring", "kpi"), zip(stored(definition), kept)):
        assert set(rebuilt) ^ set(maintained) == set(), part


def complete(definition, users, start, step=timedelta(hours=7)):
    for number, user in enumerate(users):
        api.open_windows(user.pk, definition.course_key, "passing", start + number * step)
    return list(ActivationWindow.objects.filter(definition=definition).order_by("pk"))


def submit(window, key):
    requirement = window.definition.requirements.get(kind="project")
    return api.record_evidence(window=window, requirement=requirement, source="learner",
                               payload={"url": "https://example.com/work", "text": ""}, idempotency_key=key,
                               submitted_at=window.opened_at + timedelta(days=2))


def handle_times(user, opened_at, before, after):
    """Two observations before the window and two inside it, through ingestion as a CRM sends them."""
    return [{"metric": "handle_time", "external_id": user.email, "value": value, "observed_at": at.isoformat()}
            for value, at in ((before, opened_at - timedelta(days=5)), (before + 2, opened_at - timedelta(days=2)),
                              (after, opened_at + timedelta(days=3)), (after + 1, opened_at + timedelta(days=6)))]


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_tallies_kept_by_every_write_path_equal_a_rebuild_and_the_windows(
        make_definition, course_key, staff_user, settings, mailoutbox):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # every figure computed, none hidden
    definition = make_definition(requirements=[STAFF_PROJECT, METRIC], holdout_percent=30)
    users = UserFactory.create_batch(24)
    start = NOW - timedelta(days=45)
    windows = complete(definition, users, start, step=timedelta(days=1, hours=7))
    complete(definition, users[:3], start)  # replayed completions change nothing
    crm = source("crm-tallies")
    records = []
    for number, window in enumerate(windows[:16]):
        records += handle_times(window.user, window.opened_at, 300 + number, 280 - number * (number % 3))
    api.ingest_observations(crm, records, now=NOW)
    api.ingest_observations(crm, records, now=NOW)  # a replayed batch changes nothing
    for number, window in enumerate(windows[:14]):
        evidence = submit(window, f"tally-{number}")
        submit(window, f"tally-{number}")  # replayed
        if number % 4 != 3:
            api.review_evidence(evidence, verdict="verified" if number % 3 else "rejected", role="staff",
                                reviewer=staff_user)
    reversed_one = Evidence.objects.filter(window=windows[1]).get()
    api.review_evidence(reversed_one, verdict="rejected", role="staff", reviewer=UserFactory(is_staff=True),
                        comment="Not the skill taught.")  # a second member of staff reverses the first
    for day in (2, 5):  # prompts, then reminders to windows already counted as prompted
        api.send_due_prompts(now=start + timedelta(days=day + 20))
    api.send_due_prompts(now=NOW)
    api.withdraw_window(windows[2].user, course_key, windows[2].pk)
    api.retire_user(windows[4].user.pk)
    api.expire_due_windows(now=NOW)
    assert WindowTally.objects.filter(definition=definition).exists()

    today_closing = [w for w in ActivationWindow.objects.filter(definition=definition) if w.closes_at.date() == (
        NOW + timedelta(days=2)).date()]
    moments = [NOW, NOW + timedelta(days=2)]
    moments += [window.closes_at + offset for window in today_closing[:1]
                for offset in (-timedelta(microseconds=1), timedelta(0), timedelta(hours=1))]
    assert_tallies_hold(definition, moments)


def test_a_definition_made_before_tallies_is_counted_from_its_windows_until_the_tick_builds_it(
        make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    windows = complete(definition, UserFactory.create_batch(6), NOW - timedelta(days=40))
    submit(windows[0], "before-upgrade")
    # As the migration leaves a definition that existed before: windows, no tallies.
    for model in TALLY_MODELS:
        model.objects.filter(definition=definition).delete()
    ActivationWindow.objects.filter(definition=definition).update(tallied=None)
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=None)
    definition.refresh_from_db()
    before = comparable(api.analytics(definition, now=NOW))
    assert before["summary"]["completers"] == 6 and before["summary"]["activated"] == 1

    assert api.tick(now=NOW)["tallies_built"] == 1
    definition.refresh_from_db()
    assert definition.tallies_built_at is not None
    assert api.tick(now=NOW)["tallies_built"] == 0
    assert comparable(api.analytics(definition, now=NOW)) == before
    assert sum(WindowTally.objects.filter(definition=definition).values_list("completers", flat=True)) == 6


def test_the_command_repairs_tallies_that_drifted(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    complete(definition, UserFactory.create_batch(5), NOW - timedelta(days=40))
    kept = stored(definition)
    for model in (WindowTally, CellTotal):  # edited by hand, or a bad restore
        model.objects.filter(definition=definition).update(completers=99)
    assert api.summarize(definition, now=NOW)["completers"] != 5
    out = call_command_output("activation_rebuild_tallies", str(definition.pk))
    assert f"definition {definition.pk}: 5 windows counted" in out
    assert stored(definition) == kept
    assert api.summarize(definition, now=NOW)["completers"] == 5


def call_command_output(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_command_refuses_an_unknown_definition(db):
    with pytest.raises(CommandError, match="No activation definition 404"):
        call_command("activation_rebuild_tallies", "404")


def test_a_window_counted_twice_moves_the_tallies_once(make_definition, course_key):
    definition = make_definition()
    [window] = complete(definition, [UserFactory()], NOW - timedelta(days=3))
    kept = stored(definition)
    retally(definition, [window.pk, window.pk])
    retally(definition, [window.pk])
    assert stored(definition) == kept
    assert WindowTally.objects.get(definition=definition).completers == 1


def test_the_page_reads_the_tallies_not_every_window(make_definition, course_key, settings):
    """Only the windows closing today and the running ones not activated are read; the rest come from tallies."""
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[STAFF_PROJECT])
    complete(definition, UserFactory.create_batch(8), NOW - timedelta(days=60))
    with CaptureQueriesContext(connection) as captured:
        api.analytics(definition, now=NOW)
    statements = [query["sql"] for query in captured]
    # No window's evidence or prompts are looked up: what each window adds is in the tallies, and in
    # the window itself for the ones closing today. The prompts in doubt are counted from the
    # deliveries' status index (the few claims a dead tick left ``sending``), not per window.
    assert not [sql for sql in statements if re.search(r"activation_plugin_(evidence|promptdelivery)\W", sql)
                and "'sending'" not in sql]
    assert any("activation_plugin_windowtally" in sql for sql in statements)


USED_SURVEY = {**SURVEY, "config": {**SURVEY["config"], "activation_condition": {
    "match": "all", "answers": [{"question": "used", "options": ["yes"]}]}}}


def test_survey_responses_that_do_not_count_are_responses_not_verified_in_the_tallies(
        make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[USED_SURVEY])
    now = timezone.now()
    windows = complete(definition, UserFactory.create_batch(6), now - timedelta(days=6), step=timedelta(hours=5))
    survey = definition.requirements.get()

    def answer(window, used, key):
        return api.save_learner_response(window=window, requirement=survey, payload={"answers": {"used": used}},
                                         idempotency_key=key)
    with committed():  # the learners' requests: the running totals move after each commit
        for number, used in enumerate(("no", "no", "yes", "no", "yes")):
            answer(windows[number], used, f"first-{number}")
        answer(windows[1], "yes", "edited-1")  # "not yet" edited into a use: activates
        answer(windows[4], "no", "edited-4")  # and back: no longer counts
    cells = WindowTally.objects.filter(definition=definition)
    assert [sum(cell.completers for cell in cells), sum(cell.responded for cell in cells),
            sum(cell.verified for cell in cells), sum(cell.activated for cell in cells)] == [6, 5, 2, 2]
    assert Evidence.objects.filter(status="not_met").count() == 3
    assert_tallies_hold(definition, [now, now + timedelta(days=40)])


def test_setting_the_condition_of_a_survey_from_before_conditions_moves_the_tallies_it_changes(
        make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[SURVEY])
    survey = definition.requirements.get()
    survey.config = {"questions": survey.config["questions"], "activation_condition": {"match": "not_set"}}
    survey.save()  # as migration 0015 leaves it
    now = timezone.now()
    windows = complete(definition, UserFactory.create_batch(4), now - timedelta(days=50), step=timedelta(days=3))
    with committed():
        for number, window in enumerate(windows[:3]):  # closed windows, each activated by any answer
            api.record_evidence(window=window, requirement=survey, source="learner",
                                idempotency_key=f"legacy-{number}",
                                payload={"answers": {"used": "no" if number != 1 else "yes"}},
                                submitted_at=window.opened_at + timedelta(days=1))
        assert api.set_activation_condition(survey, {"match": "all", "answers": [
            {"question": "used", "options": ["yes"]}]}) == {"responses": 3, "not_counted": 2, "windows": 2}
    assert sorted(ActivationWindow.objects.filter(definition=definition).values_list("state", flat=True)) == [
        "activated", "expired", "expired", "open"]  # the unanswered one waits for the tick to expire it
    assert_tallies_hold(definition, [now, now + timedelta(days=40)])


def prompted(definition):
    return sum(WindowTally.objects.filter(definition=definition).values_list("prompted", flat=True))


def test_a_tick_counts_each_batch_of_first_prompts_at_once_as_a_rebuild_would(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    settings.ACTIVATION_TICK_BATCH_SIZE = 4  # several batches, several cells and closing days in each
    definition = make_definition(requirements=[STAFF_PROJECT], holdout_percent=30)
    start = NOW - timedelta(days=10)
    complete(definition, UserFactory.create_batch(11), start, step=timedelta(hours=9))
    assert api.send_due_prompts(now=start + timedelta(days=5))["sent"] > 4
    assert prompted(definition) == ActivationWindow.objects.filter(
        definition=definition, deliveries__status="sent").distinct().count()
    assert not ActivationWindow.objects.filter(tally_pending=True).exists()
    assert_tallies_hold(definition, [start + timedelta(days=5), NOW])


def test_windows_a_dead_tick_sent_prompts_to_are_counted_by_the_next_tick(make_definition, course_key, settings):
    """Each group of messages is recorded sent as it goes; the batch's count comes after: a tick can die in between."""
    # pylint: disable=import-outside-toplevel,protected-access
    from activation_plugin.api import messaging
    from activation_plugin.models import PromptDelivery
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[STAFF_PROJECT])
    start = NOW - timedelta(days=10)
    users = UserFactory.create_batch(4)
    complete(definition, users, start, step=timedelta(hours=3))
    now = start + timedelta(days=2)
    claims = messaging._claim_due_messages(now, 10)
    # A group sent and recorded, then the tick dies before counting it, with the next group in flight.
    assert all(sent for _delivery, _message, sent in messaging._send_group(
        claims[:-1], now, {user.pk: "en" for user in users}))
    assert PromptDelivery.start_sending([claims[-1][0].pk], now) == {claims[-1][0].pk}
    assert prompted(definition) == 0
    assert ActivationWindow.objects.filter(tally_pending=True).count() == 4

    api.send_due_prompts(now=now + timedelta(minutes=5))
    assert prompted(definition) == 3
    in_flight = ActivationWindow.objects.get(tally_pending=True)
    assert in_flight.pk == claims[-1][0].window_id  # a live tick's, as far as anyone can tell: left to it
    assert_tallies_hold(definition, [now])

    api.send_due_prompts(now=now + timedelta(minutes=settings.ACTIVATION_TICK_CLAIM_LEASE_MINUTES + 1))
    assert prompted(definition) == 3  # in doubt, not recorded sent: not counted, as a rebuild would not
    assert not ActivationWindow.objects.filter(tally_pending=True).exists()
    assert_tallies_hold(definition, [now])


def test_the_windows_closing_today_are_read_on_the_smaller_side_of_now_and_the_rest_subtracted(
        make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[STAFF_PROJECT, METRIC], holdout_percent=30)
    users = UserFactory.create_batch(10)
    day_start = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=definition.window_days)
    windows = complete(definition, users, day_start + timedelta(minutes=30), step=timedelta(hours=2, minutes=20))
    records = []
    for number, window in enumerate(windows[:7]):
        records += handle_times(window.user, window.opened_at, 300 + number, 290 - 3 * number)
    api.ingest_observations(source("crm-today"), records, now=NOW)
    with committed():
        for number, window in enumerate(windows[:6]):
            submit(window, f"today-{number}")
    first, last = windows[0].closes_at, windows[-1].closes_at
    assert first.date() == last.date()
    # Before most of them closed (the ended side read), after (the running side), and at a tie.
    assert_tallies_hold(definition, [first + timedelta(minutes=1), last - timedelta(minutes=1),
                                     windows[4].closes_at + timedelta(hours=1)])


def test_an_online_recount_builds_and_repairs_by_chunks_as_the_locked_rebuild_does(
        make_definition, course_key, settings, monkeypatch):
    from activation_plugin.api import tallies as kept_tallies  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(kept_tallies, "REBUILD_BATCH", 3)  # several chunks
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[STAFF_PROJECT])
    windows = complete(definition, UserFactory.create_batch(8), NOW - timedelta(days=40))
    submit(windows[0], "online-0")
    rebuilt = (api.rebuild_tallies(definition), stored(definition))
    # Changed around the api (a restored backup, a hand-made fix): the windows say so, their tallies do not.
    ActivationWindow.objects.filter(pk__in=[windows[1].pk, windows[2].pk]).update(state="withdrawn")
    out = call_command_output("activation_rebuild_tallies", str(definition.pk), "--online")
    assert f"definition {definition.pk}: 8 windows counted" in out
    after = stored(definition)
    assert api.rebuild_tallies(definition) == 8 and stored(definition) == after != rebuilt[1]
    # A definition never built: counted by the tick by chunks, to what the locked rebuild finds.
    for model in TALLY_MODELS:
        model.objects.filter(definition=definition).delete()
    ActivationWindow.objects.filter(definition=definition).update(tallied=None)
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=None)
    assert api.build_missing_tallies() == 1
    assert stored(definition) == after


def test_many_definitions_read_at_once_are_each_as_read_alone(make_definition, settings):
    """``read_many`` (the portfolio's one read) gives each definition the cells and KPI sums ``read`` gives it."""
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definitions = []
    for number, offset in enumerate((timedelta(hours=9, minutes=30), timedelta(hours=20), timedelta(hours=3))):
        key = CourseKey.from_string(f"course-v1:ManyX+C{number}+2026")
        DemoCourse.objects.create(course_key=key, display_name=f"Many {number}")
        definition = make_definition(requirements=[STAFF_PROJECT, METRIC] if number != 1 else [STAFF_PROJECT],
                                     course_key=key)
        day_start = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=definition.window_days)
        windows = complete(definition, UserFactory.create_batch(5), day_start + offset, step=timedelta(hours=1))
        complete(definition, UserFactory.create_batch(3), NOW - timedelta(days=60))
        api.ingest_observations(source(f"crm-many-{number}"), [
            record for window in windows[:3] for record in handle_times(window.user, window.opened_at, 300, 280)],
            now=NOW)
        submit(windows[0], f"many-{number}")
        definitions.append(definition)
    ActivationDefinition.objects.filter(pk=definitions[2].pk).update(tallies_built_at=None)  # counted from windows
    ActivationWindow.objects.filter(definition=definitions[0]).update(tallied=None)  # never counted
    for definition in definitions:
        definition.refresh_from_db()

    def normal(tallied):
        return (sorted(repr(sorted(comparable(row).items())) for row in tallied.cells),
                sorted(repr(sorted(comparable(row).items())) for row in tallied.kpi))

    for moment in (NOW, NOW + timedelta(hours=10)):
        many = tallies.read_many(definitions, moment, tallies.metric_baselines_of(definitions))
        for definition in definitions:
            assert normal(many[definition.pk]) == normal(tallies.read(definition, moment)), definition.course_key
