"""
Issue 27, the previous day: whatever two days' figures a viewer keeps, their difference is a group
that passes the cell test (``figures.release.moves``, pure: no database), on random closing days,
and with late changes (a verdict, a withdrawal) to windows whose day was released before.
"""
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from activation_plugin.figures.base import reveals_outcomes
from activation_plugin.figures.release import EVERYONE, OUTCOMES, moves

FIRST = date(2026, 1, 5)
CELL = {"arm": "prompted", "org": "TestX", "cohort": ""}


@pytest.fixture(autouse=True)
def cell_size(settings):
    settings.ACTIVATION_MIN_CELL_SIZE = 5


@st.composite
def closing_days(draw):
    """``{day: [row]}``: a few windows closing on each of up to 30 days, in two runs and two modes."""
    by_day = {}
    for offset in range(draw(st.integers(1, 30))):
        rows = []
        for run in ("course-v1:X+Y+1", "course-v1:X+Y+2"):
            for mode in ("verified", "audit"):
                completers = draw(st.integers(0, 3))
                activated = draw(st.integers(0, completers))
                rows.append({**CELL, "course_run": run, "enrollment_mode": mode, "completers": completers,
                             "activated": activated, "responded": draw(st.integers(activated, completers))})
        by_day[FIRST + timedelta(days=offset)] = [row for row in rows if row["completers"]]
    return by_day


def tells(completers, count):
    return completers > 0 and reveals_outcomes(completers, count)


@hypothesis_settings(max_examples=300, derandomize=True, database=None)
@given(closing_days())
def test_any_two_releases_differ_by_a_group_that_passes(by_day):
    shown = {}  # (group, outcome): the counts of every release that showed it
    for release, totals in moves(by_day):
        for group, (completers, *outcomes) in totals.items():
            for outcome, count in zip(OUTCOMES, outcomes):
                if (group, outcome) not in release.holding and not tells(completers, count):
                    shown.setdefault((group, outcome), []).append((completers, count))
        assert not any(group == EVERYONE for group, _outcome in release.holding)  # the headline waits instead
    for (group, outcome), releases in shown.items():
        for index, (completers, count) in enumerate(releases):
            for earlier_completers, earlier_count in releases[:index]:
                assert not tells(completers - earlier_completers, count - earlier_count), (group, outcome)


def test_one_window_ending_does_not_move_the_headline():
    day = {**CELL, "course_run": "course-v1:X+Y+2", "enrollment_mode": "verified"}
    by_day = {FIRST: [{**day, "completers": 10, "activated": 5, "responded": 5}],
              FIRST + timedelta(days=1): [{**day, "completers": 1, "activated": 0, "responded": 0}]}
    assert [release.through for release, _totals in moves(by_day)] == [FIRST]
    by_day[FIRST + timedelta(days=2)] = [{**day, "completers": 10, "activated": 5, "responded": 5}]
    assert [release.through for release, _totals in moves(by_day)] == [FIRST, FIRST + timedelta(days=2)]


@st.composite
def late_histories(draw):
    """
    ``[window]``: a few windows closing on each of up to 20 days in two runs, each ``(closes_on, run,
    activated, responded, change)``, ``change`` None or ``(day, state)`` a later day on which the window
    was re-judged to ``(activated, responded)`` or withdrawn (``state`` None).
    """
    windows = []
    days = draw(st.integers(1, 20))
    for offset in range(days):
        for run in ("course-v1:X+Y+1", "course-v1:X+Y+2"):
            for _ in range(draw(st.integers(0, 3))):
                activated = draw(st.booleans())
                responded = activated or draw(st.booleans())
                change = None
                if draw(st.integers(0, 3)) == 0:
                    later = draw(st.integers(offset + 1, days + 2))
                    new_activated = draw(st.booleans())
                    state = draw(st.sampled_from([None, (new_activated, new_activated or draw(st.booleans()))]))
                    change = (FIRST + timedelta(days=later), state)
                windows.append((FIRST + timedelta(days=offset), run, activated, responded, change))
    return windows


def _counts(state):
    return {"completers": 0, "activated": 0, "responded": 0} if state is None else {
        "completers": 1, "activated": int(state[0]), "responded": int(state[1])}


def known_on(windows, today):
    """
    The walk's rows on ``today`` (as ``release._closing_days`` reads them): each window ended before
    today as it was when it closed, on its closing day, and each change that happened before today on
    its own day (``changed``); a change of today, or later, is not counted yet.
    """
    by_day = {}
    for closes_on, run, activated, responded, change in windows:
        if closes_on >= today:
            continue
        row = {**CELL, "course_run": run, "enrollment_mode": "verified"}
        by_day.setdefault(closes_on, []).append({**row, **_counts((activated, responded))})
        if change is not None and change[0] < today:
            before, after = _counts((activated, responded)), _counts(change[1])
            by_day.setdefault(change[0], []).append(
                {**row, "changed": 1, **{counter: after[counter] - value for counter, value in before.items()}})
    return by_day


@hypothesis_settings(max_examples=300, derandomize=True, database=None)
@given(late_histories())
def test_any_two_days_figures_differ_by_a_group_that_passes_despite_late_changes(windows):
    """
    The viewer keeps the figures of every day (the last move of that day's walk, without the groups
    it holds); a late change to a window released long ago moves no group they see but among new
    learners that pass with it: activated + 1 alone, or completers - 1 for a withdrawal, would tell.
    """
    shown = {}
    for offset in range(25):
        last = None
        for last in moves(known_on(windows, FIRST + timedelta(days=offset))):
            pass
        if last is None:
            continue
        release, totals = last
        for group, (completers, *outcomes, _changed) in totals.items():
            for outcome, count in zip(OUTCOMES, outcomes):
                if (group, outcome) not in release.holding and not tells(completers, count):
                    shown.setdefault((group, outcome), []).append((completers, count))
    for (group, outcome), releases in shown.items():
        for index, (completers, count) in enumerate(releases):
            for earlier_completers, earlier_count in releases[:index]:
                moved = (completers - earlier_completers, count - earlier_count)
                assert moved == (0, 0) or not reveals_outcomes(*moved), (group, outcome, moved)
