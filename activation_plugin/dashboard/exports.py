"""CSV downloads of the Activation tab for course staff: windows, evidence and every figure, streamed."""
import csv

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse

from activation_plugin import api
from activation_plugin.views_common import definition_or_404, staff_course_key


class _Echo:
    """What ``csv.writer`` writes to: hands each formatted line back instead of buffering it."""

    def write(self, value):
        return value


def _staff_definition(request, course_id, definition_id):
    """The run the caller is staff of, and a definition covering it."""
    course_key = staff_course_key(request, course_id)
    return course_key, definition_or_404(course_key, definition_id)


def _csv(rows, filename):
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def export_windows(request, course_id, definition_id):
    course_key, definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.windows_csv_rows(definition, course_key), f"activation-{definition.pk}-windows.csv")


@login_required
def export_evidence(request, course_id, definition_id):
    course_key, definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.evidence_csv_rows(definition, course_key), f"activation-{definition.pk}-evidence.csv")


@login_required
def export_figures(request, course_id, definition_id):
    course_key, definition = _staff_definition(request, course_id, definition_id)
    figures = api.analytics(definition, visible_runs=api.runs_seen_by(request.user, course_key))
    return _csv(api.figures_csv_rows(figures), f"activation-{definition.pk}-figures.csv")


@login_required
def export_success_cases(request, course_id, definition_id):
    course_key, definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.success_case_rows(definition, course_key), f"activation-{definition.pk}-success-cases.csv")
