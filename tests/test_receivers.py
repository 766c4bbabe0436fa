"""Completion events sent through the real openedx-events signals, connected by plugin discovery."""
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import CcxCourseData, CcxCoursePassingStatusData
from openedx_events.learning.signals import CCX_COURSE_PASSING_STATUS_UPDATED

from activation_plugin import api, toggles
from activation_plugin.models import ActivationWindow, PendingCompletion
from demo.platform import DemoBackend
from tests.conftest import NOW, committed, failures, send_certificate, send_passing, user_data
from tests.factories import UserFactory


def test_passing_event_opens_a_window_at_the_event_time(make_definition, learner, course_key):
    definition = make_definition(window_days=45)
    assert failures(send_passing(learner.id, course_key)) == []
    window = ActivationWindow.objects.get()
    assert (window.definition, window.user, window.opened_at) == (definition, learner, NOW)
    assert window.closes_at == NOW + timedelta(days=45)


def test_failing_grade_opens_nothing(make_definition, learner, course_key):
    make_definition()
    send_passing(learner.id, course_key, is_passing=False)
    assert not ActivationWindow.objects.exists()


def test_replay_fail_then_pass_and_second_run_keep_one_window(make_definition, learner, course_key, other_run):
    make_definition()
    send_passing(learner.id, course_key)
    send_passing(learner.id, course_key)
    send_passing(learner.id, course_key, is_passing=False, time=NOW + timedelta(days=1))
    send_passing(learner.id, course_key, time=NOW + timedelta(days=2))
    send_passing(learner.id, other_run, time=NOW + timedelta(days=100))
    window = ActivationWindow.objects.get()
    assert (window.opened_at, window.course_run) == (NOW, course_key)


def test_each_definition_follows_its_own_trigger(make_definition, learner, course_key):
    certificate = make_definition(name="on certificate", trigger="certificate")
    send_passing(learner.id, course_key)
    assert not ActivationWindow.objects.exists()
    send_certificate(learner.id, course_key, time=NOW + timedelta(hours=1))
    assert ActivationWindow.objects.get(definition_id=certificate.id).opened_at == NOW + timedelta(hours=1)


def test_a_completion_while_a_window_runs_opens_no_second_follow_up(make_definition, learner, course_key):
    """One follow-up per course: a certificate definition superseding a passing one waits for its window's end."""
    passing = make_definition(name="on passing")
    send_passing(learner.id, course_key)
    certificate = api.activate_definition(make_definition(name="on certificate", trigger="certificate",
                                                          activate=False), supersede=True)
    send_certificate(learner.id, course_key, time=NOW + timedelta(hours=1))
    assert list(ActivationWindow.objects.values_list("definition", flat=True)) == [passing.pk]
    send_certificate(learner.id, "course-v1:TestX+APPLY+2027", time=NOW + timedelta(days=31))  # after its end
    assert ActivationWindow.objects.get(definition_id=certificate.id).opened_at == NOW + timedelta(days=31)


def test_draft_and_archived_definitions_open_nothing(make_definition, learner, course_key):
    make_definition(activate=False)
    api.archive_definition(make_definition(name="old"))
    send_passing(learner.id, course_key)
    send_certificate(learner.id, course_key)
    assert not ActivationWindow.objects.exists()


def test_unknown_user_is_logged_and_dropped(make_definition, course_key, caplog):
    make_definition()
    with caplog.at_level(logging.WARNING, logger="activation_plugin.receivers"):
        responses = send_passing(424242, course_key)
    assert failures(responses) == []
    assert "User 424242 does not exist" in caplog.text
    assert not ActivationWindow.objects.exists()


def test_malformed_course_key_is_logged_not_raised(make_definition, learner, caplog):
    make_definition()
    with caplog.at_level(logging.WARNING, logger="activation_plugin.receivers"):
        responses = send_passing(learner.id, "not-a-course-key")
    assert failures(responses) == [] and "not a valid course key" in caplog.text


def test_receiver_cost_does_not_depend_on_course_size(make_definition, course_key, django_assert_num_queries):
    make_definition()
    first, *others = UserFactory.create_batch(26)
    send_passing(first.id, "course-v1:TestX+ELSEWHERE+2026")  # whatever a first event reads once per process
    with CaptureQueriesContext(connection) as captured:
        send_passing(first.id, course_key)
    for user in others:
        send_passing(user.id, course_key)
    newcomer = UserFactory()
    # The first completer of a course (its tally rows created) costs what the 27th does (them updated).
    assert len(captured) == 21
    # Does the course have an active definition (1); store the completion (3, in a savepoint); open
    # its windows and drop the stored row in one savepoint (2 + open_windows' 14 + 1 delete + 1).
    with django_assert_num_queries(21):
        send_passing(newcomer.id, course_key)


