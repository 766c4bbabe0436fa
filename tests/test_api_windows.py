"""Opening windows: segments, replays, triggers."""
from collections import Counter
from datetime import timedelta

import pytest

from activation_plugin import api
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.models import ActivationWindow
from demo.models import DemoEnrollment
from tests.conftest import NOW
from tests.factories import DefinitionFactory, UserFactory


def test_open_window_copies_segment_and_closes_after_window_days(make_definition, learner, course_key):
    DemoEnrollment.objects.create(user=learner, course_key=course_key, mode="verified", cohort="Team A")
    definition = make_definition(window_days=45)
    [window] = api.open_windows(learner.id, str(course_key), "passing", NOW)
    assert (window.definition, window.opened_at, window.closes_at) == (definition, NOW, NOW + timedelta(days=45))
    assert (window.enrollment_mode, window.org, window.cohort) == ("verified", "TestX", "Team A")
    assert window.state == "open"
    assert window.next_action_at == NOW  # prompted: the next tick works out its first prompt


def test_replays_repasses_and_other_runs_keep_the_first_window(make_definition, learner, other_run, course_key):
    make_definition()
    first = api.open_windows(learner.id, course_key, "passing", NOW)
    api.open_windows(learner.id, course_key, "passing", NOW)
    api.open_windows(learner.id, course_key, "passing", NOW + timedelta(days=3))
    again = api.open_windows(learner.id, other_run, "passing", NOW + timedelta(days=200))
    assert ActivationWindow.objects.count() == 1
    assert again[0].pk == first[0].pk
    assert again[0].opened_at == NOW and again[0].course_run == course_key


def test_only_active_definitions_with_the_event_trigger_open_windows(make_definition, learner, course_key):
    api.archive_definition(make_definition(name="archived"))
    make_definition(activate=False, name="draft")
    certificate = make_definition(name="certificate", trigger="certificate")
    assert api.open_windows(learner.id, course_key, "passing", NOW) == []
    [window] = api.open_windows(learner.id, course_key, "certificate", NOW)
    assert window.definition == certificate


def test_of_two_active_definitions_only_the_newest_opens_a_window(learner, course_key):
    """Two active at once (activation now archives the other; older data may have both): one follow-up."""
    DefinitionFactory(name="older", activated_at=NOW - timedelta(days=2))
    newer = DefinitionFactory(name="newer", activated_at=NOW - timedelta(days=1))
    [window] = api.open_windows(learner.id, course_key, "passing", NOW)
    assert window.definition == newer
    assert api.open_windows(learner.id, course_key, "passing", NOW + timedelta(days=1)) == [window]
    assert ActivationWindow.objects.count() == 1


@pytest.mark.parametrize("course, trigger, occurred_at, message", [
    ("garbage", "passing", NOW, "not a valid course key"),
    ("course-v1:TestX+APPLY+2026", "enrolled", NOW, "Unknown trigger"),
    ("course-v1:TestX+APPLY+2026", "passing", NOW.replace(tzinfo=None), "timezone-aware"),
    ("course-v1:TestX+APPLY+2026", "passing", "2026-01-01", "timezone-aware"),
])
def test_malformed_completions_are_refused(make_definition, learner, course, trigger, occurred_at, message):
    make_definition()
    with pytest.raises(ActivationRequestError, match=message):
        api.open_windows(learner.id, course, trigger, occurred_at)
    assert not ActivationWindow.objects.exists()


def test_unknown_user_is_refused(make_definition, course_key):
    make_definition()
    with pytest.raises(ActivationNotFound):
        api.open_windows(987654, course_key, "passing", NOW)


def test_holdout_assignment_is_reproducible_and_near_its_share(make_definition, course_key):
    definition = make_definition(holdout_percent=20)
    users = UserFactory.create_batch(400)
    arms = Counter(api.assign_arm(definition, user.pk) for user in users)
    assert 50 <= arms["holdout"] <= 110  # 20 % of 400 = 80, well inside 3.5 standard deviations
    assert [api.assign_arm(definition, u.pk) for u in users] == [api.assign_arm(definition, u.pk) for u in users]
    for user in users[:50]:
        [window] = api.open_windows(user.pk, course_key, "passing", NOW)
        assert window.arm == api.assign_arm(definition, user.pk)


def test_no_holdout_means_everyone_is_prompted(make_definition, learner):
    definition = make_definition()
    assert api.assign_arm(definition, learner.pk) == "prompted"


def test_open_windows_query_count_is_constant(make_definition, course_key, django_assert_num_queries):
    definition = make_definition()
    # Other courses' definitions and this course's size must not change the cost.
    for n in range(5):
        api.create_definition(course_key=course_key, name=f"d{n}", behavior="b", window_days=10,
                              requirements=[{"kind": "project", "title": "p", "config": {"instructions": "i"}}])
    for user in UserFactory.create_batch(30):
        api.open_windows(user.pk, course_key, "passing", NOW)
    newcomer = UserFactory()
    # definitions, the learner's windows in the catalog course (their arm, withdrawal, running window),
    # user, their follow-up row written and held, their windows again, segment (the demo backend's
    # enrollment lookup inside a savepoint, so a failed platform lookup cannot break the transaction: 3),
    # insert, select, then the tallies: the cell, the cell's total (CellTotal) and censoring upserts and
    # the window's contribution
    with django_assert_num_queries(14):
        api.open_windows(newcomer.pk, course_key, "passing", NOW)
    assert definition.windows.count() == 31
    # A replayed event: the definitions, then the learner's windows in the course; nothing written.
    with django_assert_num_queries(2):
        [window] = api.open_windows(newcomer.pk, course_key, "passing", NOW)
    assert window.definition_id == definition.pk
