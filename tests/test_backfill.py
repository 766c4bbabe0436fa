"""activation_backfill: windows for completers the events missed, from the platform's own records."""
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import ActivationDefinition, ActivationWindow
from demo.models import DemoCompletionRecord, DemoEnrollment
from tests.conftest import PROJECT, failures, send_passing
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def record(user, course_key, completed_at, trigger="passing"):
    """What the LMS stores when a learner passes (or is certified), before any event is sent."""
    return DemoCompletionRecord.objects.create(user=user, course_key=course_key, trigger=trigger,
                                               completed_at=completed_at)


@pytest.fixture
def past_completers(course_key, other_run):
    """Completers of two runs: 12 recent enough to backfill, 3 whose window ended before activation."""
    now = timezone.now()
    recent = UserFactory.create_batch(12)
    for number, user in enumerate(recent):
        run = course_key if number % 2 else other_run
        record(user, run, now - timedelta(days=number + 1))
        DemoEnrollment.objects.create(user=user, course_key=run, mode="verified", cohort=f"cohort {number % 3}")
    old = UserFactory.create_batch(3)
    for user in old:
        record(user, course_key, now - timedelta(days=200))
    return recent, old


def test_backfill_opens_each_missed_window_once_at_its_original_time(make_definition, past_completers, course_key):
    recent, _old = past_completers
    definition = make_definition(window_days=45)
    progress = []
    counts = api.backfill(definition, batch_size=5, progress=progress.append)
    assert counts == {"completions": 12, "opened": 12}
    assert [step["completions"] for step in progress] == [5, 10, 12]
    windows = {window.user_id: window for window in ActivationWindow.objects.filter(definition=definition)}
    assert set(windows) == {user.pk for user in recent}  # the three older completers are left out
    for user in recent:
        completion = DemoCompletionRecord.objects.get(user=user)
        window = windows[user.pk]
        assert (window.opened_at, window.course_run, window.trigger) == (completion.completed_at, completion.course_key,
                                                                         "passing")
        assert window.closes_at == completion.completed_at + timedelta(days=45)
        enrollment = DemoEnrollment.objects.get(user=user)
        assert (window.enrollment_mode, window.cohort) == ("verified", enrollment.cohort)
    assert api.backfill(definition, batch_size=5) == {"completions": 12, "opened": 0}  # safe to run again
    assert ActivationWindow.objects.filter(definition=definition).count() == 12
    definition.refresh_from_db()
    assert definition.backfilled_at is not None


def test_a_learner_whose_event_arrived_keeps_that_window(make_definition, past_completers, course_key):
    recent, _old = past_completers
    definition = make_definition()
    event_time = timezone.now() - timedelta(hours=1)
    assert failures(send_passing(recent[1].pk, course_key, time=event_time)) == []
    assert api.backfill(definition)["opened"] == 11
    assert ActivationWindow.objects.get(definition=definition, user=recent[1]).opened_at == event_time


def test_a_completion_whose_event_was_lost_is_recovered(make_definition, course_key, learner):
    """The LMS stored the pass but the event never reached the plugin (an outage before the receiver)."""
    definition = make_definition()
    completed_at = timezone.now() - timedelta(days=2)
    record(learner, course_key, completed_at)
    assert not ActivationWindow.objects.exists()
    call_command("activation_backfill", "--course", str(course_key))
    assert ActivationWindow.objects.get(definition=definition, user=learner).opened_at == completed_at


def test_each_definition_reads_its_own_trigger_and_catalog_course(make_definition, course_key, learner):
    certificate = make_definition(trigger="certificate", name="certified")
    record(learner, course_key, timezone.now() - timedelta(days=3), trigger="certificate")
    elsewhere = UserFactory()
    record(elsewhere, "course-v1:TestX+OTHER+2026", timezone.now() - timedelta(days=3))
    assert api.backfill(certificate) == {"completions": 1, "opened": 1}
    passing = api.activate_definition(make_definition(name="passed", activate=False), supersede=True)
    assert api.backfill(passing) == {"completions": 0, "opened": 0}


def test_a_batch_costs_the_same_queries_whatever_its_size(make_definition, course_key):
    definition = make_definition()
    now = timezone.now()
    for user in UserFactory.create_batch(60):
        record(user, course_key, now - timedelta(days=1))

    def queries(batch_size):
        ActivationWindow.objects.all().delete()
        fresh = ActivationDefinition.objects.get(pk=definition.pk)  # as each run of the command reads it
        with CaptureQueriesContext(connection) as captured:
            api.backfill(fresh, batch_size=batch_size)
        return len(captured)

    # One more batch costs: records, the learners' windows in every definition of the course (their
    # follow-ups), users, their follow-up rows written and held, their windows again, segments (in a
    # savepoint: 3), insert, select, the tallies' three upserts (cells, the cells' totals, censoring) and the windows'
    # contributions. Compared on batches of 30 or fewer: the first batch also reads the requirements
    # once, and one of all 60 windows costs SQLite one statement more.
    assert queries(20) - queries(30) == 14
    assert queries(15) - queries(20) == 14


def test_only_active_definitions_are_backfilled(make_definition):
    draft = make_definition(activate=False)
    with pytest.raises(ActivationRequestError, match="active"):
        api.backfill(draft)
    with pytest.raises(CommandError, match="No active definition"):
        call_command("activation_backfill", "--definition", str(draft.pk))


def test_the_command_reports_progress_per_batch(make_definition, past_completers, capsys):
    definition = make_definition()
    call_command("activation_backfill", "--all", "--batch-size", "5")
    output = capsys.readouterr().out
    assert f"definition {definition.pk}" in output
    assert "5 completions read" in output and "done: 12 completions read, 12 windows opened" in output
    call_command("activation_backfill", "--definition", str(definition.pk))
    assert "done: 12 completions read, 0 windows opened" in capsys.readouterr().out


def test_activating_offers_the_backfill_and_one_click_opens_the_windows(client, course_staff, course_key,
                                                                        past_completers, make_definition):
    definition = make_definition(activate=False, requirements=[PROJECT])
    client.force_login(course_staff)
    status_url = reverse("activation_plugin:definition_status",
                         kwargs={"course_id": str(course_key), "definition_id": definition.pk})
    page = client.post(status_url, {"action": "activate"}, follow=True).content.decode()
    assert "have no window yet" in page and 'data-offer="backfill"' in page
    assert not ActivationWindow.objects.exists()  # nothing happens without the instructor's say

    page = client.post(status_url, {"action": "backfill"}, follow=True).content.decode()  # eager celery here
    assert "Opening windows for past completers" in page
    assert ActivationWindow.objects.filter(definition=definition).count() == 12
    assert 'data-offer="backfill"' not in page


def test_no_offer_where_nobody_completed_before(client, course_staff, course_key, make_definition):
    definition = make_definition(activate=False)
    client.force_login(course_staff)
    status_url = reverse("activation_plugin:definition_status",
                         kwargs={"course_id": str(course_key), "definition_id": definition.pk})
    page = client.post(status_url, {"action": "activate"}, follow=True).content.decode()
    assert 'data-offer="backfill"' not in page
    assert ActivationDefinition.objects.get(pk=definition.pk).backfilled_at is not None
