"""
REST API v1 views: each parses the request, calls ``activation_plugin.api`` and serializes the
result. Every id in a URL is looked up within the course of the URL (a 404 otherwise), and the
permission is checked against that course.
"""
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from activation_plugin import api
from activation_plugin.api.definitions import activate_definition, archive_definition, create_definition
from activation_plugin.api.queries import definition_in_course

# Registers the OpenAPI description of the LMS authentication classes.
from activation_plugin.rest_api import schema_extensions  # noqa: F401  pylint: disable=unused-import
from activation_plugin.rest_api.v1 import serializers as s
from activation_plugin.rest_api.v1.base import (
    IDEMPOTENCY_PARAMETER,
    ActivationAPIView,
    documented,
    error_responses,
    once_per_key,
)
from activation_plugin.rest_api.v1.permissions import IsAuthenticatedLearner

DEFINITIONS = ["definitions"]
FIGURES = ["figures"]
WINDOWS = ["windows"]
EVIDENCE = ["evidence"]
LEARNER = ["learner"]


class DefinitionMixin:
    """Views about one definition: the id is looked up within the course of the URL."""

    def get_definition(self):
        return definition_in_course(self.course_key, self.kwargs["definition_id"])

    def get_configurable_definition(self):
        """The definition, if the caller's role covers changing it (403 otherwise)."""
        definition = self.get_definition()
        api.check_may_configure(self.request.user, self.course_key, definition)
        return definition

    def definition_response(self, definition, code=status.HTTP_200_OK):
        """The definition as stored, re-read so that its requirements and lock state are current."""
        fresh = definition_in_course(self.course_key, definition.pk)
        return Response(s.DefinitionSerializer(fresh).data, status=code)


class DefinitionListView(DefinitionMixin, ActivationAPIView):
    """A course run's definitions, and where integrations create one."""

    serializer_class = s.DefinitionSerializer
    pagination_class = None  # a course has a handful of definitions

    @documented(tags=DEFINITIONS, summary="List the definitions covering this course run",
                responses={200: s.DefinitionSerializer(many=True), **error_responses(404)})
    def get(self, request, course_id):  # pylint: disable=unused-argument
        definitions = api.definitions_with_requirements(self.course_key)
        return Response(s.DefinitionSerializer(definitions, many=True).data)

    @documented(tags=DEFINITIONS, summary="Create a draft definition with its requirements and prompts",
                request=s.DefinitionInputSerializer, parameters=[IDEMPOTENCY_PARAMETER],
                responses={201: s.DefinitionSerializer, **error_responses(400, 404, 409)})
    def post(self, request, course_id):  # pylint: disable=unused-argument
        """
        Staff who may configure the course create a draft; the same ``Idempotency-Key`` returns the first
        response instead of a second definition.
        """
        api.check_may_configure(request.user, self.course_key)

        def create():
            data = _validated(s.DefinitionInputSerializer, request.data)
            definition = create_definition(course_key=self.course_key, created_by=request.user, **data)
            return self.definition_response(definition, status.HTTP_201_CREATED)
        return once_per_key(request, create)


