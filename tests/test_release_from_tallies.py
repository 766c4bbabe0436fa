"""
Issue 34, the first visit: the figures a viewer who cannot see every run gets count the windows
ended since the last release as running (``release.counted_through``). Those are added up from the
tally rows of the days closed since and today's ended part of the tallies, never read window by
window: the same figures as counted from the windows, in queries that do not read a window.
"""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activation_plugin import api
from activation_plugin.figures import release, tallies
from activation_plugin.models import ActivationDefinition
from tests.conftest import NOW
from tests.figures_data import add_evidence, make_windows
from tests.test_tallies import comparable


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


def closing(definition, days_ago, hour=10):
    """The opening moment of a window that closes ``days_ago`` days before NOW's day, at ``hour`` UTC."""
    day = NOW.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return day - timedelta(days=definition.window_days)


def seed(definition, course_key, other_run, scale=1):
    """
    Both runs' windows closing over the last two weeks and today: released ones long ago, a few
    since (too few to move the figures), some today on each side of NOW, and some still running.
    """
    for run in (course_key, other_run):
        add_evidence(make_windows(definition, 6 * scale, state="activated", course_run=run,
                                  opened_at=closing(definition, 14)))
        make_windows(definition, 6 * scale, course_run=run, opened_at=closing(definition, 14))
        for days_ago in (3, 1):
            make_windows(definition, scale, course_run=run, opened_at=closing(definition, days_ago))
        make_windows(definition, 2 * scale, course_run=run, opened_at=closing(definition, 0, hour=2))
        add_evidence(make_windows(definition, scale, state="activated", course_run=run,
                                  opened_at=closing(definition, 0, hour=5)))
        make_windows(definition, 2 * scale, state="open", course_run=run, opened_at=closing(definition, 0, hour=20))
        make_windows(definition, 2 * scale, state="open", course_run=run, opened_at=closing(definition, -4))


def analytics_of(definition, moment, visible_runs, built):
    """The page's figures for this viewer, from the tallies (``built``) or counted from the windows."""
    ActivationDefinition.objects.filter(pk=definition.pk).update(tallies_built_at=NOW if built else None)
    definition.refresh_from_db()
    cache.clear()
    return comparable(api.analytics(definition, now=moment, visible_runs=visible_runs))


def test_the_windows_ended_since_the_release_count_as_running_as_counted_from_the_windows(
        make_definition, course_key, other_run):
    definition = make_definition()
    seed(definition, course_key, other_run)
    for moment in (NOW, NOW.replace(hour=4), NOW + timedelta(hours=11)):
        through = release.walk(definition, moment).through
        assert through is not None and through < moment.date() - timedelta(days=1)  # days ended since, not today's only
        for visible_runs in ((), (course_key,)):
            assert (analytics_of(definition, moment, visible_runs, built=True)
                    == analytics_of(definition, moment, visible_runs, built=False)), (moment, visible_runs)


def counted_through_queries(definition):
    tallied = tallies.read(definition, NOW)
    through = release.walk(definition, NOW).through
    with CaptureQueriesContext(connection) as captured:
        moved = release.counted_through(definition, NOW, tallied, (), through)
    assert moved.cells != tallied.cells  # windows ended since were moved
    return [query["sql"] for query in captured]


def test_the_windows_ended_since_the_release_are_not_read_one_by_one(make_definition, course_key, other_run):
    definition = make_definition()
    seed(definition, course_key, other_run)
    statements = counted_through_queries(definition)
    assert not [sql for sql in statements if "activation_plugin_activationwindow" in sql]
    seed(definition, course_key, other_run, scale=3)
    assert len(counted_through_queries(definition)) == len(statements)
