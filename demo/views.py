"""Stand-in LMS pages: a course list and the legacy instructor dashboard that runs the real filters."""
from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from mako.lookup import TemplateLookup
from openedx_filters.learning import filters as platform_filters
from openedx_filters.learning.filters import InstructorDashboardRenderStarted

from activation_plugin import platform
from activation_plugin.tasks import tick
from activation_plugin.views_common import course_key_or_404
from demo.models import DemoCourse, DemoEnrollment, DemoSentMail

LEGACY_TEMPLATE = "instructor/instructor_dashboard_2/instructor_dashboard_2.html"
OUTBOX_PAGE = 20


def home(request):
    courses = DemoCourse.objects.order_by("course_key")
    enrolled = set()
    if request.user.is_authenticated:
        enrolled = set(DemoEnrollment.objects.filter(user=request.user).values_list("course_key", flat=True))
    rows = [(course, platform.is_course_staff(request.user, course.course_key), course.course_key in enrolled)
            for course in courses]
    return render(request, "demo/home.html", {"rows": rows})


@login_required
def instructor_dashboard(request, course_id):
    """The LMS's instructor dashboard as the plugin meets it: the real filters add the Activation section and tab."""
    course = get_object_or_404(DemoCourse, course_key=course_key_or_404(course_id))
    if not platform.is_course_staff(request.user, course.course_key):
        raise PermissionDenied
    course_info = {"section_key": "course_info", "section_display_name": "Course info", "course_id": course_id,
                   "template_path_prefix": "/instructor/instructor_dashboard_2/"}
    context = {"course": SimpleNamespace(id=course.course_key, display_name=course.display_name),
               "sections": [course_info]}
    context, template_name = InstructorDashboardRenderStarted.run_filter(context=context, template_name=LEGACY_TEMPLATE)
    # Like the LMS of each release: the MFE's tabs filter runs only where openedx-filters has it (3.4+).
    tabs = []
    if hasattr(platform_filters, "InstructorDashboardTabsRequested"):
        tabs = platform_filters.InstructorDashboardTabsRequested.run_filter(
            tabs=[], user=request.user, course_key=course.course_key)[0]
    # Rendered with Mako from the LMS's template dirs, as edx-platform renders instructor_dashboard_2.html.
    lookup = TemplateLookup(directories=settings.MAKO_TEMPLATE_DIRS_BASE, input_encoding="utf-8")
    html = lookup.get_template(template_name).render(
        course=context["course"], sections=context["sections"], tabs=tabs, username=request.user.username,
        demo_css_urls=[static("demo/demo.css")],
    )
    return HttpResponse(html)


@login_required
def outbox(request):
    """Mail the plugin sent (prompts, reminders), newest first, searchable; staff can run the tick by hand."""
    # Every course's mail, supervisor links included: operators only, never one course's staff.
    if not request.user.is_staff:
        raise PermissionDenied
    if request.method == "POST":
        result = tick.delay().get()
        messages.success(request, f"The tick sent {result.get('sent', 0)} message(s) and closed "
                                  f"{result.get('expired', 0)} window(s) that had ended.")
        return redirect("outbox")
    query = request.GET.get("q", "").strip()
    mails = DemoSentMail.objects.order_by("-sent_at", "-pk")
    if query:
        mails = mails.filter(Q(to__icontains=query) | Q(subject__icontains=query) | Q(body__icontains=query))
    # Twenty at a time: the seed alone sends hundreds, and each HTML part is a frame to render.
    return render(request, "demo/outbox.html", {"page": Paginator(mails, OUTBOX_PAGE).get_page(request.GET.get("page")),
                                                "query": query})


def sign_out(request):
    """The LMS's ``/logout``: a GET signs out and goes home."""
    from django.contrib.auth import logout  # pylint: disable=import-outside-toplevel
    logout(request)
    return redirect("home")
