"""
The kill switches and the course tab's flag (activation_plugin/toggles.py), each off and on, through
the real waffle tables: what stops, and that nothing it stops is lost once it is turned back.
"""
from datetime import timedelta
from types import SimpleNamespace

import pytest
from crum import impersonate
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from edx_toggles.toggles.testutils import override_waffle_flag, override_waffle_switch
from openedx_filters.learning import filters as platform_filters
from openedx_filters.learning.filters import InstructorDashboardRenderStarted

from activation_plugin import api, platform, toggles
from activation_plugin.kpi import pull
from activation_plugin.models import ActivationWindow, MetricSource, PendingCompletion, PromptDelivery, SupervisorInvite
from demo.models import DemoCompletionRecord
from tests.conftest import NOW, OBSERVATION, PROJECT, committed, send_certificate, send_passing
from tests.kpi_server import Reply

PROMPTED_PROJECT = {**PROJECT, "prompts": [{"send_after_days": 7, "subject": "How did it go?", "body": "{link}"}]}
KPI_MAPPING = {"external_id": "agent", "metric": "'handle_time'", "value": "aht", "observed_at": "at"}
paused_mail = override_waffle_switch(toggles.PAUSE_OUTGOING_MAIL, active=True)


def test_every_toggle_is_annotated_as_oep_17_asks():
    """Each toggle declared in toggles.py carries the annotations the toggles report is built from."""
    with open(toggles.__file__, encoding="utf-8") as module:
        source = module.read()
    for toggle in (toggles.PAUSE_OUTGOING_MAIL, toggles.PAUSE_COMPLETION_RECEIVERS, toggles.PAUSE_KPI_PULLS,
                   toggles.HIDE_COURSE_TAB):
        block = source.split(f".. toggle_name: {toggle.name}\n", 1)[1].split("\n\n", 1)[0]
        for annotation in ("toggle_implementation", "toggle_default: False", "toggle_description",
                           "toggle_use_cases", "toggle_creation_date"):
            assert f".. {annotation}" in block, (toggle.name, annotation)


def test_outside_the_lms_the_course_flag_is_the_standalone_stand_in():
    assert isinstance(toggles.HIDE_COURSE_TAB, platform.StandaloneCourseWaffleFlag)


@pytest.fixture
def prompted(make_definition, learner, course_key):
    make_definition(requirements=[PROMPTED_PROJECT], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", NOW)
    return window


def test_paused_mail_claims_nothing_and_the_due_prompt_goes_out_when_resumed(prompted):
    due = NOW + timedelta(days=7)
    with paused_mail:
        assert api.tick(now=due)["paused"] is True
    assert mail.outbox == [] and not PromptDelivery.objects.exists()
    prompted.refresh_from_db()
    assert prompted.next_action_at <= due  # still due
    assert api.tick(now=due)["sent"] == 1
    assert len(mail.outbox) == 1


@pytest.fixture
def observed_window(make_definition, learner, course_key):
    make_definition(requirements=[OBSERVATION], window_days=30)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now() - timedelta(days=3))
    return window


def test_paused_mail_keeps_a_new_invitation_unsent_without_spending_an_attempt(observed_window):
    requirement = observed_window.definition.requirements.get()
    with paused_mail:
        with committed():
            invite = api.invite_supervisor(observed_window, requirement, "boss@example.com")
        later = timezone.now() + timedelta(hours=2)
        assert api.tick(now=later)["invitations_retried"] == 0
    invite.refresh_from_db()
    assert (invite.mail_status, invite.mail_attempts, mail.outbox) == ("failed", 0, [])
    assert "paused" in invite.mail_error
    assert api.tick(now=timezone.now() + timedelta(hours=2))["invitations_retried"] == 1
    invite.refresh_from_db()
    assert (invite.mail_status, invite.mail_attempts) == ("sent", 1)
    assert [m.to for m in mail.outbox] == [["boss@example.com"]]


