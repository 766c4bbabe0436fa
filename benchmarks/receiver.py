"""
What a completion event costs the LMS: queries per event (constant whatever the course size and
however many definitions other courses have) and events per second through the real
openedx-events signal and receiver, against a bare ``ActivationWindow.objects.create`` loop
inserting the same rows in the same run. Import only after ``benchmarks.bootstrap()``.
"""
import secrets
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import CourseData, CoursePassingStatusData, UserData, UserPersonalData
from openedx_events.learning.signals import COURSE_PASSING_STATUS_UPDATED

from activation_plugin import api
from activation_plugin.models import ActivationDefinition, ActivationWindow, EvidenceRequirement
from benchmarks.tick import log
from demo.models import DemoCourse

COURSE_KEY = CourseKey.from_string("course-v1:Bench+RECV+2026")
OTHER_COURSES = 200  # definitions elsewhere on the platform, which the receiver must not pay for
CHUNK = 5_000
User = get_user_model()


def _definition(course_key, now):
    DemoCourse.objects.get_or_create(course_key=course_key, defaults={"display_name": str(course_key)})
    definition = ActivationDefinition.objects.create(
        course_key=course_key, catalog_course=api.catalog_course(course_key), name="Bench", behavior="apply it",
        window_days=30, holdout_seed=secrets.token_hex(16), status=ActivationDefinition.Status.ACTIVE,
        activated_at=now,
    )
    EvidenceRequirement.objects.create(definition=definition, kind="project", title="Project",
                                       config={"instructions": "x", "rubric": []})
    return definition


def _users(prefix, count):
    password = make_password(None)
    User.objects.bulk_create([User(username=f"{prefix}{n}", password=password) for n in range(count)],
                             batch_size=CHUNK)
    return list(User.objects.filter(username__startswith=prefix).order_by("pk"))


def _event(user, now):
    return {"time": now, "course_passing_status": CoursePassingStatusData(
        is_passing=True, course=CourseData(course_key=COURSE_KEY),
        user=UserData(id=user.pk, is_active=True,
                      pii=UserPersonalData(username=user.username, email="", name=user.username)))}


def _queries_per_event(user, now):
    """Statements one event runs, without the BEGIN/COMMIT around the insert (transaction control)."""
    with CaptureQueriesContext(connection) as captured:
        COURSE_PASSING_STATUS_UPDATED.send_event(**_event(user, now))
    return sum(query["sql"] not in ("BEGIN", "COMMIT") for query in captured)


def run(events):
    """Print one table: queries per event at two course sizes, and events/s vs the create loop."""
    now = timezone.now()
    for number in range(OTHER_COURSES):
        _definition(CourseKey.from_string(f"course-v1:Bench+OTHER{number}+2026"), now)
    definition = _definition(COURSE_KEY, now)
    log(f"receiver: seeding {events:,} learners twice (receiver and baseline)")
    learners, baseline_users = _users("recv-", events + 1), _users("base-", events)

    first = _queries_per_event(learners[0], now)
    started = time.perf_counter()
    for user in learners[1:]:
        COURSE_PASSING_STATUS_UPDATED.send_event(**_event(user, now))
    receiver_seconds = time.perf_counter() - started
    assert ActivationWindow.objects.filter(definition=definition).count() == events + 1, "an event opened nothing"
    late = _users("late-", 1)[0]
    at_size = _queries_per_event(late, now)
    replay = _queries_per_event(late, now)

    closes = now + timedelta(days=30)
    started = time.perf_counter()
    for user in baseline_users:
        ActivationWindow.objects.create(definition=definition, user=user, course_run=COURSE_KEY, trigger="passing",
                                        opened_at=now, closes_at=closes, next_action_at=now)
    baseline_seconds = time.perf_counter() - started

    print("\nReceiver: COURSE_PASSING_STATUS_UPDATED through openedx-events into open_windows")
    print(f"  definitions in other courses            {OTHER_COURSES:>12,}")
    print(f"  queries, first completer of the course  {first:>12}")
    print(f"  queries, completer {events + 1:,} of the course  {at_size:>8}")
    print(f"  queries, replayed event                 {replay:>12}")
    print(f"  events/s through the receiver           {events / receiver_seconds:>12,.0f}")
    print(f"  rows/s, bare Model.objects.create loop  {events / baseline_seconds:>12,.0f}")
    print(f"  receiver time / create-loop time        {receiver_seconds / baseline_seconds:>12.2f}")
    print(f"  statements at {events + 1:,} completers / at the first: {at_size / first:.2f} (target: 1.00, "
          f"constant in the course's size; a first event also reads what a process caches): "
          f"{'met' if at_size <= first else 'NOT met'}")