class DefinitionDetailView(DefinitionMixin, ActivationAPIView):
    """
    One definition; the fields that shape the history of opened windows refuse to change once learners
    have windows (409).
    """

    serializer_class = s.DefinitionSerializer

    @documented(path_ids=["definition_id"], tags=DEFINITIONS, summary="Read one definition",
                responses={200: s.DefinitionSerializer, **error_responses(404)})
    def get(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        return Response(s.DefinitionSerializer(self.get_definition()).data)

    @documented(path_ids=["definition_id"], tags=DEFINITIONS, summary="Change some of a definition's fields",
                description="Trigger, window, rule and holdout are locked once learners have windows (409).",
                request=s.DefinitionUpdateSerializer(partial=True),
                responses={200: s.DefinitionSerializer, **error_responses(400, 404, 409)})
    def patch(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        definition = self.get_configurable_definition()
        changes = _validated(s.DefinitionUpdateSerializer, request.data, partial=True)
        return self.definition_response(api.update_definition(definition, **changes))


class ActivateDefinitionView(DefinitionMixin, ActivationAPIView):
    """What the definition page's Activate button does, for integrations: one follow-up per course, confirmed."""

    serializer_class = s.DefinitionSerializer

    @documented(path_ids=["definition_id"], tags=DEFINITIONS, request=s.ActivateInputSerializer,
                summary="Start opening windows for completers (idempotent)",
                description="Another active definition of the course is archived: the one this version replaces "
                            "at once, any other only with `supersede` (409 otherwise).",
                responses={200: s.DefinitionSerializer, **error_responses(400, 404, 409)})
    def post(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        definition = self.get_configurable_definition()
        supersede = _validated(s.ActivateInputSerializer, request.data)["supersede"]
        return self.definition_response(activate_definition(definition, supersede=supersede))


class ArchiveDefinitionView(DefinitionMixin, ActivationAPIView):
    serializer_class = s.DefinitionSerializer

    @documented(path_ids=["definition_id"], tags=DEFINITIONS, request=None,
                summary="Stop opening new windows; existing windows run to their end (idempotent)",
                responses={200: s.DefinitionSerializer, **error_responses(404)})
    def post(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        return self.definition_response(archive_definition(self.get_configurable_definition()))


class RequirementListView(DefinitionMixin, ActivationAPIView):
    """Requirements added through the API, as the configuration page adds them: only while no learner has a window."""

    serializer_class = s.DefinitionSerializer

    @documented(path_ids=["definition_id"], tags=DEFINITIONS,
                summary="Add an evidence requirement (before any window exists)",
                request=s.RequirementInputSerializer, parameters=[IDEMPOTENCY_PARAMETER],
                responses={201: s.DefinitionSerializer, **error_responses(400, 404, 409)})
    def post(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        """
        Under the same ``Idempotency-Key``, a retried request returns the first response instead of adding
        the requirement twice.
        """
        definition = self.get_configurable_definition()

        def add():
            api.add_requirement(definition, _validated(s.RequirementInputSerializer, request.data))
            return self.definition_response(definition, status.HTTP_201_CREATED)
        return once_per_key(request, add)


class ActivationConditionView(DefinitionMixin, ActivationAPIView):
    """The REST side of the definition page's form for surveys that predate activation conditions."""

    serializer_class = s.ActivationConditionResultSerializer

    @documented(path_ids=["definition_id", "requirement_id"], tags=DEFINITIONS,
                summary="Set the activation condition of a survey written before conditions existed",
                description="Only while the survey's `config.activation_condition` is `{\"match\": \"not_set\"}` "
                "(migration 0015), windows or not: the answers already given are judged against it and their "
                "windows evaluated again. Once set, it locks (400, field `activation_condition`).",
                request=s.ActivationConditionInputSerializer, parameters=[IDEMPOTENCY_PARAMETER],
                responses={200: s.ActivationConditionResultSerializer, **error_responses(400, 404)})
    def post(self, request, course_id, definition_id, requirement_id):  # pylint: disable=unused-argument
        """Idempotent per ``Idempotency-Key``: a retry returns the first answer; a second condition is refused."""
        requirement = api.requirement_in_definition(self.get_configurable_definition(), requirement_id)

        def set_condition():
            condition = _validated(s.ActivationConditionInputSerializer, request.data)["activation_condition"]
            return Response(api.set_activation_condition(requirement, condition))
        return once_per_key(request, set_condition)


class SummaryView(DefinitionMixin, ActivationAPIView):
    serializer_class = s.SummarySerializer

    @documented(path_ids=["definition_id"], tags=FIGURES,
                summary="The headline figures of one definition (all of them: figures/)",
                responses={200: s.SummarySerializer, **error_responses(404)})
    def get(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        definition = self.get_definition()
        figures = api.summarize(definition, visible_runs=api.runs_seen_by(request.user, self.course_key))
        return Response(s.SummarySerializer({"definition": definition, "figures": figures}).data)


ROI_PARAMETERS = [
    OpenApiParameter(name, {"type": "number", "minimum": 0}, OpenApiParameter.QUERY, required=False,
                     description=description)
    for name, description in (
        ("value_per_activation", "Value of one activated learner; with programme_cost, adds roi."),
        ("value_per_activation_high", "With value_per_activation, the top of the range the value is known within."),
        ("programme_cost", "The programme's cost (more than zero); with value_per_activation."),
        ("programme_cost_high", "With programme_cost, the top of the range the cost is known within."),
        ("counterfactual_share", "Share (0 to 1) of the activations that would have happened without the course; "
                                 "without it the course's ROI credits every activation (an upper bound)."))
] + [OpenApiParameter("roi_of", {"type": "string", "enum": ["course", "follow_up"], "default": "course"},
                      OpenApiParameter.QUERY, required=False,
                      description="Whose return: the course's activations, or those the follow-up reminders added "
                                  "(prompted minus holdout; needs a holdout).")]


class FiguresView(DefinitionMixin, ActivationAPIView):
    """The Activation page's figures as JSON, for dashboards and reports outside the LMS."""

    serializer_class = s.AnalyticsSerializer

    @documented(path_ids=["definition_id"], tags=FIGURES, parameters=ROI_PARAMETERS,
                summary="Every figure of the Activation page for one definition (and ROI when asked)",
                responses={200: s.AnalyticsSerializer, **error_responses(400, 404)})
    def get(self, request, course_id, definition_id):  # pylint: disable=unused-argument
        definition = self.get_definition()
        figures = dict(api.page_figures(definition, visible_runs=api.runs_seen_by(request.user, self.course_key)))
        amounts = api.roi_amounts(request.query_params)
        if amounts:
            figures["roi"] = api.roi(definition, *amounts)
        return Response(s.AnalyticsSerializer({"definition": definition, "figures": figures}).data)


class CourseSummaryView(ActivationAPIView):
    """The landing page's cards as JSON: each definition of the run with its headline figures."""

    serializer_class = s.SummarySerializer
    pagination_class = None

    @documented(tags=FIGURES, summary="The figures of every active or archived definition of this course run",
                responses={200: s.SummarySerializer(many=True), **error_responses(404)})
    def get(self, request, course_id):  # pylint: disable=unused-argument
        summaries = [{"definition": definition, "figures": figures}
                     for definition, figures in api.course_summaries(
                         self.course_key, visible_runs=api.runs_seen_by(request.user, self.course_key))]
        return Response(s.SummarySerializer(summaries, many=True).data)


class WindowListView(ActivationAPIView):
    """The course run's windows, paged, for integrations that follow learners one by one."""

    serializer_class = s.WindowSerializer

    @documented(tags=WINDOWS, summary="The windows of this course run's learners, newest first",
                parameters=[s.WindowFilterSerializer],
                responses={200: s.WindowSerializer(many=True), **error_responses(400, 404)})
    def get(self, request, course_id):  # pylint: disable=unused-argument
        """
        The filters come from the query string, validated: a bad value is a 400 naming the parameter, never
        an empty page.
        """
        filters = _validated(s.WindowFilterSerializer, request.query_params)
        windows = api.windows_in_course(
            self.course_key, definition_id=filters.get("definition"), state=filters.get("state"),
            arm=filters.get("arm"), course_run=filters.get("course_run"),
            opened_after=filters.get("opened_after"), opened_before=filters.get("opened_before"),
        )
        return self.get_paginated_response(s.WindowSerializer(self.paginate_queryset(windows), many=True).data)


class EvidenceListView(ActivationAPIView):
    """The course run's evidence, paged, with reviews and attachment links, for review tools outside the LMS."""

    serializer_class = s.EvidenceSerializer

    @documented(tags=EVIDENCE, summary="Evidence of this course run's learners, newest first, with its reviews",
                parameters=[s.EvidenceFilterSerializer],
                responses={200: s.EvidenceSerializer(many=True), **error_responses(400, 404)})
    def get(self, request, course_id):  # pylint: disable=unused-argument
        """Validated filters, as for windows; attachment links need the course, passed in the serializer's context."""
        filters = _validated(s.EvidenceFilterSerializer, request.query_params)
        evidence = api.evidence_list_in_course(
            self.course_key, status=filters.get("status"), requirement_id=filters.get("requirement"),
            definition_id=filters.get("definition"),
        )
        page = self.paginate_queryset(evidence)
        return self.get_paginated_response(s.EvidenceSerializer(page, many=True, context=self.links()).data)


class EvidenceDetailView(ActivationAPIView):
    serializer_class = s.EvidenceSerializer

    @documented(path_ids=["evidence_id"], tags=EVIDENCE, summary="One piece of evidence with its reviews",
                responses={200: s.EvidenceSerializer, **error_responses(404)})
    def get(self, request, course_id, evidence_id):  # pylint: disable=unused-argument
        evidence = api.evidence_detail_in_course(self.course_key, evidence_id)
        return Response(s.EvidenceSerializer(evidence, context=self.links()).data)


class ReviewListView(ActivationAPIView):
    """Staff verdicts through the API, under the same rules as the review queue."""

    serializer_class = s.ReviewResultSerializer

    @documented(path_ids=["evidence_id"], tags=EVIDENCE, summary="Record a staff verdict on a piece of evidence",
                description="Staff decide alone: the window is re-evaluated at once. With a rubric, send `scores` "
                "(points per criterion): the pass mark decides, as for peers, and a `verdict` that contradicts the "
                "scores is refused (400, field `verdict`). One review per reviewer and evidence; a second one is "
                "refused (400, field `reviewer`).",
                request=s.ReviewInputSerializer, parameters=[IDEMPOTENCY_PARAMETER],
                responses={201: s.ReviewResultSerializer, **error_responses(400, 404, 409)})
    def post(self, request, course_id, evidence_id):  # pylint: disable=unused-argument
        """
        The response holds the evidence as it now stands, re-read after the verdict, so a client sees
        whether it settled. Idempotent per ``Idempotency-Key``.
        """
        evidence = api.evidence_detail_in_course(self.course_key, evidence_id)

        def review():
            data = _validated(s.ReviewInputSerializer, request.data)
            recorded = api.staff_review(evidence, request.user, **data)
            result = {"review": recorded, "evidence": api.evidence_detail_in_course(self.course_key, evidence.pk)}
            return Response(s.ReviewResultSerializer(result, context=self.links()).data,
                            status=status.HTTP_201_CREATED)
        return once_per_key(request, review)


class LearnerWindowListView(ActivationAPIView):
    """The caller's own windows: nobody can name another learner here, so there is nothing to guess."""

    serializer_class = s.LearnerWindowSerializer
    permission_classes = (IsAuthenticatedLearner,)
    pagination_class = None

    @documented(tags=LEARNER, summary="My windows in this course, with what to do and my evidence",
                responses={200: s.LearnerWindowSerializer(many=True), **error_responses(404)})
    def get(self, request, course_id):  # pylint: disable=unused-argument
        windows = api.learner_windows(request.user, self.course_key)
        return Response(s.LearnerWindowSerializer(windows, many=True).data)


def _validated(serializer_class, data, partial=False):
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
