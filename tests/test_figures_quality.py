"""The data-quality panel on hand-built evidence, observations and sources."""
from datetime import timedelta

import pytest
from django.urls import reverse

from activation_plugin import api
from activation_plugin.models import SupervisorInvite
from tests.conftest import NOW, OBSERVATION, PROJECT
from tests.figures_data import add_evidence, make_users, make_windows, observe, source

NO_PATTERNS = {"confirmations": 0, "quick": 0, "free_mail": 0, "same_name": 0, "busy_supervisors": 0, "mutual": 0}
METRIC = {"kind": "metric", "title": "CSAT up", "config": {
    "metric": "csat", "threshold": 4.0, "direction": "higher", "baseline_days": 20}}


def test_data_quality_panel(make_definition):
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}, METRIC], holdout_percent=20)
    prompted = make_windows(definition, 10, state="expired")
    add_evidence(prompted[:2])
    add_evidence(prompted[2:3], status="submitted")
    add_evidence(prompted[3:4], status="rejected")
    add_evidence(make_windows(definition, 5, state="expired", arm="holdout")[:1], status="submitted")
    add_evidence(make_windows(definition, 1, state="withdrawn"), status="submitted")

    learner, opened = prompted[0].user, prompted[0].opened_at
    observe(learner, "csat", opened - timedelta(days=10), 3.0)  # baseline: used
    observe(learner, "csat", opened + timedelta(days=10), 4.0)  # in the window: used
    observe(learner, "csat", opened - timedelta(days=100), 4.0)  # before the baseline: unused
    observe(learner, "csat", opened + timedelta(days=45), 4.0)  # after the window: unused
    observe(learner, "csat", NOW + timedelta(days=2), 4.0)  # in the future (and after the window)
    observe(make_users(1)[0], "csat", opened - timedelta(days=100), 4.0)  # not this definition's learner
    for day, external_id in enumerate(("a@x", "a@x", "b@x")):
        observe(None, "csat", opened + timedelta(days=day), 1.0, external_id=external_id)
    observe(None, "revenue", opened, 1.0)  # a metric this definition does not use
    source("broken-crm", last_status="error", last_error="HTTP 500 from https://crm.example")
    source("fine-crm", last_status="ok")

    # Staff of the one run see every window row by row: nothing to hide from them (issue 27).
    quality = api.data_quality(definition, now=NOW, visible_runs=[definition.course_key])
    failing = quality.pop("failing_sources")
    quality.pop("non_response")  # tests/test_figures_quality.py::test_non_response_*
    assert quality == {
        "prompted": 10, "responded": 3, "response_rate": 0.3, "awaiting_review": 2, "prompts_in_doubt": 0,
        "metrics": ["csat"],
        "unmatched_identities": 2, "future_observations": 1, "observations_outside_windows": 3,
        "supervisor_patterns": NO_PATTERNS,
    }
    assert [(row["name"], row["last_error"]) for row in failing] == [
        ("broken-crm", "HTTP 500 from https://crm.example")]


def test_data_quality_without_metrics_or_learners(make_definition):
    quality = api.data_quality(make_definition(), now=NOW)
    assert quality.pop("non_response")["suppressed"] is True
    assert quality == {"prompted": 0, "responded": 0, "response_rate": None, "awaiting_review": 0,
                       "prompts_in_doubt": 0, "metrics": [],
                       "unmatched_identities": 0, "future_observations": 0, "observations_outside_windows": 0,
                       "supervisor_patterns": NO_PATTERNS, "failing_sources": []}


def test_small_response_rate_is_hidden(make_definition):
    definition = make_definition()
    add_evidence(make_windows(definition, 3, state="expired"))
    quality = api.data_quality(definition, now=NOW)
    assert (quality["prompted"], quality["responded"], quality["response_rate"]) == (None, None, None)


