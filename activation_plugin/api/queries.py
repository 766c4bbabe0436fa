"""
Read-only querysets for the lists that callers filter and paginate (the REST API), and lookups
that check an id from a URL against the course before trusting it.
"""
from django.db.models import Exists, OuterRef, Prefetch
from django.utils.translation import gettext as _

from activation_plugin import platform
from activation_plugin.errors import ActivationNotFound, ActivationRequestError
from activation_plugin.keys import catalog_course, parse_course_key
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    Review,
)

# Primary keys are signed 64-bit integers everywhere we run; a larger id cannot exist, and asking
# the database about it overflows instead of answering "no such row".
MAX_ID = 2**63 - 1


def _valid_id(value):
    """The id as an int, or None when no row can have it (so the database is never asked)."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


def _by_id(queryset, field, value):
    """Narrow to one id; an id no row can have matches nothing."""
    value = _valid_id(value)
    return queryset.none() if value is None else queryset.filter(**{field: value})


def _catalog(course_key):
    return catalog_course(parse_course_key(course_key))


def run_scope(course_key, path=""):
    """
    The filter on per-learner rows that a course run's key grants: that run's windows only (a
    CCX is a run of its own). Definitions and their aggregate figures span the catalog course.
    """
    key = parse_course_key(course_key)
    return {f"{path}definition__catalog_course": catalog_course(key), f"{path}course_run": key}


def runs_seen_by(user, course_key):
    """
    The runs of this catalog course whose learners ``user`` sees row by row (staff of the run: its
    windows CSV; a CCX is a run of its own, seen by its coaches): the figures need not hide them
    from this viewer, only the others (``figures.analytics``' ``visible_runs``). One query for the
    runs that have windows, one role check per run.
    """
    runs = (ActivationWindow.objects.filter(definition__catalog_course=_catalog(course_key))
            .values_list("course_run", flat=True).distinct())
    return frozenset(str(run) for run in runs if platform.is_course_staff(user, parse_course_key(str(run))))


def definitions_with_requirements(course_key):
    """
    Definitions covering this course run, their requirements and prompts fetched in three queries;
    ``has_windows`` says whether each is locked (see ``definition_is_locked``).
    """
    return (ActivationDefinition.objects.filter(catalog_course=_catalog(course_key))
            .annotate(has_windows=Exists(ActivationWindow.objects.filter(definition=OuterRef("pk"))))
            .prefetch_related(Prefetch("requirements",
                                       queryset=EvidenceRequirement.objects.prefetch_related("prompts")))
            .order_by("-created", "-pk"))


def definition_in_course(course_key, definition_id):
    """
    One definition, only if it covers this course run (ids in URLs are checked, not trusted).

    Raises:
        ActivationNotFound: no such definition in this course.
    """
    definition = _by_id(definitions_with_requirements(course_key), "pk", definition_id).first()
    if definition is None:
        raise ActivationNotFound(_("No such definition in this course."), field="definition")
    return definition


def requirement_in_definition(definition, requirement_id):
    """
    One of the definition's requirements (ids in URLs are checked, not trusted).

    Raises:
        ActivationNotFound: the definition has no such requirement.
    """
    requirement = _by_id(definition.requirements.all(), "pk", requirement_id).first()
    if requirement is None:
        raise ActivationNotFound(_("No such requirement in this definition."), field="requirement")
    return requirement


def windows_in_course(course_key, *, definition_id=None, state=None, arm=None, course_run=None,
                      opened_after=None, opened_before=None):
    """
    The windows of this course run's learners, under every definition covering the run, newest
    first, narrowed by the filters. Only this run's: roles in Open edX are held per run (and per
    CCX), so staff of one run never list another run's learners through their own run's key.

    Raises:
        ActivationRequestError: unknown state or arm, or a malformed course run.
    """
    windows = (ActivationWindow.objects.filter(**run_scope(course_key))
               .select_related("user").order_by("-opened_at", "-pk"))
    if definition_id is not None:
        windows = _by_id(windows, "definition_id", definition_id)
    if state:
        if state not in ActivationWindow.State.values:
            raise ActivationRequestError(_("Unknown state {state}.").format(state=repr(state)), field="state")
        windows = windows.filter(state=state)
    if arm:
        if arm not in ActivationWindow.Arm.values:
            raise ActivationRequestError(_("Unknown arm {arm}.").format(arm=repr(arm)), field="arm")
        windows = windows.filter(arm=arm)
    if course_run:
        try:
            windows = windows.filter(course_run=parse_course_key(course_run))
        except ActivationRequestError as exc:
            raise ActivationRequestError(str(exc), field="course_run") from exc
    if opened_after:
        windows = windows.filter(opened_at__gte=opened_after)
    if opened_before:
        windows = windows.filter(opened_at__lt=opened_before)
    return windows


def evidence_list_in_course(course_key, *, status=None, requirement_id=None, definition_id=None):
    """
    Evidence of this course run's learners, newest first, with the learner, requirement and reviews
    fetched in a constant number of queries; withdrawn windows are left out as in the review queue.

    Raises:
        ActivationRequestError: unknown status.
    """
    evidence = (Evidence.objects.filter(**run_scope(course_key, "window__"))
                .exclude(window__state=ActivationWindow.State.WITHDRAWN)
                .select_related("window__user", "requirement")
                .prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")
                                           .order_by("created", "pk")))
                .order_by("-submitted_at", "-pk"))
    if status:
        if status not in Evidence.Status.values:
            raise ActivationRequestError(_("Unknown status {status}.").format(status=repr(status)), field="status")
        evidence = evidence.filter(status=status)
    if requirement_id is not None:
        evidence = _by_id(evidence, "requirement_id", requirement_id)
    if definition_id is not None:
        evidence = _by_id(evidence, "window__definition_id", definition_id)
    return evidence


def evidence_detail_in_course(course_key, evidence_id):
    """
    One piece of evidence with its reviews, only if it belongs to this course.

    Raises:
        ActivationNotFound: no such evidence in this course.
    """
    evidence = _by_id(evidence_list_in_course(course_key), "pk", evidence_id).first()
    if evidence is None:
        raise ActivationNotFound(_("No such evidence in this course."), field="evidence")
    return evidence
