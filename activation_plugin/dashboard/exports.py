"""CSV downloads of the Activation tab for course staff: windows, evidence and every figure, streamed."""
import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse

from activation_plugin import api, platform
from activation_plugin.views_common import course_key_or_404


class _Echo:
    """What ``csv.writer`` writes to: hands each formatted line back instead of buffering it."""

    def write(self, value):
        return value


def _staff_definition(request, course_id, definition_id):
    course_key = course_key_or_404(course_id)
    if not platform.is_course_staff(request.user, course_key):
        raise PermissionDenied
    definition = api.definitions_for_course(course_key).filter(pk=definition_id).first()
    if definition is None:
        raise Http404("No such definition in this course.")
    return definition


def _csv(rows, filename):
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def export_windows(request, course_id, definition_id):
    definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.windows_csv_rows(definition), f"activation-{definition.pk}-windows.csv")


@login_required
def export_evidence(request, course_id, definition_id):
    definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.evidence_csv_rows(definition), f"activation-{definition.pk}-evidence.csv")


@login_required
def export_figures(request, course_id, definition_id):
    definition = _staff_definition(request, course_id, definition_id)
    return _csv(api.figures_csv_rows(api.analytics(definition)), f"activation-{definition.pk}-figures.csv")
