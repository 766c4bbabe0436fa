"""
The data objects ``activation_plugin.api`` returns to other apps and operators' scripts (OEP-49).

Frozen snapshots of a row, taken when the api call returned: no database access, no lazy
relation, nothing to save, so a caller cannot write around the api or depend on the models'
shape (docs/decisions/0017-the-public-front.rst). A public function that takes a definition or a
KPI source accepts one of these (it reads the row again by ``id``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opaque_keys.edx.keys import CourseKey


@dataclass(frozen=True)
class EvidenceRequirementData:
    """One thing a learner shows to count as activated (``kind``: reflection, artifact, …)."""

    id: int
    kind: str
    title: str
    verification: str
    reviews_required: int
    position: int

    @classmethod
    def from_model(cls, requirement):
        return cls(id=requirement.pk, kind=requirement.kind, title=requirement.title,
                   verification=requirement.verification, reviews_required=requirement.reviews_required,
                   position=requirement.position)


@dataclass(frozen=True)
class ActivationDefinitionData:
    """
    What "applying the course" means for one catalog course, one version of it (``status``:
    draft, active or archived; ``replaces_id``: the version it superseded; ``comparison_plan``: the
    registered plan, None until one is).
    """

    id: int
    course_key: CourseKey
    catalog_course: str
    name: str
    behavior: str
    trigger: str
    window_days: int
    rule: str
    rule_count: int | None
    holdout_percent: int
    status: str
    created: datetime
    activated_at: datetime | None
    archived_at: datetime | None
    replaces_id: int | None
    comparison_plan: dict | None
    requirements: tuple[EvidenceRequirementData, ...]

    @classmethod
    def from_model(cls, definition):
        return cls(id=definition.pk, course_key=definition.course_key, catalog_course=definition.catalog_course,
                   name=definition.name, behavior=definition.behavior, trigger=definition.trigger,
                   window_days=definition.window_days, rule=definition.rule, rule_count=definition.rule_count,
                   holdout_percent=definition.holdout_percent, status=definition.status, created=definition.created,
                   activated_at=definition.activated_at, archived_at=definition.archived_at,
                   replaces_id=definition.replaces_id, comparison_plan=definition.comparison_plan,
                   requirements=tuple(EvidenceRequirementData.from_model(r) for r in definition.requirements.all()))


@dataclass(frozen=True)
class ActivationWindowData:
    """One completer's window in one definition: open, activated, expired or withdrawn."""

    id: int
    definition_id: int
    user_id: int
    course_run: CourseKey
    trigger: str
    opened_at: datetime
    closes_at: datetime
    state: str
    activated_at: datetime | None
    arm: str

    @classmethod
    def from_model(cls, window):
        return cls(id=window.pk, definition_id=window.definition_id, user_id=window.user_id,
                   course_run=window.course_run, trigger=window.trigger, opened_at=window.opened_at,
                   closes_at=window.closes_at, state=window.state, activated_at=window.activated_at, arm=window.arm)


@dataclass(frozen=True)
class MetricSourceData:
    """A declared KPI source's non-secret state: its last run, cursor and counters."""

    id: int
    name: str
    kind: str
    schedule_minutes: int
    cursor: str
    last_run_at: datetime | None
    last_status: str
    last_error: str
    last_success_at: datetime | None
    consecutive_failures: int
    failing: bool
    records_pulled: int

    @classmethod
    def from_model(cls, source):
        return cls(id=source.pk, name=source.name, kind=source.kind, schedule_minutes=source.schedule_minutes,
                   cursor=source.cursor, last_run_at=source.last_run_at, last_status=source.last_status,
                   last_error=source.last_error, last_success_at=source.last_success_at,
                   consecutive_failures=source.consecutive_failures, failing=source.failing,
                   records_pulled=source.records_pulled)
