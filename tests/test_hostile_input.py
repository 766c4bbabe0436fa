"""
Hostile input, fuzzed with hypothesis: definition specs, configuration forms, survey answers and
completion events. Whatever arrives, the answer is a clear refusal or a success, never a server
error, and a refusal writes nothing.
"""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import CourseData, CoursePassingStatusData, UserData, UserPersonalData
from openedx_events.learning.signals import COURSE_PASSING_STATUS_UPDATED

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    FollowUpPrompt,
)
from tests.conftest import SURVEY, committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=12)
kinds = st.sampled_from(["project", "survey", "observation", "metric", "nonsense", ""])
config_keys = st.sampled_from(["instructions", "rubric", "questions", "checklist", "min_observed", "metric",
                               "threshold", "direction", "relative", "baseline_days", "peer_rule", "pass_ratio"])
requirement_specs = st.fixed_dictionaries({
    "kind": kinds, "title": st.text(max_size=20) | json_values,
    "config": st.dictionaries(config_keys, json_values, max_size=5) | json_values,
}, optional={"verification": json_values | st.sampled_from(["none", "peer", "staff", "supervisor"]),
             "reviews_required": json_values,
             "prompts": st.lists(st.dictionaries(st.sampled_from(
                 ["send_after_days", "reminder_days", "subject", "body", "condition", "translations"]),
                 json_values, max_size=6), max_size=2) | json_values})


def counts():
    return tuple(model.objects.count() for model in (ActivationDefinition, EvidenceRequirement, FollowUpPrompt))


@FUZZ
@given(window_days=json_values, rule=json_values | st.sampled_from(["any", "all", "at_least"]),
       rule_count=json_values, holdout=json_values, requirements=st.lists(requirement_specs, max_size=3) | json_values)
def test_definition_specs_are_refused_clearly_or_stored_whole(course_key, window_days, rule, rule_count, holdout,
                                                              requirements):
    before = counts()
    try:
        definition = api.create_definition(course_key=course_key, name="Fuzzed", behavior="Does it",
                                           window_days=window_days, rule=rule, rule_count=rule_count,
                                           holdout_percent=holdout, requirements=requirements)
    except ActivationRequestError as exc:
        assert str(exc) and counts() == before
    else:
        assert definition.requirements.count() == len(requirements)


form_text = st.text(max_size=40) | st.sampled_from(["", "0", "-1", "1e400", "NaN", "30", "at_least", "survey"])


@FUZZ
@given(fields=st.dictionaries(st.sampled_from([
    "name", "behavior", "trigger", "window_days", "rule", "rule_count", "holdout_percent",
    "requirements-TOTAL_FORMS", "requirements-INITIAL_FORMS", "requirements-0-kind", "requirements-0-title",
    "requirements-0-questions-0-text", "requirements-0-questions-0-type", "requirements-0-questions-0-options",
    "requirements-0-rubric-0-criterion", "requirements-0-rubric-0-max_score", "requirements-0-pass_percent",
    "requirements-0-threshold", "requirements-0-relative", "requirements-0-reminder_days", "add_row",
    "requirements-0-checklist", "requirements-0-min_observed", "requirements-0-subject", "requirements-0-body",
    "requirements-0-verification", "requirements-0-reviews_required", "add_requirement"]), form_text, max_size=14))
def test_configuration_form_never_fails_with_a_server_error(client, course_staff, course_key, fields):
    client.force_login(course_staff)
    before = counts()
    response = client.post(reverse("activation_plugin:definition_new", kwargs={"course_id": str(course_key)}), fields)
    assert response.status_code in (200, 302, 400)
    if response.status_code != 302:
        assert counts() == before


@pytest.fixture
def survey_window(make_definition, learner, course_key):
    definition = make_definition(requirements=[SURVEY])
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    return window, definition.requirements.get()


@FUZZ
@given(answers=st.dictionaries(st.sampled_from(["q-used", "q-how", "q-other", "submission_key", "file"]),
                               st.lists(form_text, max_size=3), max_size=5))
def test_survey_answers_never_fail_with_a_server_error(client, learner, course_key, survey_window, answers):
    window, requirement = survey_window
    client.force_login(learner)
    url = reverse("activation_plugin:submit_evidence", kwargs={
        "course_id": str(course_key), "window_id": window.pk, "requirement_id": requirement.pk})
    before = Evidence.objects.count()
    response = client.post(url, answers)
    assert response.status_code == 302
    stored = Evidence.objects.filter(window=window)
    assert stored.count() in (before, before + 1, 1)
    for evidence in stored:
        assert evidence.payload["answers"]["used"] in ("yes", "no")


@FUZZ
@given(user_id=st.integers(-5, 10**9), is_passing=st.booleans(),
       course=st.sampled_from(["course-v1:TestX+APPLY+2026", "course-v1:TestX+APPLY+2027", "course-v1:Nope+X+1"]),
       when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                         timezones=st.just(dt_timezone.utc)),
       replays=st.integers(1, 3))
def test_completion_events_never_break_the_sender_and_replays_count_once(make_definition, course_key, user_id,
                                                                         is_passing, course, when, replays):
    if not ActivationDefinition.objects.exists():
        make_definition()
    real_user = UserFactory() if user_id % 2 else None
    payload = CoursePassingStatusData(
        is_passing=is_passing, course=CourseData(course_key=CourseKey.from_string(course)),
        user=UserData(id=real_user.pk if real_user else user_id, is_active=True,
                      pii=UserPersonalData(username="x", email="x@example.com", name="x")))
    for _ in range(replays):
        with committed():
            responses = COURSE_PASSING_STATUS_UPDATED.send_event(time=when, course_passing_status=payload)
        assert not [response for _receiver, response in responses if isinstance(response, Exception)]
    if real_user:
        windows = ActivationWindow.objects.filter(user=real_user)
        expected = int(is_passing and course.startswith("course-v1:TestX+APPLY+"))
        assert windows.count() == expected
        if expected:
            assert windows.get().opened_at == when and windows.get().closes_at == when + timedelta(days=30)