def test_supervisor_confirmations_worth_a_second_look_are_counted(make_definition, client, course_staff):
    """Issue 15: the tab flags observations from suspicious patterns; each invite below is built to show one."""
    definition = make_definition(requirements=[OBSERVATION])
    windows = make_windows(definition, 9, state="expired")
    for number, window in enumerate(windows):
        window.user.email = f"learner{number}@acme.com"
        window.user.save()

    def answered(window, email, after, **fields):
        invite = SupervisorInvite.objects.create(window=window, requirement=definition.requirements.get(), email=email,
                                                 nonce=f"n{SupervisorInvite.objects.count()}",
                                                 expires_at=NOW + timedelta(days=7), used_at=NOW + after, **fields)
        SupervisorInvite.objects.filter(pk=invite.pk).update(created=NOW)  # auto_now_add set it to the real time

    answered(windows[0], "lead@acme.com", timedelta(minutes=3))  # quick
    answered(windows[1], "Lead@GMAIL.com", timedelta(days=2))  # free mail
    answered(windows[2], "LEARNER2@partner.org", timedelta(days=2))  # the learner's own name
    for window in windows[3:8]:  # one address for five learners; slow, at work, other names
        answered(window, "boss@acme.com", timedelta(days=1))
    answered(windows[8], "", timedelta(minutes=1))  # erased on retirement: not counted
    # lead@acme.com, who confirmed learner0, is a learner too, confirmed by learner0 (an address variant)
    [lead] = make_windows(definition, 1, state="expired")
    lead.user.email = "lead@acme.com"
    lead.user.save()
    answered(lead, "Learner0+x@acme.com", timedelta(days=2))
    SupervisorInvite.objects.create(window=windows[8], requirement=definition.requirements.get(),
                                    email="slow@gmail.com", nonce="unused", expires_at=NOW)  # never answered
    assert api.data_quality(definition, now=NOW)["supervisor_patterns"] == {
        "confirmations": 9, "quick": 1, "free_mail": 1, "same_name": 1, "busy_supervisors": 1, "mutual": 2}
    client.force_login(course_staff)
    page = client.get(reverse("activation_plugin:definition", kwargs={
        "course_id": str(definition.course_key), "definition_id": definition.pk})).content.decode()
    assert 'data-flags="supervisor"' in page
    for flag in ("quick", "free_mail", "same_name", "busy_supervisors", "mutual"):
        assert f'data-flag="{flag}"' in page


def test_non_response_compares_who_answers_and_bounds_the_rate(make_definition, settings):
    """Issue 16: responders vs non-responders on what the platform knows, and the worst and best case."""
    settings.ACTIVATION_MIN_CELL_SIZE = 5
    definition = make_definition(holdout_percent=10)
    verified = make_windows(definition, 12, state="activated", enrollment_mode="verified")
    answered = make_windows(definition, 8, state="expired", enrollment_mode="verified")
    silent = make_windows(definition, 25, state="expired", enrollment_mode="audit")
    silent_verified = make_windows(definition, 5, state="expired", enrollment_mode="verified")
    add_evidence(verified)
    add_evidence(answered, status="submitted")
    # Not prompted, but in the headline rate whose bounds these are (issue 26).
    make_windows(definition, 7, state="expired", arm="holdout")
    make_windows(definition, 4, state="open", opened_at=NOW - timedelta(days=2))  # still running
    result = api.data_quality(definition, now=NOW)["non_response"]
    eligible, responders = 12 + 8 + 25 + 5 + 7, 12 + 8
    assert (result["eligible"], result["responders"], result["non_responders"]) == (eligible, responders, 37)
    assert result["rate_if_none"] == pytest.approx(12 / eligible)
    assert result["rate_if_all"] == pytest.approx((12 + 37) / eligible)
    modes = {row["value"]: row for row in result["dimensions"]["enrollment_mode"]}
    # Nobody in audit answered: 0 responders would tell each one, and verified's shares with the totals
    # would give audit back, so the whole dimension goes (issue 27).
    assert {row["suppressed"] for row in modes.values()} == {True} and modes["verified"]["responders_share"] is None
    assert len(silent + silent_verified) == 30
    # Staff of the only run see every learner's window: nothing to hide from them.
    seen = api.data_quality(definition, now=NOW, visible_runs=[definition.course_key])["non_response"]
    modes = {row["value"]: row for row in seen["dimensions"]["enrollment_mode"]}
    assert modes["verified"]["responders_share"] == pytest.approx(20 / 20)
    assert modes["verified"]["non_responders_share"] == pytest.approx(5 / 37)
    assert (modes["audit"]["responders_share"], modes["audit"]["suppressed"]) == (0, False)
