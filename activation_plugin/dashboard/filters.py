"""
openedx-filters pipeline steps that put Activation on both instructor dashboards.

Legacy dashboard: ``InstructorDashboardRenderStarted`` gets a section whose Fragment the LMS
renders through ``templates/instructor_dashboard/activation.html``. New dashboard (MFE):
``InstructorDashboardTabsRequested`` gets a tab that points at the standalone instructor page.
"""
from crum import get_current_user
from django.conf import settings
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from openedx_filters import PipelineStep
from web_fragments.fragment import Fragment

from activation_plugin import api, platform, toggles
from activation_plugin.dashboard import landing

SECTION_KEY = "activation"
# The LMS includes "<prefix><section_key>.html" from its Mako dirs, where our settings add templates/.
TEMPLATE_PATH_PREFIX = "/instructor_dashboard/"
TAB_SORT_ORDER = 95


def instructor_page_path(course_key):
    return reverse("activation_plugin:instructor", kwargs={"course_id": str(course_key)})


class AddActivationSection(PipelineStep):
    """Append the Activation section to the legacy instructor dashboard, for course staff only."""

    def run_filter(self, context, template_name):  # pylint: disable=arguments-differ,unused-argument
        course_key = context["course"].id
        user = get_current_user()
        if toggles.tab_hidden(course_key) or not platform.is_course_staff(user, course_key):
            return {"context": context}
        html = render_to_string("activation_plugin/section.html", {
            "course_key": course_key,
            "summaries": landing.course_overview(course_key, api.runs_seen_by(user, course_key)),
            "instructor_url": instructor_page_path(course_key),
        })
        fragment = Fragment(html)
        fragment.add_css_url(static("activation_plugin/activation.css"))
        context.setdefault("sections", []).append({
            "section_key": SECTION_KEY,
            "section_display_name": _("Activation"),
            "course_id": str(course_key),
            "fragment": fragment,
            "template_path_prefix": TEMPLATE_PATH_PREFIX,
        })
        return {"context": context}


class AddActivationTab(PipelineStep):
    """Append an Activation tab to the instructor dashboard MFE, linking to the standalone page."""

    def run_filter(self, tabs, user, course_key):  # pylint: disable=arguments-differ
        if not toggles.tab_hidden(course_key) and platform.is_course_staff(user, course_key):
            tabs = [*tabs, {
                "tab_id": SECTION_KEY,
                "title": _("Activation"),
                "url": f"{getattr(settings, 'LMS_ROOT_URL', '')}{instructor_page_path(course_key)}",
                "sort_order": TAB_SORT_ORDER,
            }]
        return {"tabs": tabs, "user": user, "course_key": course_key}
