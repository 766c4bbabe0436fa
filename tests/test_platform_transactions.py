"""
Inside the platform's transactions (issue 30). The LMS runs every request in one transaction
(``ATOMIC_REQUESTS``) and sends completion events from inside its own writes; a savepoint is not a
commit. The plugin's mail leaves, and its shared running totals move, only once the outermost
transaction commits; if that transaction rolls back, neither happens. The certificate write that
fails to commit on MariaDB is in tests/test_faults.py.
"""
import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from activation_plugin import api
from activation_plugin.errors import ActivationInternalError, ActivationRequestError
from activation_plugin.models import ActivationWindow, PendingCompletion, SupervisorInvite, WindowTally
from activation_plugin.rest_api.v1.base import handle_exception
from demo.models import DemoCompletionRecord
from tests.conftest import OBSERVATION, certificate_created, committed


class PlatformRollback(Exception):
    """The platform's own write failing after the event was sent."""


@pytest.fixture
def window(make_definition, learner, course_key):
    make_definition(requirements=[OBSERVATION])
    with committed():
        [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    return window


def test_a_supervisor_is_mailed_only_when_the_outermost_transaction_commits(window):
    requirement = window.definition.requirements.get()
    with committed():
        with transaction.atomic():  # the LMS's request transaction
            invite = api.invite_supervisor(window, requirement, "boss@example.com")
            assert mail.outbox == [] and invite.mail_status == "sending"
        assert mail.outbox == []  # the api's own block was a savepoint, not a commit
    assert len(mail.outbox) == 1
    assert SupervisorInvite.objects.get().mail_status == "sent"


@pytest.mark.parametrize("call", ["invite", "resend"])
def test_a_request_that_rolls_back_mails_nobody(window, call):
    requirement = window.definition.requirements.get()
    first = None
    if call == "resend":
        with committed():
            first = api.invite_supervisor(window, requirement, "boss@example.com")
        mail.outbox.clear()
    with committed(), pytest.raises(PlatformRollback):
        with transaction.atomic():
            if call == "invite":
                api.invite_supervisor(window, requirement, "boss@example.com")
            else:
                api.resend_invite(first)
            raise PlatformRollback
    assert mail.outbox == []
    assert SupervisorInvite.objects.count() == (0 if call == "invite" else 1)


def test_a_certificate_saved_inside_the_platforms_transaction_moves_no_shared_row_before_its_commit(
        make_definition, learner, course_key):
    """The completion is stored with the platform's write; windows and running totals follow its commit."""
    make_definition(trigger="certificate")
    with committed():
        with transaction.atomic():  # GeneratedCertificate.save()
            DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="certificate",
                                                completed_at=timezone.now())
            certificate_created(learner.pk, course_key, timezone.now())
            assert PendingCompletion.objects.count() == 1
            assert not ActivationWindow.objects.exists() and not WindowTally.objects.exists()
    assert ActivationWindow.objects.get().user == learner
    assert WindowTally.objects.exists() and not PendingCompletion.objects.exists()


def test_a_certificate_write_that_rolls_back_leaves_no_completion_and_no_window(make_definition, learner,
                                                                                course_key):
    make_definition(trigger="certificate")
    with committed(), pytest.raises(PlatformRollback):
        with transaction.atomic():
            DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="certificate",
                                                completed_at=timezone.now())
            certificate_created(learner.pk, course_key, timezone.now())
            raise PlatformRollback
    assert not PendingCompletion.objects.exists() and not ActivationWindow.objects.exists()
    assert not WindowTally.objects.exists()


@pytest.mark.parametrize("error", [ActivationRequestError("refused"), ActivationInternalError("busy"),
                                   ValidationError({"name": ["required"]})])
def test_a_refused_rest_request_commits_nothing_of_the_request_as_drf_s_own_handler(error, db, rf):
    """DRF marks the request's transaction for rollback on the errors it answers; ours do the same."""
    request = rf.post("/api/activation/v1/")
    with transaction.atomic():
        handle_exception(error, {"request": request, "view": None})
        assert transaction.get_rollback()
