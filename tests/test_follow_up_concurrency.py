"""
One running follow-up per learner and catalog course (issue 27, ADR 0012) when two paths race on
MariaDB: completions of two triggers released together, a live completion racing a backfill. Each
worker runs on its own connection; the platform's segment lookup, made between reading the learner's
windows and writing theirs, is slowed so that the race is lost every time unless the paths are
serialised on the learner's follow-up row. Runs in the MariaDB pass (`make test-mariadb`).
"""
import os
import time
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from activation_plugin import api, platform
from activation_plugin.models import ActivationDefinition, ActivationWindow, CourseFollowUp
from demo.models import DemoCompletionRecord
from tests.factories import UserFactory
from tests.test_concurrency import run_concurrently

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("DEMO_DB") != "mariadb", reason="needs MariaDB row locks (make test-mariadb)"),
]
LEARNERS = 4


@pytest.fixture
def slow_segments(monkeypatch):
    """Both paths look the learner's segment up after reading their windows: make that take a while."""
    segment_for, segments_for = platform.segment_for, platform.segments_for

    def slow(lookup):
        def looked_up(*args):
            time.sleep(0.3)
            return lookup(*args)
        return looked_up

    monkeypatch.setattr(platform, "segment_for", slow(segment_for))
    monkeypatch.setattr(platform, "segments_for", slow(segments_for))


@pytest.fixture
def two_triggers(make_definition):
    """Older data: a passing-grade and a certificate definition both active in the course."""
    passing = make_definition(window_days=30)
    certificate = make_definition(window_days=30, trigger="certificate", supersede=True)
    ActivationDefinition.objects.filter(pk=passing.pk).update(status=ActivationDefinition.Status.ACTIVE)
    passing.refresh_from_db()
    return passing, certificate


def race(*works):
    """Each of ``works`` in a thread of its own, on its own connection, all released at the same instant."""
    pending = iter(works)

    def work():
        return next(pending)()

    return run_concurrently(work, workers=len(works))


def windows_of(learner):
    return list(ActivationWindow.objects.filter(user=learner).order_by("pk").values())


def test_two_triggers_completing_at_the_same_instant_open_one_window(two_triggers, course_key, slow_segments):
    now = timezone.now()
    for learner in UserFactory.create_batch(LEARNERS):
        race(*(partial(api.record_completion, learner.pk, str(course_key), trigger, now)
               for trigger in ("passing", "certificate")))
        assert ActivationWindow.objects.filter(user=learner).count() == 1
        before = windows_of(learner)
        for trigger in ("passing", "certificate"):  # replays
            api.record_completion(learner.pk, str(course_key), trigger, now)
        assert windows_of(learner) == before
    assert CourseFollowUp.objects.count() == LEARNERS


def test_a_live_completion_racing_a_backfill_opens_one_window(two_triggers, course_key, slow_segments):
    passing, _certificate = two_triggers
    now = timezone.now()
    for learner in UserFactory.create_batch(LEARNERS):
        DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="passing",
                                            completed_at=now - timedelta(minutes=1))
        race(partial(api.backfill, passing),
             partial(api.record_completion, learner.pk, str(course_key), "certificate", now))
        assert ActivationWindow.objects.filter(user=learner).count() == 1
        before = windows_of(learner)
        assert api.backfill(passing)["opened"] == 0
        api.record_completion(learner.pk, str(course_key), "certificate", now)
        assert windows_of(learner) == before


def test_a_withdrawal_racing_the_backfill_of_a_new_version_leaves_nothing_running(
        make_definition, course_key, slow_segments):
    now = timezone.now()
    first = make_definition(window_days=30)
    learners = UserFactory.create_batch(LEARNERS)
    ended = {learner.pk: api.open_windows(learner.pk, course_key, "passing", now - timedelta(days=40))[0]
             for learner in learners}
    second = api.activate_definition(api.new_version(first))

    def withdraw(learner):
        time.sleep(0.1)  # once the backfill has read the learner's windows
        return api.withdraw_window(learner, course_key, ended[learner.pk].pk)

    for learner in learners:
        # They pass again after their first follow-up ended: the version's backfill reads it.
        DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="passing",
                                            completed_at=now - timedelta(minutes=1))
        race(partial(api.backfill, second), partial(withdraw, learner))
        assert not ActivationWindow.objects.filter(user=learner).exclude(state="withdrawn").exists()
    assert api.backfill(second)["opened"] == 0
