"""
A definition's versions and the experiment (ADR 0012): a learner's arm, withdrawal and opt-out are
theirs for the catalog course, and they have one follow-up there at a time, whichever path opens
the window (a live completion, the backfill) and whichever version is active.
"""
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from activation_plugin import api
from activation_plugin.api import definitions
from activation_plugin.errors import OtherDefinitionActive
from activation_plugin.models import ActivationDefinition, ActivationWindow, PromptDelivery
from demo.models import DemoCompletionRecord
from tests.conftest import PROJECT, api_url
from tests.factories import UserFactory, WindowFactory

pytestmark = pytest.mark.django_db

PROMPTED = {**PROJECT, "prompts": [{"send_after_days": 0, "reminder_days": [3],
                                    "subject": "How did it go?", "body": "Show us: {link}"}]}
OTHER_RUN = "course-v1:TestX+APPLY+2027"


def learner_drawn(first, second, arm):
    """A learner in ``arm`` under ``first`` whom ``second`` would draw into the other arm: a redraw shows."""
    for _attempt in range(200):
        user = UserFactory()
        if api.assign_arm(first, user.pk) == arm and api.assign_arm(second, user.pk) != arm:
            return user
    raise AssertionError("no such learner in 200 draws")


def tick_days(now, *days):
    for day in days:
        api.tick(now=now + timedelta(days=day))


@pytest.mark.parametrize("path", ["live", "backfill"])
@pytest.mark.parametrize("first_window", ["running", "ended"])
@pytest.mark.parametrize("arm", ["prompted", "holdout"])
@pytest.mark.parametrize("consent", ["kept", "withdrew", "opted_out", "opted_out_everywhere"])
def test_a_new_version_keeps_the_learner_s_arm_consent_and_single_follow_up(make_definition, course_key, other_run,
                                                                            path, first_window, arm, consent):
    now = timezone.now()
    first = make_definition(requirements=[PROMPTED], window_days=30, holdout_percent=50)
    second = api.new_version(first)
    learner = learner_drawn(first, second, arm)
    completed = now - timedelta(days=10 if first_window == "running" else 40)
    DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="passing",
                                        completed_at=completed)
    [window] = api.open_windows(learner.pk, course_key, "passing", completed)
    assert window.arm == arm
    if consent == "withdrew":
        api.withdraw_window(learner, course_key, window.pk)
    elif consent != "kept":
        api.opt_out(learner.pk, first.pk if consent == "opted_out" else None)
    mail.outbox.clear()

    second = definitions.activate_definition(second)  # archives the version it replaces
    repassed = now - timedelta(days=5)  # in another run: inside the first window, or after its end
    if path == "live":
        api.open_windows(learner.pk, other_run, "passing", repassed)
    else:
        DemoCompletionRecord.objects.create(user=learner, course_key=other_run, trigger="passing",
                                            completed_at=repassed)
        api.backfill(second)
    tick_days(now, 0, 1, 4)

    opened = ActivationWindow.objects.filter(definition=second, user=learner).first()
    # A second follow-up only after the first ended, and never after a withdrawal.
    assert (opened is not None) == (first_window == "ended" and consent != "withdrew")
    if opened:
        assert (opened.arm, opened.opened_at) == (arm, repassed)  # inherited, never redrawn
    may_mail = arm == "prompted" and consent == "kept"
    assert PromptDelivery.objects.filter(window__definition=second, status="sent").exists() == bool(
        opened and may_mail)
    if not may_mail:
        assert mail.outbox == []
    assert ActivationWindow.objects.filter(user=learner, state="open").count() <= 1


def test_the_issue_s_scenario_a_held_out_learner_who_withdrew_gets_nothing_from_a_new_version(
        make_definition, course_key):
    """learner130: holdout, withdrew; a new version, activated, "Open windows for past completers"."""
    now = timezone.now()
    first = make_definition(requirements=[PROMPTED], window_days=45, holdout_percent=20)
    second = api.new_version(first)
    learner = learner_drawn(first, second, "holdout")
    completed = now - timedelta(days=12)
    DemoCompletionRecord.objects.create(user=learner, course_key=course_key, trigger="passing",
                                        completed_at=completed)
    [window] = api.open_windows(learner.pk, course_key, "passing", completed)
    api.withdraw_window(learner, course_key, window.pk)
    second = definitions.activate_definition(second)
    assert api.backfill(second) == {"completions": 1, "opened": 0}
    tick_days(now, 0, 1, 2)
    assert not ActivationWindow.objects.filter(definition=second).exists()
    assert mail.outbox == []


