"""
The ``edx.activation.*`` tracking events, read back from event-tracking's logger backend as the
demo host configures it (demo/settings.py), checked against the schemas in docs/references/events.rst.
"""
import logging
import math
import re
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from eventtracking import tracker

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, ActivationWindow, Review
from demo.management.commands.seed_demo import RUNS
from tests.conftest import DOCS, NOW, PROJECT, SURVEY, replay_into_sqlite
from tests.factories import UserFactory

PROMPTED_SURVEY = {**SURVEY, "prompts": [{"send_after_days": 0, "subject": "Hi", "body": "Tell us: {link}"}]}
STAFF_PROJECT = {**PROJECT, "verification": "staff"}


def documented_fields():
    """``{event name: set of field names}`` from the tables of docs/references/events.rst."""
    text = (DOCS / "events.rst").read_text(encoding="utf-8")
    sections = re.split(r"^(``edx\.activation\.[a-z.]+``|Fields of every event)\n[-]+\n", text, flags=re.M)
    fields = {title.strip("`"): set(re.findall(r"^   \* - ``(\w+)``", body, re.M))
              for title, body in zip(sections[1::2], sections[2::2])}
    common = fields.pop("Fields of every event")
    return {name: names | common for name, names in fields.items()}


def names(found):
    return sorted(event["name"] for event in found)


@pytest.mark.django_db(transaction=True)
def test_each_event_is_emitted_once_with_its_documented_fields_and_never_on_replay(
        make_definition, course_key, learner, staff_user, events, mailoutbox):
    definition = make_definition(requirements=[STAFF_PROJECT, PROMPTED_SURVEY], window_days=30)
    project, _survey = definition.requirements.all()
    late = UserFactory()
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    api.open_windows(late.pk, course_key, "passing", NOW - timedelta(days=40))
    api.open_windows(learner.pk, course_key, "passing", NOW)  # replayed completion
    api.tick(now=NOW + timedelta(hours=1))  # the survey prompt, and the late learner's expiry
    submit = {"window": window, "requirement": project, "source": "learner", "payload": {"text": "Used it."},
              "idempotency_key": "project-1", "submitted_at": NOW + timedelta(days=2)}
    evidence = api.record_evidence(**submit)
    api.record_evidence(**submit)  # replayed submission
    api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=staff_user)
    api.review_evidence(evidence, verdict="verified", role=Review.Role.STAFF, reviewer=UserFactory(is_staff=True))
    api.tick(now=NOW + timedelta(hours=2))  # nothing new is due

    found = events()
    assert names(found) == sorted([
        "edx.activation.window.opened", "edx.activation.window.opened", "edx.activation.prompt.sent",
        "edx.activation.window.expired", "edx.activation.evidence.submitted",
        "edx.activation.evidence.verified", "edx.activation.window.activated",
    ])
    schema = documented_fields()
    assert set(schema) == {event["name"] for event in found} | {"edx.activation.window.reopened",
                                                                "edx.activation.window.withdrawn",
                                                                "edx.activation.observations.matched"}
    for event in found:
        assert set(event["data"]) == schema[event["name"]], event["name"]
        assert event["data"]["user_id"] in (learner.pk, late.pk)
        assert not {"username", "email"} & set(event["data"])
    by_name = {event["name"]: event["data"] for event in found}
    assert by_name["edx.activation.window.activated"] == {
        "course_id": str(course_key), "catalog_course": "TestX+APPLY", "definition_id": definition.pk,
        "window_id": window.pk, "user_id": learner.pk, "arm": "prompted",
        "opened_at": "2026-06-01T12:00:00.000000+00:00", "closes_at": "2026-07-01T12:00:00.000000+00:00",
        "activated_at": "2026-06-03T12:00:00.000000+00:00", "days_to_activation": 2,
    }
    assert by_name["edx.activation.evidence.verified"]["strength"] == "staff"
    assert by_name["edx.activation.prompt.sent"]["prompt_kind"] == "prompt"
    assert by_name["edx.activation.prompt.sent"]["evidence_kind"] == "survey"
    assert by_name["edx.activation.window.expired"]["reason"] == "closed"
    assert len(mailoutbox) == 1  # the late learner's window had closed: expired, never prompted


@pytest.mark.parametrize("days_ago, last_event, reason", [
    (1, "edx.activation.window.reopened", None),
    (40, "edx.activation.window.expired", "activation_withdrawn"),
])
@pytest.mark.django_db(transaction=True)
def test_rejecting_the_evidence_an_activation_relied_on_reopens_or_expires_the_window(
        make_definition, course_key, learner, staff_user, events, days_ago, last_event, reason):
    definition = make_definition(requirements=[{**PROJECT, "verification": "peer", "reviews_required": 1}])
    opened_at = timezone.now() - timedelta(days=days_ago)
    [window] = api.open_windows(learner.pk, course_key, "passing", opened_at)
    evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                   payload={"text": "Used it."}, idempotency_key="p", submitted_at=opened_at)
    api.review_evidence(evidence, verdict="verified", role=Review.Role.PEER, reviewer=UserFactory())
    api.review_evidence(evidence, verdict="rejected", role=Review.Role.STAFF, reviewer=staff_user)
    assert [event["name"] for event in events()] == [
        "edx.activation.window.opened", "edx.activation.evidence.submitted", "edx.activation.evidence.verified",
        "edx.activation.window.activated", last_event,
    ]
    data = events(last_event)[0]["data"]
    assert set(data) == documented_fields()[last_event] and data.get("reason") == reason


