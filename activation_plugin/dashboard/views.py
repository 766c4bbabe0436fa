"""The standalone instructor page: what the MFE tab links to, usable on its own by course staff."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from activation_plugin import api, platform
from activation_plugin.dashboard import landing
from activation_plugin.models import ActivationDefinition
from activation_plugin.views_common import course_key_or_404, may_configure


@login_required
def instructor_page(request, course_id):
    course_key = course_key_or_404(course_id)
    if not platform.is_course_staff(request.user, course_key):
        raise PermissionDenied
    return render(request, "activation_plugin/instructor.html", {
        "course_key": course_key,
        "course_title": platform.course_title(course_key),
        "summaries": landing.course_overview(course_key, api.runs_seen_by(request.user, course_key)),
        "drafts": api.definitions_for_course(course_key, status=ActivationDefinition.Status.DRAFT),
        "may_create": may_configure(request.user, course_key),
        "pending_reviews": api.pending_reviews(course_key),
    })