def test_windows_already_doubled_by_the_old_backfill_stay_silent(make_definition, course_key):
    """
    Damage done before the fix: a withdrawn holdout learner, a held-out learner and a learner with a
    running window each got a second, prompted window under the new version. The tick mails none of them.
    """
    now = timezone.now()
    first = make_definition(requirements=[PROMPTED], window_days=30, holdout_percent=50)
    second = definitions.activate_definition(api.new_version(first))
    learners = UserFactory.create_batch(3)
    for number, user in enumerate(learners):
        old = WindowFactory(definition=first, user=user, opened_at=now - timedelta(days=5),
                            arm="holdout" if number < 2 else "prompted", next_action_at=now - timedelta(days=5))
        if number == 0:
            api.withdraw_window(user, course_key, old.pk)
        WindowFactory(definition=second, user=user, opened_at=now - timedelta(days=4), arm="prompted",
                      next_action_at=now - timedelta(days=4))
    tick_days(now, 0)
    assert not PromptDelivery.objects.filter(window__definition=second, status="sent").exists()
    assert [message.to for message in mail.outbox] == [[learners[2].email]]  # the first, running window's


def test_withdrawing_from_one_version_withdraws_the_course_s_follow_up(make_definition, course_key):
    now = timezone.now()
    first = make_definition(requirements=[PROMPTED], window_days=10)
    learner = UserFactory()
    [old] = api.open_windows(learner.pk, course_key, "passing", now - timedelta(days=40))
    second = definitions.activate_definition(api.new_version(first))
    [new] = api.open_windows(learner.pk, course_key, "passing", now - timedelta(days=2))
    assert new.definition == second
    api.withdraw_window(learner, course_key, old.pk)
    assert set(ActivationWindow.objects.filter(user=learner).values_list("state", flat=True)) == {"withdrawn"}
    api.open_windows(learner.pk, course_key, "passing", now + timedelta(days=30))
    assert ActivationWindow.objects.filter(user=learner).count() == 2


def test_an_opt_out_counts_in_every_version_s_headline(make_definition, course_key, settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 1  # one learner's window is counted, not hidden, for this check
    now = timezone.now()
    first = make_definition(requirements=[PROMPTED], window_days=10)
    learner = UserFactory()
    api.open_windows(learner.pk, course_key, "passing", now - timedelta(days=40))
    api.opt_out(learner.pk, first.pk)
    second = definitions.activate_definition(api.new_version(first))
    api.open_windows(learner.pk, course_key, "passing", now - timedelta(days=2))
    assert api.summarize(second)["opted_out"] == 1


# Two active definitions: the instructor is warned, and confirms, before a second one supersedes the first.

def test_activating_a_second_definition_is_refused_until_confirmed(make_definition, course_key):
    running = make_definition(name="Running")
    other = make_definition(name="Another", activate=False)
    with pytest.raises(OtherDefinitionActive, match="Running"):
        definitions.activate_definition(other)
    assert definitions.activate_definition(other, supersede=True).status == "active"
    running.refresh_from_db()
    assert running.status == "archived"


def test_rest_activation_says_409_until_supersede(jwt_staff_client, make_definition, course_key):
    make_definition(name="Running")
    other = make_definition(name="Another", activate=False)
    url = api_url("definition_activate", course_id=course_key, definition_id=other.pk)
    refused = jwt_staff_client.post(url, {}, format="json")
    assert refused.status_code == 409 and refused.json()["field"] == "supersede"
    assert jwt_staff_client.post(url, {"supersede": True}, format="json").json()["status"] == "active"
    assert ActivationDefinition.objects.filter(status="active").get() == other


def test_the_page_warns_before_activation_and_activates_only_what_it_named(client, course_staff, make_definition,
                                                                           course_key):
    client.force_login(course_staff)
    running = make_definition(name="Running")
    other = make_definition(name="Another", activate=False)
    page = client.get(reverse("activation_plugin:definition",
                              kwargs={"course_id": str(course_key), "definition_id": other.pk})).content.decode()
    assert 'data-warning="supersedes"' in page and "Running" in page
    status_url = reverse("activation_plugin:definition_status",
                         kwargs={"course_id": str(course_key), "definition_id": other.pk})
    late = make_definition(name="Activated meanwhile", activate=False)
    definitions.activate_definition(late, supersede=True)  # after the page was read: not named on it
    client.post(status_url, {"action": "activate", "supersede": [str(running.pk)]})
    other.refresh_from_db()
    assert other.status == "draft"
    client.post(status_url, {"action": "activate", "supersede": [str(late.pk)]})
    other.refresh_from_db()
    assert other.status == "active"