@pytest.mark.parametrize("send", [send_passing, send_certificate])
def test_events_for_courses_without_definitions_cost_one_query(send, learner, course_key,
                                                               django_assert_num_queries):
    toggles.receivers_paused()  # the kill switch, read once: django-waffle serves it from the cache after that
    with django_assert_num_queries(1):
        send(learner.id, course_key)


# Never lose a completion: the receiver stores it first, and whatever fails after that is retried.

REDIS_DOWN = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens there


class CohortSettingsUnreadable(DemoBackend):
    """The LMS's cohort lookup raising as it does for a course whose cohort settings it cannot read."""

    def segment_for(self, user, course_key):
        raise Http404("No CourseCohortsSettings matches the given query.")


def test_a_segment_lookup_that_raises_still_opens_the_window(make_definition, learner, course_key, settings,
                                                             caplog):
    settings.ACTIVATION_PLATFORM_BACKEND = "tests.test_receivers.CohortSettingsUnreadable"
    definition = make_definition()
    with caplog.at_level(logging.WARNING):
        assert failures(send_passing(learner.id, course_key)) == []
    window = ActivationWindow.objects.get()
    assert (window.definition, window.opened_at, window.cohort, window.org) == (definition, NOW, "", "TestX")
    assert "could not answer the segment" in caplog.text and "No CourseCohortsSettings" in caplog.text
    assert not PendingCompletion.objects.exists()


def test_a_failure_after_the_completion_is_stored_leaves_a_row_the_tick_turns_into_the_window(
        make_definition, learner, course_key, settings, caplog):
    """The cache (Redis here) is down mid-event: the window's insert rolls back, the completion stays."""
    definition = make_definition()
    cache_up, settings.CACHES = settings.CACHES, REDIS_DOWN
    with caplog.at_level(logging.WARNING):
        assert failures(send_passing(learner.id, course_key)) == []
    assert not ActivationWindow.objects.exists()
    pending = PendingCompletion.objects.get()
    assert (pending.user_id, pending.course_run, pending.trigger, pending.occurred_at) == (
        learner.id, course_key, "passing", NOW)
    assert pending.attempts == 1 and "Connection" in pending.last_error
    assert "kept for a retry" in caplog.text

    assert failures(send_passing(learner.id, course_key)) == []  # a replay while it waits: still one row
    assert PendingCompletion.objects.count() == 1

    settings.CACHES = cache_up  # the cache is back
    assert api.tick(now=pending.received_at + timedelta(minutes=1))["completions_retried"] == 0  # not due yet
    result = api.tick(now=timezone.now() + timedelta(days=1))
    assert (result["completions_retried"], result["completions_pending"]) == (1, 0)
    window = ActivationWindow.objects.get()
    assert (window.definition, window.user, window.opened_at) == (definition, learner, NOW)  # the original time
    assert not PendingCompletion.objects.exists()
    api.tick(now=timezone.now() + timedelta(days=2))
    assert ActivationWindow.objects.count() == 1


def test_retries_back_off_and_never_give_up(make_definition, learner, course_key, settings):
    make_definition()
    settings.CACHES = REDIS_DOWN
    send_passing(learner.id, course_key)
    waits = []
    for _ in range(8):
        pending = PendingCompletion.objects.get()
        api.retry_pending_completions(now=pending.next_attempt_at)
        after = PendingCompletion.objects.get()
        waits.append(after.next_attempt_at - pending.next_attempt_at)
    assert waits[:3] == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert waits[-1] == timedelta(hours=6) and PendingCompletion.objects.get().attempts == 9


def test_retirement_erases_a_waiting_completion(make_definition, learner, course_key, settings):
    make_definition()
    cache_up, settings.CACHES = settings.CACHES, REDIS_DOWN
    send_passing(learner.id, course_key)
    settings.CACHES = cache_up
    assert api.retire_user(learner.id)["pending_completions"] == 1
    assert not PendingCompletion.objects.exists()


def test_a_pass_in_a_ccx_opens_a_window_of_the_master_course_s_definition(make_definition, learner, course_key):
    """The LMS sends CCX_COURSE_PASSING_STATUS_UPDATED, not the other signal, for a pass in a CCX."""
    definition = make_definition()
    ccx = CourseKey.from_string(f"ccx-v1:{course_key.org}+{course_key.course}+{course_key.run}+ccx@3")
    with committed():
        responses = CCX_COURSE_PASSING_STATUS_UPDATED.send_event(
            time=NOW, course_passing_status=CcxCoursePassingStatusData(
                is_passing=True, user=user_data(learner.id),
                course=CcxCourseData(ccx_course_key=ccx, master_course_key=course_key, display_name="Night cohort")))
    assert failures(responses) == []
    window = ActivationWindow.objects.get()
    assert (window.definition, window.course_run, window.opened_at) == (definition, ccx, NOW)
