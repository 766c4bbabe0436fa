"""
Issue 27, late changes to long-ended windows (ADR 0016, "Late changes"): a verdict or a withdrawal
that changes a window whose day was released long ago is counted, for a viewer who cannot see its
run row by row, on the day it happened, and released only among new learners in a group that passes
the cell test. A viewer who kept yesterday's figures saw "activated + 1, completers + 0": one hidden
learner's outcome.
"""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from activation_plugin import api
from activation_plugin.api.evidence import review_evidence
from activation_plugin.api.privacy import withdraw_window
from activation_plugin.models import Evidence, LateTally
from tests.conftest import api_url, committed
from tests.factories import UserFactory
from tests.figures_data import add_evidence, make_windows
from tests.test_figure_labels import exported_figures, page

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@pytest.fixture
def staff_client(client, course_staff):
    client.force_login(course_staff)
    return client


@pytest.fixture
def course(make_definition, course_key, other_run):
    """
    Run ``course_key`` (the viewer's) 10 of 20, run ``other_run`` 5 of 11, in windows that ended
    60 days ago; ``late``: the other run's learner whose evidence waits for a verdict.
    """
    opened = timezone.now() - timedelta(days=60)
    definition = make_definition()
    make_windows(definition, 10, state="activated", opened_at=opened)
    make_windows(definition, 10, opened_at=opened)
    make_windows(definition, 5, state="activated", course_run=other_run, opened_at=opened)
    make_windows(definition, 5, course_run=other_run, opened_at=opened)
    [late] = make_windows(definition, 1, course_run=other_run, opened_at=opened)
    add_evidence([late], status=Evidence.Status.SUBMITTED)
    return definition, late


def _released(body, run):
    """The headline's and ``run``'s row's ``(completers, eligible, activated)``: what the viewer reads of them."""
    figures = body["figures"]
    [row] = [row for row in figures["runs"]["runs"] if row["course_run"] == str(run)]
    return ((figures["summary"]["completers"], figures["summary"]["eligible"], figures["summary"]["activated"]),
            (row["completers"], row["eligible"], row["activated"]))


def _without_time(exported):
    """The figures CSV less its time and what waits to be released (how many changes, not what they were)."""
    return {key: value for key, value in exported.items()
            if key[0] != "computed_at" and not key[0].startswith("release.")}


def _rest(client, course_key, definition):
    return client.get(api_url("definition_figures", course_id=course_key, definition_id=definition.pk)).json()


@pytest.mark.parametrize("change", ["verdict", "withdrawal"])
def test_a_late_change_to_another_runs_window_is_not_yesterdays_figures_plus_one_learner(
        course, course_key, other_run, course_staff, staff_client, change):
    """
    Staff of one run kept yesterday's figures. Today a staff reviewer verifies the other run's
    learner's evidence, submitted inside a window that ended 60 days ago (it activates), or one of
    its activated learners withdraws. REST and the CSV stay where they were today, and the next day,
    while nothing else ended: "activated + 1" (or "completers - 1, activated - 1") would be that one
    learner. Staff of both runs see the change at once.
    """
    definition, late = course
    before = _released(_rest(staff_client, course_key, definition), other_run)
    assert before == ((31, 31, 15), (11, 11, 5))
    exported = _without_time(exported_figures(staff_client, course_key, definition))
    with committed():
        if change == "verdict":
            review_evidence(Evidence.objects.get(window=late), verdict="verified", role="staff",
                            reviewer=UserFactory(username="reviewer"))
        else:
            withdrawn = definition.windows.filter(course_run=other_run, state="activated").first()
            withdraw_window(withdrawn.user, other_run, withdrawn.pk)
    assert LateTally.objects.filter(definition=definition).exists()
    assert _released(_rest(staff_client, course_key, definition), other_run) == before
    assert _without_time(exported_figures(staff_client, course_key, definition)) == exported
    visible = list(api.runs_seen_by(course_staff, course_key))
    tomorrow = timezone.now() + timedelta(days=1)
    assert _released({"figures": api.analytics(definition, now=tomorrow, visible_runs=visible)},
                     other_run) == before
    both = api.analytics(definition, visible_runs=[course_key, other_run])
    assert _released({"figures": both}, other_run) == (
        ((31, 31, 16), (11, 11, 6)) if change == "verdict" else ((30, 30, 14), (10, 10, 4)))


def test_a_late_change_is_released_with_the_learners_who_end_after_it(course, course_key, other_run, course_staff):
    """
    The verdict is counted once more of the other run's learners have ended after it, with them: 5
    activated (and answered) of 11. Ten, 5 of them activated, would not do: with the verdict, 6 of
    10 would leave only 4 not activated.
    """
    definition, late = course
    with committed():
        review_evidence(Evidence.objects.get(window=late), verdict="verified", role="staff",
                        reviewer=UserFactory(username="reviewer"))
    opened = timezone.now() - timedelta(days=definition.window_days - 1)
    add_evidence(make_windows(definition, 5, state="activated", course_run=other_run, opened_at=opened))
    make_windows(definition, 5, course_run=other_run, opened_at=opened)
    visible = list(api.runs_seen_by(course_staff, course_key))
    later = timezone.now() + timedelta(days=3)
    assert _released({"figures": api.analytics(definition, now=later, visible_runs=visible)}, other_run) == (
        (41, 31, 15), (21, 11, 5))  # the ten counted as running
    make_windows(definition, 1, course_run=other_run, opened_at=opened)
    cache.clear()  # written around the api, which would have replaced the figures' version token
    assert _released({"figures": api.analytics(definition, now=later, visible_runs=visible)}, other_run) == (
        (42, 42, 21), (22, 22, 11))


def test_the_page_and_rest_say_what_waits_to_be_released(course, course_key, other_run, staff_client):
    """
    Figures that wait for a releasable group can wait for ever (a course whose last windows are
    few): REST and the page say how many ended windows and later changes wait, and why. Here one
    more window of the other run ended two days ago, and its learner's submission and verdict came
    after their window's day was released.
    """
    definition, late = course
    with committed():
        review_evidence(Evidence.objects.get(window=late), verdict="verified", role="staff",
                        reviewer=UserFactory(username="reviewer"))
    make_windows(definition, 1, course_run=other_run,
                 opened_at=timezone.now() - timedelta(days=definition.window_days + 2))
    cache.clear()  # written around the api, which would have replaced the figures' version token
    released = _rest(staff_client, course_key, definition)["figures"]["release"]
    assert released == {"through": str(late.closes_at.date()), "windows_waiting": 1, "changes_waiting": 2}
    notice = page(staff_client, course_key, definition).select_one("[data-figure=release]")
    assert (notice["data-windows-waiting"], notice["data-changes-waiting"]) == ("1", "2")
    assert "1 window that has ended since waits" in notice.get_text()
    assert api.analytics(definition, visible_runs=[course_key, other_run])["release"] is None
