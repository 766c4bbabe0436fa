"""
``GET /api/activation/v1/portfolio/``: the portfolio page's figures as JSON, for global staff, org-wide
staff and instructors, and members of ``ACTIVATION_PORTFOLIO_GROUP`` (issue 33).
"""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from activation_plugin import api, platform
from activation_plugin.models import Evidence
from activation_plugin.rest_api.v1.base import ActivationAPIView, documented, error_responses
from activation_plugin.rest_api.v1.serializers import plain_json

INTERVAL = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, "nullable": True}
NULLABLE_NUMBER = {"type": "number", "nullable": True}
NULLABLE_INTEGER = {"type": "integer", "nullable": True}


class MaySeePortfolio(BasePermission):
    """Global staff, members of ``ACTIVATION_PORTFOLIO_GROUP``, and whoever holds an org-wide role."""

    message = "Only global staff and org-wide staff or instructors may see the portfolio."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated) and platform.portfolio_orgs(user) != set()


class PortfolioFilterSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """The page's filters as query parameters; a bad value is a 400 naming it."""

    org = serializers.CharField(required=False, max_length=255, help_text="Only this org's courses.")
    course = serializers.CharField(required=False, max_length=255, help_text="Only this catalog course (Org+Course).")
    since = serializers.DateField(required=False, help_text="Only the runs whose first window opened on or after it.")
    until = serializers.DateField(required=False, help_text="Only the runs whose first window opened before it.")
    strength = serializers.ChoiceField(Evidence.Strength.choices, required=False, help_text=(
        "Count as activated only the windows backed by verified evidence of this strength."))
    sort = serializers.ChoiceField([*api.PORTFOLIO_SORTS, *(f"-{name}" for name in api.PORTFOLIO_SORTS)],
                                   required=False, help_text="The rows' order; a leading '-' reverses it.")

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "The period must start before it ends."})
        return attrs


@extend_schema_field({
    "type": "object",
    "properties": {
        "definition_id": {"type": "integer"}, "name": {"type": "string"}, "course_key": {"type": "string"},
        "catalog_course": {"type": "string"}, "org": {"type": "string"},
        **{name: NULLABLE_INTEGER for name in ("completers", "eligible", "activated", "rank", "prompted", "responded")},
        "rate": NULLABLE_NUMBER, "rate_ci": INTERVAL,
        "shrunken": {**NULLABLE_NUMBER, "description": "The rate pulled towards the portfolio's by the fitted "
                                                       "beta-binomial prior (posterior mean)."},
        "shrunken_ci": {**INTERVAL, "description": "[low, high] 95 % posterior interval of the shrunken rate."},
        "position": {"type": "string", "enum": ["high", "above", "inside", "below", "low"], "nullable": True,
                     "description": "On the funnel plot: beyond the 99.8 % limits (high, low), beyond only the 95 % "
                                    "ones (above, below), or inside."},
        "change": {"type": "object", "additionalProperties": True, "nullable": True,
                   "description": "The latest run's rate minus the previous run's: difference, ci, p_value, verdict."},
        "runs": {"type": "array", "items": {"type": "object", "additionalProperties": True}, "nullable": True},
        "response_rate": NULLABLE_NUMBER,
        "strength_mix": {"type": "object", "additionalProperties": NULLABLE_NUMBER, "nullable": True},
        "kpi": {"type": "object", "additionalProperties": True, "nullable": True,
                "description": "The first KPI's mean change of activated minus not activated learners (metric, "
                               "baseline_days, difference, ci, p_value, suppressed, as on the course page); null "
                               "without a KPI requirement or with a period chosen."},
        "suppressed": {"type": "boolean"},
    },
    "required": ["definition_id", "rate", "shrunken", "rank", "position", "suppressed"],
})
class PortfolioRowField(serializers.Field):  # pylint: disable=abstract-method  # output only
    """One course's row, converted by ``plain_json``."""

    def to_representation(self, value):
        return plain_json(value)


@extend_schema_field({"type": "object", "additionalProperties": True})
class PlainField(PortfolioRowField):  # pylint: disable=abstract-method  # output only
    """Any figure as plain JSON."""


class PortfolioSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """``api.portfolio``'s figures, the outliers by definition id."""

    rows = serializers.ListField(child=PortfolioRowField())
    pooled = PlainField(help_text="The portfolio's rate: eligible, activated, rate, rate_ci, suppressed.")
    prior = PlainField(allow_null=True, help_text=(
        "The beta-binomial prior fitted to the courses (alpha, beta, strength, rho), null with fewer than two "
        "courses with a rate or none that differs."))
    limits = serializers.ListField(child=PlainField(), help_text=(
        "The funnel plot's limits at course sizes n: low_0.95, high_0.95, low_0.998, high_0.998."))
    outliers = serializers.ListField(child=serializers.IntegerField(), help_text=(
        "The definitions outside the 95 % limits."))
    segments = PlainField(help_text=(
        "Per segment dimension (enrollment_mode, org), the rate of each value pooled over the courses shown: value, "
        "completers, eligible, activated, rate, rate_ci, suppressed (a dimension with one hidden value is hidden "
        "whole)."))
    orgs = serializers.ListField(child=serializers.CharField())
    courses = serializers.ListField(child=serializers.CharField())


class PortfolioView(ActivationAPIView):
    """Not course-scoped: the caller's roles choose the courses (``api.portfolio_definitions``)."""

    permission_classes = (MaySeePortfolio,)
    serializer_class = PortfolioSerializer
    pagination_class = None

    @documented(tags=["figures"], summary="Every active definition the caller's org-wide role covers, compared",
                parameters=[PortfolioFilterSerializer],
                responses={200: PortfolioSerializer, **error_responses(400)})
    def get(self, request):
        filters = PortfolioFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        chosen = dict(filters.validated_data)
        sort = chosen.pop("sort", "rank")
        figures = api.portfolio(request.user, api.PortfolioFilters(**chosen), sort)
        return Response(PortfolioSerializer({**figures, "outliers": [
            row["definition_id"] for row in figures["outliers"]]}).data)