def test_without_the_switch_an_invitation_is_mailed_at_commit(observed_window):
    with committed():
        invite = api.invite_supervisor(observed_window, observed_window.definition.requirements.get(), "b@example.com")
    assert SupervisorInvite.objects.get(pk=invite.pk).mail_status == "sent" and len(mail.outbox) == 1


@pytest.mark.parametrize("send, trigger", [(send_passing, "passing"), (send_certificate, "certificate")])
def test_paused_receivers_write_nothing_and_backfill_finds_the_completion(
        send, trigger, make_definition, learner, course_key):
    definition = make_definition(requirements=[PROJECT], trigger=trigger)
    with override_waffle_switch(toggles.PAUSE_COMPLETION_RECEIVERS, active=True):
        passed_at = timezone.now() - timedelta(days=1)
        # The platform's own grade or certificate row, then its event.
        DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger=trigger,
                                            completed_at=passed_at)
        send(learner.id, course_key, time=passed_at)
    assert not ActivationWindow.objects.exists() and not PendingCompletion.objects.exists()
    call_command("activation_backfill", definition=definition.pk)
    assert ActivationWindow.objects.filter(user=learner).count() == 1


def test_receivers_record_when_the_switch_is_off(make_definition, learner, course_key):
    make_definition(requirements=[PROJECT])
    send_passing(learner.id, course_key)
    assert ActivationWindow.objects.filter(user=learner).count() == 1


@pytest.fixture
def source(settings, kpi_server, db, fast_retries):
    settings.ACTIVATION_METRIC_SOURCES = {"crm": {
        "kind": "rest", "url": kpi_server.url("/tickets"), "allowed_hosts": ["127.0.0.1"], "allow_private": True,
        "records": "data", "mapping": KPI_MAPPING}}
    at = (timezone.now() - timedelta(days=1)).isoformat()
    kpi_server.route("/tickets", Reply(body={"data": [{"agent": "ann@example.com", "aht": 300, "at": at}]}))
    return kpi_server


def test_paused_pulls_contact_no_source_and_move_no_cursor(source):
    with override_waffle_switch(toggles.PAUSE_KPI_PULLS, active=True):
        assert pull.due_sources() == []
        result = pull.pull("crm")
    assert (result["status"], result["received"]) == ("paused", 0) and "pause_kpi_pulls" in result["error"]
    assert source.requests == [] and not MetricSource.objects.filter(last_run_at__isnull=False).exists()
    assert pull.due_sources() == ["crm"]
    assert pull.pull("crm")["status"] == "ok" and len(source.requests) == 1


TabsRequested = getattr(platform_filters, "InstructorDashboardTabsRequested", None)


@pytest.mark.parametrize("hidden", [False, True])
def test_the_flag_hides_the_legacy_section(hidden, course_staff, course_key, make_definition):
    make_definition()
    with override_waffle_flag(toggles.HIDE_COURSE_TAB, active=hidden), impersonate(course_staff):
        context, _template = InstructorDashboardRenderStarted.run_filter(
            context={"course": SimpleNamespace(id=course_key), "sections": [{"section_key": "course_info"}]},
            template_name="instructor/instructor_dashboard_2/instructor_dashboard_2.html")
    sections = [section["section_key"] for section in context["sections"]]
    assert sections == (["course_info"] if hidden else ["course_info", "activation"])


@pytest.mark.skipif(TabsRequested is None, reason="openedx-filters < 3.4: no MFE tabs filter")
@pytest.mark.parametrize("hidden", [False, True])
def test_the_flag_hides_the_mfe_tab(hidden, course_staff, course_key, make_definition):
    make_definition()
    with override_waffle_flag(toggles.HIDE_COURSE_TAB, active=hidden):
        tabs, _user, _key = TabsRequested.run_filter(tabs=[], user=course_staff, course_key=course_key)
    assert [tab["tab_id"] for tab in tabs] == ([] if hidden else ["activation"])
