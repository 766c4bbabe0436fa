"""URLs of the REST API v1, included by the plugin under ``/api/activation/v1/`` (namespace ``api_v1``)."""
from django.urls import path

from activation_plugin.lock_waits import bounded_lock_waits
from activation_plugin.rest_api import schema
from activation_plugin.rest_api.v1 import portfolio, views

app_name = "api_v1"

# Ids are routed as text and checked by the api, so a malformed id is a JSON 404 like a missing one.
COURSE = "courses/<str:course_id>/"
DEFINITION = f"{COURSE}definitions/<str:definition_id>/"
EVIDENCE = f"{COURSE}evidence/<str:evidence_id>/"


def endpoint(view_class):
    """An endpoint waits for a row lock at most ``ACTIVATION_LOCK_WAIT_SECONDS``; a lost race is a 503."""
    return bounded_lock_waits(view_class.as_view())


urlpatterns = [
    path("", schema.IndexView.as_view(), name="index"),
    path("schema/", schema.SchemaView.as_view(), name="schema"),
    path("portfolio/", endpoint(portfolio.PortfolioView), name="portfolio"),
    path(f"{COURSE}definitions/", endpoint(views.DefinitionListView), name="definitions"),
    path(DEFINITION, endpoint(views.DefinitionDetailView), name="definition"),
    path(f"{DEFINITION}activate/", endpoint(views.ActivateDefinitionView), name="definition_activate"),
    path(f"{DEFINITION}archive/", endpoint(views.ArchiveDefinitionView), name="definition_archive"),
    path(f"{DEFINITION}requirements/", endpoint(views.RequirementListView), name="definition_requirements"),
    path(f"{DEFINITION}requirements/<str:requirement_id>/activation-condition/",
         endpoint(views.ActivationConditionView), name="requirement_activation_condition"),
    path(f"{DEFINITION}summary/", endpoint(views.SummaryView), name="definition_summary"),
    path(f"{DEFINITION}figures/", endpoint(views.FiguresView), name="definition_figures"),
    path(f"{COURSE}summaries/", endpoint(views.CourseSummaryView), name="summaries"),
    path(f"{COURSE}windows/", endpoint(views.WindowListView), name="windows"),
    path(f"{COURSE}evidence/", endpoint(views.EvidenceListView), name="evidence"),
    path(EVIDENCE, endpoint(views.EvidenceDetailView), name="evidence_detail"),
    path(f"{EVIDENCE}reviews/", endpoint(views.ReviewListView), name="evidence_reviews"),
    path(f"{COURSE}me/windows/", endpoint(views.LearnerWindowListView), name="my_windows"),
]
