"""URLs of the REST API v1, included by the plugin under ``/api/activation/v1/`` (namespace ``api_v1``)."""
from django.urls import path

from activation_plugin.rest_api import schema
from activation_plugin.rest_api.v1 import views

app_name = "api_v1"

# Ids are routed as text and checked by the api, so a malformed id is a JSON 404 like a missing one.
COURSE = "courses/<str:course_id>/"
DEFINITION = f"{COURSE}definitions/<str:definition_id>/"
EVIDENCE = f"{COURSE}evidence/<str:evidence_id>/"

urlpatterns = [
    path("schema/", schema.SchemaView.as_view(), name="schema"),
    path(f"{COURSE}definitions/", views.DefinitionListView.as_view(), name="definitions"),
    path(DEFINITION, views.DefinitionDetailView.as_view(), name="definition"),
    path(f"{DEFINITION}activate/", views.ActivateDefinitionView.as_view(), name="definition_activate"),
    path(f"{DEFINITION}archive/", views.ArchiveDefinitionView.as_view(), name="definition_archive"),
    path(f"{DEFINITION}requirements/", views.RequirementListView.as_view(), name="definition_requirements"),
    path(f"{DEFINITION}requirements/<str:requirement_id>/activation-condition/",
         views.ActivationConditionView.as_view(), name="requirement_activation_condition"),
    path(f"{DEFINITION}summary/", views.SummaryView.as_view(), name="definition_summary"),
    path(f"{DEFINITION}figures/", views.FiguresView.as_view(), name="definition_figures"),
    path(f"{COURSE}summaries/", views.CourseSummaryView.as_view(), name="summaries"),
    path(f"{COURSE}windows/", views.WindowListView.as_view(), name="windows"),
    path(f"{COURSE}evidence/", views.EvidenceListView.as_view(), name="evidence"),
    path(EVIDENCE, views.EvidenceDetailView.as_view(), name="evidence_detail"),
    path(f"{EVIDENCE}reviews/", views.ReviewListView.as_view(), name="evidence_reviews"),
    path(f"{COURSE}me/windows/", views.LearnerWindowListView.as_view(), name="my_windows"),
]
