"""URLs of the plugin's pages (``/activation/``); included by edx-django-utils' plugin discovery."""
from django.urls import include, re_path

from activation_plugin.dashboard import authoring, exports, kpi, portfolio, reviews
from activation_plugin.dashboard import views as dashboard_views
from activation_plugin.error_pages import in_plugin_layout
from activation_plugin.learner import views as learner_views
from activation_plugin.lock_waits import bounded_lock_waits
from activation_plugin.rest_api.v1.webhook import MetricWebhookView
from activation_plugin.views_common import busy_database_asks_to_retry

COURSE_ID = r"(?P<course_id>[^/]+)"
DEFINITION_ID = r"(?P<definition_id>\d+)"
REQUIREMENT = rf"^activation/learner/{COURSE_ID}/windows/(?P<window_id>\d+)/requirements/(?P<requirement_id>\d+)/"


def page(view):
    """
    A page: it waits for a row lock at most ``ACTIVATION_LOCK_WAIT_SECONDS``, a lost lock race says
    "try again", and a refusal or a missing page shows in the plugin's layout.
    """
    return in_plugin_layout(bounded_lock_waits(busy_database_asks_to_retry(view)))


urlpatterns = [
    re_path(r"^api/activation/v1/metric-sources/(?P<name>[-a-zA-Z0-9_]+)/observations/$",
            bounded_lock_waits(MetricWebhookView.as_view()), name="metric_webhook"),
    re_path(r"^activation/kpi/sources/$", page(kpi.kpi_sources), name="kpi_sources"),
    re_path(r"^activation/kpi/sources/(?P<name>[-a-zA-Z0-9_]+)/test/$", page(kpi.try_source),
            name="kpi_source_test"),
    re_path(rf"^activation/courses/{COURSE_ID}/kpi/$", page(kpi.course_kpi), name="kpi"),
    re_path(rf"^activation/courses/{COURSE_ID}/kpi/preview/$", page(kpi.kpi_preview), name="kpi_preview"),
    re_path(rf"^activation/courses/{COURSE_ID}/kpi/commit/$", page(kpi.kpi_commit), name="kpi_commit"),
    re_path(r"^api/activation/v1/", include("activation_plugin.rest_api.v1.urls")),
    re_path(r"^activation/portfolio/$", page(portfolio.portfolio_page), name="portfolio"),
    re_path(r"^activation/portfolio\.csv$", page(portfolio.export_portfolio), name="portfolio_csv"),
    re_path(rf"^activation/courses/{COURSE_ID}/$", page(dashboard_views.instructor_page), name="instructor"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/new/$", page(authoring.definition_form),
            name="definition_new"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/$", page(authoring.definition_page),
            name="definition"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/edit/$", page(authoring.definition_form),
            name="definition_edit"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/status/$", page(authoring.change_status),
            name="definition_status"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/requirements/(?P<requirement_id>\d+)/"
            r"condition/$", page(authoring.set_condition), name="set_condition"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/plan/$", page(authoring.register_plan),
            name="definition_plan"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/preview/$", page(authoring.preview),
            name="definition_preview"),
    re_path(r"^activation/opt-out/(?P<token>[^/]+)/$", page(learner_views.opt_out), name="opt_out"),
    re_path(r"^activation/observe/(?P<token>[^/]+)/$", page(learner_views.observe), name="observe"),
    re_path(rf"^activation/courses/{COURSE_ID}/reviews/$", page(reviews.review_queue), name="review_queue"),
    re_path(rf"^activation/courses/{COURSE_ID}/evidence/(?P<evidence_id>\d+)/review/$", page(reviews.review),
            name="review"),
    re_path(rf"^activation/courses/{COURSE_ID}/evidence/(?P<evidence_id>\d+)/file/$", page(reviews.evidence_file),
            name="evidence_file"),
    re_path(rf"^activation/courses/{COURSE_ID}/invites/(?P<invite_id>\d+)/$", page(reviews.manage_invite),
            name="manage_invite"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/windows\.csv$",
            page(exports.export_windows), name="export_windows"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/evidence\.csv$",
            page(exports.export_evidence), name="export_evidence"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/success-cases/$",
            page(authoring.success_cases), name="success_cases"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/success-cases\.csv$",
            page(exports.export_success_cases), name="export_success_cases"),
    re_path(rf"^activation/courses/{COURSE_ID}/definitions/{DEFINITION_ID}/figures\.csv$",
            page(exports.export_figures), name="export_figures"),
    re_path(rf"^activation/learner/{COURSE_ID}/peer-review/$", page(learner_views.peer_review), name="peer_review"),
    re_path(rf"^activation/learner/{COURSE_ID}/$", page(learner_views.learner_page), name="learner"),
    re_path(rf"^activation/learner/{COURSE_ID}/windows/(?P<window_id>\d+)/withdraw/$", page(learner_views.withdraw),
            name="withdraw"),
    re_path(rf"{REQUIREMENT}$", page(learner_views.submit_evidence), name="submit_evidence"),
    re_path(rf"{REQUIREMENT}supervisor/$", page(learner_views.invite_supervisor), name="invite_supervisor"),
]