@pytest.mark.django_db(transaction=True)
def test_nothing_is_emitted_when_the_transaction_rolls_back(make_definition, course_key, learner, events):
    definition = make_definition(requirements=[SURVEY])
    with pytest.raises(RuntimeError), transaction.atomic():
        [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
        api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                            payload={"answers": {"used": "yes"}}, idempotency_key="s", submitted_at=NOW)
        raise RuntimeError("the caller's transaction fails after the api calls")
    assert not ActivationWindow.objects.exists()
    assert events() == []


@pytest.mark.django_db(transaction=True)
def test_a_broken_tracker_is_logged_and_never_fails_the_caller(make_definition, course_key, learner, events,
                                                               monkeypatch, caplog):
    make_definition()
    monkeypatch.setattr(tracker, "TRACKERS", {})  # no tracker registered: emit raises KeyError
    with caplog.at_level(logging.ERROR, logger="activation_plugin.tracking"):
        [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    assert ActivationWindow.objects.get() == window
    assert "edx.activation.window.opened for window" in caplog.text and "was not emitted" in caplog.text
    assert events() == []


# Queries of a prompt batch before tracking existed (16, with the learners' languages read in a
# savepoint: a platform that cannot answer falls back to the default language). One more for the
# batch: the learners' windows in their courses, which say who is held out, withdrew or has a twin
# window (api.follow_ups). Four more for claims a dead tick left: those to take back (a savepoint
# around one select) and those in doubt (a count). Since issue 34 the windows the batch made
# prompted are counted once for the batch (a savepoint around the windows locked, the tallies' and
# the cells' totals' upserts and what the windows now add: six), the claim marks the windows whose
# first prompt it claims (one), and one query looks for windows a dead tick sent to and did not
# count. Per group of messages (ACTIVATION_TICK_SEND_GROUP) two: its start (queued → sending),
# committed before it goes out, and its messages recorded sent.
PROMPT_TICK_BASE = 31
GROUP_QUERIES = 2
EXPIRY_QUERIES = 7  # expiring due windows before tracking existed, whatever their number


@pytest.mark.parametrize("learners", [5, 20])
def test_bulk_paths_emit_without_adding_queries(make_definition, course_key, learners, events, mailoutbox, settings,
                                                django_assert_num_queries, django_capture_on_commit_callbacks):
    settings.ACTIVATION_TICK_SEND_GROUP = 3
    make_definition(requirements=[PROMPTED_SURVEY], window_days=30)
    for user in UserFactory.create_batch(learners):
        api.open_windows(user.pk, course_key, "passing", NOW)
    api.send_due_prompts(now=NOW - timedelta(hours=1))  # nothing due: fills the process's caches
    with django_assert_num_queries(PROMPT_TICK_BASE + GROUP_QUERIES * math.ceil(learners / 3)), \
            django_capture_on_commit_callbacks(execute=True):
        api.send_due_prompts(now=NOW + timedelta(hours=1))
    with django_assert_num_queries(EXPIRY_QUERIES), django_capture_on_commit_callbacks(execute=True):
        api.expire_due_windows(now=NOW + timedelta(days=31))
    assert len(events("edx.activation.prompt.sent")) == len(events("edx.activation.window.expired")) == learners


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_documented_warehouse_query_over_the_seeded_events_gives_the_tab_s_numbers(events, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with open("/dev/null", "w", encoding="utf-8") as quiet:
        call_command("seed_demo", stdout=quiet)
    [definition] = ActivationDefinition.objects.all()
    # A staff reversal after activation, so the query must follow the latest state change.
    activated = definition.windows.filter(state="activated").order_by("pk")[0]
    evidence = activated.evidence.get(status="verified")
    api.review_evidence(evidence, verdict="rejected", role=Review.Role.STAFF, reviewer=UserFactory(is_staff=True))
    # And a learner who withdraws: gone from every figure, so from the warehouse's too.
    leaving = definition.windows.filter(state="activated").order_by("-pk")[0]
    api.withdraw_window(leaving.user, leaving.course_run, leaving.pk)
    found = events()
    assert [event["name"] for event in found if event["data"]["window_id"] == leaving.pk][-1] == \
        "edx.activation.window.withdrawn"
    assert [event["name"] for event in found if event["data"]["window_id"] == activated.pk][-2:] == [
        "edx.activation.window.activated",
        "edx.activation.window.reopened" if activated.closes_at > timezone.now() else "edx.activation.window.expired",
    ]

    as_of = datetime.now(tz=NOW.tzinfo)
    rows = replay_into_sqlite(found).execute(
        (DOCS / "activation_rate.sql").read_text(encoding="utf-8"),
        {"as_of": as_of.isoformat(timespec="microseconds")},
    ).fetchall()
    assert [row[2] for row in rows] == [run for run, *_ in RUNS]
    totals = [sum(row[column] for row in rows) for column in (3, 4, 5)]
    # The tab as the demo's instructor, staff of every run, reads it: live, nothing held for others' runs.
    summary = api.summarize(definition, now=as_of, visible_runs={str(run) for run, *_ in RUNS})
    assert {row[:2] for row in rows} == {(definition.catalog_course, definition.pk)}
    assert totals == [summary["completers"], summary["activated"], summary["eligible"]]
    assert summary["completers"] > 150 and 0 < summary["activated"] < summary["eligible"]
    for _catalog, _definition, run, completers, activated, eligible in rows:  # each run, from the LMS tables
        windows = definition.windows.filter(course_run=run).exclude(state="withdrawn")
        ended = windows.filter(closes_at__lte=as_of)
        assert (completers, activated, eligible) == (
            windows.count(), ended.filter(state="activated").count(), ended.count())
