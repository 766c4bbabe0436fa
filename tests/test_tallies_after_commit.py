"""
Issue 29 (point 3) and issue 30: a change to a window's evidence, made in a learner's or a
reviewer's request, stores the window's own rows and marks it ``tally_stale``; the shared running
totals move in a short transaction after the request commits, and the tick moves those whose move
failed. The figures are then what a rebuild counts. The same on MariaDB, with a real held row:
tests/test_concurrency.py.
"""
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.api import tallies as api_tallies
from activation_plugin.figures import tallies
from activation_plugin.models import ActivationWindow, Evidence, WindowTally
from tests.conftest import committed
from tests.factories import UserFactory

STAFF_PROJECT = {"kind": "project", "title": "Applied project", "config": {"instructions": "Show your work."},
                 "verification": "staff"}


def cells(definition):
    return list(WindowTally.objects.filter(definition=definition).order_by("cell", "closes_on")
                .values(*tallies.CELL_COUNTERS))


def assert_equal_to_a_rebuild(definition):
    kept = cells(definition)
    api.rebuild_tallies(definition)
    assert cells(definition) == kept


@pytest.fixture
def opened(make_definition, course_key, settings):
    """A self-verified project (an answer activates) and two learners' windows in one cell."""
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition()
    learner, other = UserFactory.create_batch(2)
    started = timezone.now() - timedelta(days=1)
    [window] = api.open_windows(learner.pk, course_key, "passing", started)
    api.open_windows(other.pk, course_key, "passing", started)
    return definition, window


def test_the_running_totals_move_after_the_learners_transaction_commits_not_inside_it(opened):
    definition, window = opened
    with committed():  # the learner's request
        api.save_learner_response(window=window, requirement=definition.requirements.get(),
                                  payload={"text": "I did it.", "url": ""}, idempotency_key="k")
        assert ActivationWindow.objects.get(pk=window.pk).tally_stale
        assert WindowTally.objects.get(definition=definition).activated == 0  # not touched before the commit
    assert not ActivationWindow.objects.get(pk=window.pk).tally_stale
    assert (WindowTally.objects.get(definition=definition).activated,
            api.analytics(definition)["summary"]["open_activated"]) == (1, 1)
    assert_equal_to_a_rebuild(definition)


def test_a_move_that_fails_after_the_commit_leaves_the_mark_and_the_tick_moves_it_once(
        opened, course_key, monkeypatch):
    """
    The learner is answered "saved" whatever happens to the move (here a lock wait timeout on the
    running total); the figures read meanwhile miss the answer and never count it twice; the tick
    moves it, and a replay of the answer and a second tick move nothing.
    """
    definition, window = opened
    assert api.analytics(definition)["summary"]["open_activated"] == 0  # cached before the answer
    moved = api_tallies._count_marked  # pylint: disable=protected-access

    def held(*args, **kwargs):
        raise OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction")

    monkeypatch.setattr(api_tallies, "_count_marked", held)
    client = Client()
    client.force_login(window.user)
    submit = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": definition.requirements.get().pk})
    answer = {"submission_key": "k", "text": "I did it.", "url": ""}
    assert "your answer was saved" in client.post(submit, answer, follow=True).content.decode()
    assert ActivationWindow.objects.get(pk=window.pk).state == "activated"
    assert ActivationWindow.objects.get(pk=window.pk).tally_stale
    assert WindowTally.objects.get(definition=definition).activated == 0
    assert api.analytics(definition)["summary"]["open_activated"] == 0  # the lag, until the move

    monkeypatch.setattr(api_tallies, "_count_marked", moved)
    assert api.tick()["tallies_counted"] == 1
    assert not ActivationWindow.objects.filter(tally_stale=True).exists()
    assert api.analytics(definition)["summary"]["open_activated"] == 1  # the tick's move refreshed the cache
    assert "your answer was saved" in client.post(submit, answer, follow=True).content.decode()  # a replay
    assert api.tick()["tallies_counted"] == 0
    assert (Evidence.objects.count(), WindowTally.objects.get(definition=definition).activated) == (1, 1)
    assert_equal_to_a_rebuild(definition)


def test_a_reviews_verdict_moves_the_running_totals_after_its_commit(
        make_definition, course_key, course_staff, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1
    definition = make_definition(requirements=[STAFF_PROJECT])
    [window] = api.open_windows(UserFactory().pk, course_key, "passing", timezone.now() - timedelta(days=1))
    with committed():
        evidence = api.record_evidence(window=window, requirement=definition.requirements.get(), source="learner",
                                       payload={"text": "t"}, idempotency_key="e")
    assert WindowTally.objects.get(definition=definition).awaiting_review == 1
    with committed():  # the reviewer's request
        api.staff_review(evidence, course_staff, verdict="verified")
        assert WindowTally.objects.get(definition=definition).activated == 0
    tally = WindowTally.objects.get(definition=definition)
    assert (tally.activated, tally.awaiting_review, tally.strength_staff) == (1, 0, 1)
    assert not ActivationWindow.objects.filter(tally_stale=True).exists()
    assert_equal_to_a_rebuild(definition)


def test_a_move_is_tried_again_only_while_the_learner_has_waited_a_fraction_of_a_second(opened, monkeypatch):
    """
    MariaDB gives up on a held row at once and the move is tried again after short pauses; MySQL's
    shortest lock wait is a second, after which it is not tried again: the learner is not kept waiting.
    """
    definition, window = opened
    tries = []

    def held(pause):
        def fail(*args, **kwargs):
            tries.append(pause)
            time.sleep(pause)
            raise OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction")
        return fail

    for pause in (0, api_tallies.MOVE_RETRY_BUDGET + 0.1):
        monkeypatch.setattr(api_tallies, "_count_marked", held(pause))
        with committed():  # a change to the window's evidence in a learner's request
            api_tallies.count_after_commit(definition, [window.pk])
    assert tries == [0] * (len(api_tallies.MOVE_RETRY_PAUSES) + 1) + [api_tallies.MOVE_RETRY_BUDGET + 0.1]
    assert ActivationWindow.objects.get(pk=window.pk).tally_stale
