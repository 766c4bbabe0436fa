"""The tick: expiry in batches, as a command and as a Celery task."""
from datetime import timedelta

from django.core.management import call_command

from activation_plugin import api, tasks
from activation_plugin.models import ActivationWindow
from tests.conftest import NOW
from tests.factories import UserFactory


def open_many(course_key, n, opened_at):
    for user in UserFactory.create_batch(n):
        api.open_windows(user.pk, course_key, "passing", opened_at)


def test_expiry_in_batches_touches_only_due_open_windows(make_definition, course_key, settings):
    settings.ACTIVATION_TICK_BATCH_SIZE = 4
    definition = make_definition(window_days=30)
    open_many(course_key, 11, NOW - timedelta(days=31))
    open_many(course_key, 3, NOW - timedelta(days=10))
    activated = definition.windows.filter(opened_at__lt=NOW - timedelta(days=30)).first()
    api.record_evidence(window=activated, requirement=definition.requirements.get(), source="learner",
                        payload={"text": "done"}, idempotency_key="k", submitted_at=activated.opened_at)
    assert api.expire_due_windows(now=NOW) == 10
    assert api.expire_due_windows(now=NOW) == 0
    counts = {state: definition.windows.filter(state=state).count() for state in ("open", "expired", "activated")}
    assert counts == {"open": 3, "expired": 10, "activated": 1}
    assert not ActivationWindow.objects.filter(state="expired", next_action_at__isnull=False).exists()


def test_management_command_and_celery_task_run_the_tick(make_definition, course_key):
    make_definition(window_days=1)
    open_many(course_key, 2, NOW - timedelta(days=400))
    call_command("activation_tick")
    assert ActivationWindow.objects.filter(state="expired").count() == 2
    assert tasks.tick.delay().get() == {"completions_retried": 0, "completions_pending": 0,
                                        "sent": 0, "failed": 0, "reclaimed": 0, "ambiguous": 0, "expired": 0,
                                        "invitations_retried": 0,
                                        "tallies_counted": 0, "tallies_built": 0}
