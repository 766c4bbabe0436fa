"""
CSV rows for the Activation tab's downloads: generators the views stream, header row first.

Windows and evidence are read in primary-key pages (keyset pagination, ``values_list``, no model
instances), so memory stays flat at any size. ``QuerySet.iterator()`` would not be enough: MySQL
drivers fetch the whole result set into memory before the first row is yielded.
"""
import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from activation_plugin.figures.base import counted_evidence, counted_windows
from activation_plugin.models import Evidence

PAGE_SIZE = 2000
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a spreadsheet cell: ISO dates, JSON for structures, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value if isinstance(value, (int, float, bool)) else str(value)


def _paged(queryset, columns):
    """Header, then every row in primary-key order, one page per query; the first column must be ``pk``."""
    yield [name for name, _field in columns]
    fields = [field for _name, field in columns]
    last = 0
    while True:
        page = list(queryset.filter(pk__gt=last).order_by("pk").values_list(*fields)[:PAGE_SIZE])
        if not page:
            return
        for row in page:
            yield [csv_cell(value) for value in row]
        last = page[-1][0]


def _evidence_count(status):
    counted = (Evidence.objects.filter(window=OuterRef("pk"), status=status).order_by()
               .values("window").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


WINDOW_COLUMNS = [
    ("window_id", "pk"), ("user_id", "user_id"), ("username", "user__username"), ("course_run", "course_run"),
    ("arm", "arm"), ("state", "state"), ("opened_at", "opened_at"), ("closes_at", "closes_at"),
    ("activated_at", "activated_at"), ("days_to_activation", "days_to_activation"),
    ("enrollment_mode", "enrollment_mode"), ("org", "org"), ("cohort", "cohort"),
    ("evidence_submitted", "evidence_submitted"), ("evidence_verified", "evidence_verified"),
]


def windows_csv_rows(definition, course_run):
    """
    One row per window of the definition in ``course_run`` (withdrawn ones left out) with its
    outcome, segment and counts of evidence awaiting review and verified (rejected evidence is not
    counted). Per-learner rows stay within the run whose staff asked: roles are per run.
    """
    windows = counted_windows(definition).filter(course_run=course_run).annotate(
        evidence_submitted=_evidence_count(Evidence.Status.SUBMITTED),
        evidence_verified=_evidence_count(Evidence.Status.VERIFIED))
    return _paged(windows, WINDOW_COLUMNS)


EVIDENCE_COLUMNS = [
    ("evidence_id", "pk"), ("window_id", "window_id"), ("user_id", "window__user_id"),
    ("username", "window__user__username"), ("course_run", "window__course_run"), ("arm", "window__arm"),
    ("requirement_id", "requirement_id"), ("requirement_kind", "requirement__kind"),
    ("requirement_title", "requirement__title"), ("source", "source"), ("status", "status"),
    ("strength", "strength"), ("submitted_at", "submitted_at"), ("verified_at", "verified_at"),
    ("payload", "payload"),
]


def evidence_csv_rows(definition, course_run):
    """
    One row per piece of evidence in the definition's counted windows of ``course_run``; rejected
    evidence is left out.
    """
    return _paged(counted_evidence(definition).filter(window__course_run=course_run), EVIDENCE_COLUMNS)


# The key that names a list item (a run, a stage, a segment value...) instead of being a figure of it.
LABEL_KEYS = ("stage", "course_run", "value", "arm", "strength", "metric", "day", "name", "other")


def _walk(value, figure, group):
    """
    Flattens nested figures into ``[figure, group, value]`` rows: dict keys join the figure's dotted
    name, a list item's label (LABEL_KEYS) joins the group, a pair becomes low and high.
    """
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{figure}.{key}" if figure else key, group)
    elif isinstance(value, tuple) and len(value) == 2:
        yield from _walk({"low": value[0], "high": value[1]}, figure, group)
    elif isinstance(value, list):
        for item in value:
            item = asdict(item) if is_dataclass(item) else item
            label = next((key for key in LABEL_KEYS if isinstance(item, dict) and key in item), None)
            if label is None:
                yield from _walk(item, figure, group)
                continue
            rest = {key: field for key, field in item.items() if key != label}
            yield from _walk(rest, figure, [*group, f"{label}={item[label]}"])
    else:
        yield [figure, " / ".join(group), csv_cell(value)]


def figures_csv_rows(figures):
    """
    Every figure of an :func:`analytics` result as ``figure, group, value`` rows, header first:
    ``summary.rate_ci.low, , 0.21`` or ``runs.runs.rate, course_run=…, 0.18``. Suppressed
    figures are already None there and come out as empty cells.
    """
    yield ["figure", "group", "value"]
    yield from _walk(figures, "", [])
