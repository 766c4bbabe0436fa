"""
Evidence rules: when does a window count as activated? Pure functions over plain values.

A rule combines a definition's requirements: ``any`` one, ``all`` of them, or ``at_least`` k.
A requirement is satisfied by its first verified evidence; the window activates at the
*submission* time of the evidence that completed the rule, so slow reviews do not distort
time-to-activation.
"""
from collections.abc import Collection, Iterable
from datetime import datetime

from django.utils.translation import gettext as _

ANY = "any"
ALL = "all"
AT_LEAST = "at_least"
RULES = (ANY, ALL, AT_LEAST)


def rule_problem(rule: str, rule_count: int | None, requirement_count: int) -> str | None:
    """Why this rule cannot work with this many requirements, or None when it can."""
    if rule not in RULES:
        return f"Unknown rule {rule!r}; choose one of {', '.join(RULES)}."
    if rule == AT_LEAST:
        if rule_count is None or rule_count < 1:
            return _("An 'at least' rule needs a count of 1 or more.")
        if rule_count > requirement_count:
            return (
                _("The rule asks for at least {count} requirements but the definition has only {available}.").format(
                    count=rule_count, available=requirement_count)
            )
    return None


def required_count(rule: str, rule_count: int | None, requirement_count: int) -> int:
    """How many distinct requirements must be satisfied."""
    if rule == ANY:
        return 1
    if rule == ALL:
        return requirement_count
    return rule_count


def is_satisfied(rule: str, rule_count: int | None, requirement_ids: Collection[int],
                 satisfied_ids: Iterable[int]) -> bool:
    """True when the satisfied requirements (ids outside the definition ignored) meet the rule."""
    if not requirement_ids:
        return False
    met = set(satisfied_ids) & set(requirement_ids)
    return len(met) >= required_count(rule, rule_count, len(requirement_ids))


def activation_time(rule: str, rule_count: int | None, requirement_ids: Collection[int],
                    verified: Iterable[tuple[int, datetime]]) -> datetime | None:
    """
    The submission time at which the rule first became satisfied, given verified evidence as
    ``(requirement_id, submitted_at)`` pairs in any order; None if it is not satisfied.
    """
    needed = required_count(rule, rule_count, len(requirement_ids))
    if not requirement_ids or needed < 1:
        return None
    met = set()
    for requirement_id, submitted_at in sorted(verified, key=lambda pair: pair[1]):
        if requirement_id in requirement_ids and requirement_id not in met:
            met.add(requirement_id)
            if len(met) >= needed:
                return submitted_at
    return None
