"""Stand-in LMS pages: a course list and the legacy instructor dashboard that runs the real filters."""
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe
from mako.lookup import TemplateLookup
from openedx_filters.learning.filters import InstructorDashboardRenderStarted, InstructorDashboardTabsRequested

from activation_plugin import platform
from demo.models import DemoCourse, DemoEnrollment

LEGACY_TEMPLATE = "instructor/instructor_dashboard_2/instructor_dashboard_2.html"


def home(request):
    courses = DemoCourse.objects.order_by("course_key")
    enrolled = set()
    if request.user.is_authenticated:
        enrolled = set(DemoEnrollment.objects.filter(user=request.user).values_list("course_key", flat=True))
    rows = [(course, platform.is_course_staff(request.user, course.course_key), course.course_key in enrolled)
            for course in courses]
    return render(request, "demo/home.html", {"rows": rows})


def _render_section(section):
    """Render a plugin section the way the LMS does: the Mako template named after its section_key."""
    lookup = TemplateLookup(directories=settings.MAKO_TEMPLATE_DIRS_BASE, input_encoding="utf-8")
    template = lookup.get_template(f"instructor_dashboard/{section['section_key']}.html")
    return mark_safe(template.render(section_data=section))  # noqa: S308 - Mako escapes with expression_filter="h"


@login_required
def instructor_dashboard(request, course_id):
    course = get_object_or_404(DemoCourse, course_key=course_id)
    if not platform.is_course_staff(request.user, course.course_key):
        raise PermissionDenied
    context = {"course": SimpleNamespace(id=course.course_key, display_name=course.display_name), "sections": []}
    context, _template = InstructorDashboardRenderStarted.run_filter(context=context, template_name=LEGACY_TEMPLATE)
    tabs, _user, _key = InstructorDashboardTabsRequested.run_filter(tabs=[], user=request.user,
                                                                    course_key=course.course_key)
    sections = [{**section, "html": _render_section(section)} for section in context["sections"]]
    return render(request, "demo/instructor_dashboard.html", {"course": course, "sections": sections, "tabs": tabs})
