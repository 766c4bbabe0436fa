"""Activation rules: how many verified requirements activate a window."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activation_plugin import rules

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(day):
    return T0 + timedelta(days=day)


@pytest.mark.parametrize("rule, count, satisfied, expected", [
    ("any", None, [], False),
    ("any", None, [2], True),
    ("all", None, [1, 2], False),
    ("all", None, [1, 2, 3], True),
    ("at_least", 2, [3], False),
    ("at_least", 2, [1, 3], True),
    ("any", None, [99], False),  # ids from another definition never count
])
def test_is_satisfied(rule, count, satisfied, expected):
    assert rules.is_satisfied(rule, count, {1, 2, 3}, satisfied) is expected


def test_no_requirements_never_satisfied():
    assert rules.is_satisfied("all", None, set(), []) is False
    assert rules.activation_time("all", None, set(), [(1, at(1))]) is None


@pytest.mark.parametrize("rule, count, problem", [
    ("any", None, None),
    ("all", None, None),
    ("at_least", 2, None),
    ("at_least", 4, "at least 4 requirements but the definition has only 3"),
    ("at_least", 0, "needs a count of 1 or more"),
    ("at_least", None, "needs a count of 1 or more"),
    ("most", None, "Unknown rule"),
])
def test_rule_problem(rule, count, problem):
    found = rules.rule_problem(rule, count, 3)
    assert (found is None) if problem is None else (problem in found)


def test_activation_time_is_submission_of_deciding_evidence_in_any_order():
    verified = [(2, at(9)), (1, at(3)), (1, at(1)), (3, at(20))]
    assert rules.activation_time("any", None, {1, 2, 3}, verified) == at(1)
    assert rules.activation_time("at_least", 2, {1, 2, 3}, verified) == at(9)
    assert rules.activation_time("all", None, {1, 2, 3}, verified) == at(20)
    assert rules.activation_time("all", None, {1, 2, 3, 4}, verified) is None


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 60)), max_size=20), st.integers(1, 5))
def test_activation_time_agrees_with_is_satisfied(pairs, k):
    requirement_ids = {1, 2, 3, 4, 5}
    verified = [(rid, at(day)) for rid, day in pairs]
    when = rules.activation_time("at_least", k, requirement_ids, verified)
    assert (when is not None) == rules.is_satisfied("at_least", k, requirement_ids, [rid for rid, _ in pairs])
    if when is not None:
        before = [(rid, t) for rid, t in verified if t < when]
        assert not rules.is_satisfied("at_least", k, requirement_ids, [rid for rid, _ in before])
