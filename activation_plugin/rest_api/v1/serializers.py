"""
Shapes of the REST API v1. Input serializers check types and database ranges only; what makes a
definition or a review valid is decided by ``activation_plugin.api``, whose errors the views
return as they are, so the rules live in one place.
"""
import dataclasses
import datetime
import decimal
import math
from collections.abc import Mapping

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activation_plugin import api, configs
from activation_plugin.models import (
    ActivationDefinition,
    ActivationWindow,
    Evidence,
    EvidenceRequirement,
    FollowUpPrompt,
    Review,
)

# Day counts are stored in unsigned integer columns; no sensible schedule needs more than this.
MAX_DAYS = 32767


class ErrorSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """Every 4xx body: which input was wrong (if one was) and a sentence saying what to change."""

    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Per-field messages when the body had the wrong shape.")


class OutputSerializer(serializers.ModelSerializer):
    """
    A model as the API returns it. Integer bounds come from the database backend (SQLite and
    MariaDB differ), so they are left out of the published schema: they bound storage, not meaning.
    """

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        kwargs.pop("max_value", None)
        kwargs.pop("min_value", None)
        return field_class, kwargs


# --- definitions -----------------------------------------------------------------------------

class PromptSerializer(OutputSerializer):
    class Meta:
        model = FollowUpPrompt
        fields = ["id", "condition", "metric", "send_after_days", "reminder_days", "subject", "body", "translations"]


class ActivationConditionMixin(serializers.Serializer):  # pylint: disable=abstract-method
    activation_condition_text = serializers.SerializerMethodField(
        help_text="A survey's activation condition (`config.activation_condition`) in the words the pages use; "
                  "empty for other kinds.")

    def get_activation_condition_text(self, requirement) -> str:
        return configs.describe_condition(requirement.config)


class RequirementSerializer(ActivationConditionMixin, OutputSerializer):
    prompts = PromptSerializer(many=True, read_only=True)

    class Meta:
        model = EvidenceRequirement
        fields = ["id", "kind", "title", "config", "activation_condition_text", "verification", "reviews_required",
                  "position", "prompts"]


class DefinitionSerializer(OutputSerializer):
    """A definition as staff see it. The holdout seed is a secret and never leaves the server."""

    course_id = serializers.CharField(source="course_key", read_only=True)
    locked = serializers.BooleanField(
        source="has_windows", read_only=True,
        help_text="Learners have windows: trigger, window, rule and holdout can no longer change.")
    requirements = RequirementSerializer(many=True, read_only=True)

    class Meta:
        model = ActivationDefinition
        fields = ["id", "course_id", "name", "behavior", "trigger", "window_days", "rule", "rule_count",
                  "holdout_percent", "status", "locked", "created", "modified", "activated_at", "archived_at",
                  "comparison_plan", "requirements"]
        read_only_fields = ["comparison_plan"]


class TranslationSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    subject = serializers.CharField()
    body = serializers.CharField()


class PromptInputSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    send_after_days = serializers.IntegerField(min_value=0, max_value=MAX_DAYS, default=0)
    reminder_days = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_DAYS),
                                          default=list)
    subject = serializers.CharField()
    body = serializers.CharField()
    condition = serializers.ChoiceField(FollowUpPrompt.Condition.choices, default=FollowUpPrompt.Condition.ALWAYS)
    metric = serializers.CharField(required=False, allow_blank=True, max_length=100)
    translations = serializers.DictField(child=TranslationSerializer(), default=dict,
                                         help_text='{"fr": {"subject": "…", "body": "…"}}')


class RequirementInputSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    kind = serializers.ChoiceField(EvidenceRequirement.Kind.choices)
    title = serializers.CharField(max_length=255)
    config = serializers.DictField(default=dict, help_text="Validated by kind; see the how-to guides.")
    verification = serializers.ChoiceField(EvidenceRequirement.Verification.choices,
                                           default=EvidenceRequirement.Verification.NONE)
    reviews_required = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=1)
    prompts = PromptInputSerializer(many=True, default=list)


class ActivationConditionInputSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """A survey's activation condition, for a survey written before conditions existed."""

    activation_condition = serializers.DictField(
        help_text='`{"match": "all" | "any", "answers": [{"question": "q1", "options": ["Yes"]}, '
                  '{"question": "q2", "at_least": 4}]}`, or `{"match": "any_answer"}`: every answer counts.')


class ActivationConditionResultSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    responses = serializers.IntegerField(help_text="Answers already given, judged against the condition.")
    not_counted = serializers.IntegerField(help_text="Of those, the answers that no longer count as activation.")
    windows = serializers.IntegerField(help_text="Windows whose state changed (an activation undone).")


class ActivateInputSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """Activation archives the course's other active definitions; one it does not replace only when confirmed."""

    supersede = serializers.BooleanField(
        default=False, help_text="Archive the course's other active definitions (a learner has one follow-up per "
                                 "course). Without it, activation is refused with 409 while another is active.")


class DefinitionUpdateSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    """The editable fields; on a partial update only those sent change."""

    name = serializers.CharField(max_length=255)
    behavior = serializers.CharField()
    trigger = serializers.ChoiceField(ActivationDefinition.Trigger.choices,
                                      default=ActivationDefinition.Trigger.PASSING)
    window_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS)
    rule = serializers.ChoiceField(ActivationDefinition.Rule.choices, default=ActivationDefinition.Rule.ANY)
    rule_count = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, allow_null=True, default=None)
    holdout_percent = serializers.IntegerField(min_value=0, max_value=100, default=0)


class DefinitionInputSerializer(DefinitionUpdateSerializer):  # pylint: disable=abstract-method
    requirements = RequirementInputSerializer(many=True, default=list)


# --- windows and evidence --------------------------------------------------------------------

class WindowSerializer(OutputSerializer):
    definition_id = serializers.IntegerField(read_only=True)
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    course_run = serializers.CharField(read_only=True)

    class Meta:
        model = ActivationWindow
        fields = ["id", "definition_id", "user_id", "username", "course_run", "trigger", "opened_at", "closes_at",
                  "state", "activated_at", "days_to_activation", "arm", "enrollment_mode", "org", "cohort"]


class ReviewSerializer(OutputSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True, allow_null=True, default=None,
                                     help_text="Username of the reviewer; null for a supervisor without an account.")

    class Meta:
        model = Review
        fields = ["id", "role", "verdict", "score", "checklist", "comment", "reviewer", "created"]


class EvidenceSerializer(OutputSerializer):
    """
    Evidence with its reviews, for course staff and integrations; an attachment is a link to the page
    that checks who may download it.
    """

    window_id = serializers.IntegerField(read_only=True)
    definition_id = serializers.IntegerField(source="window.definition_id", read_only=True)
    requirement_id = serializers.IntegerField(read_only=True)
    requirement_title = serializers.CharField(source="requirement.title", read_only=True)
    requirement_kind = serializers.CharField(source="requirement.kind", read_only=True)
    user_id = serializers.IntegerField(source="window.user_id", read_only=True)
    username = serializers.CharField(source="window.user.username", read_only=True)
    has_file = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField(
        help_text="The page that downloads the attachment (LMS session); null without one.")
    reviews = ReviewSerializer(many=True, read_only=True)

    class Meta:
        model = Evidence
        fields = ["id", "window_id", "definition_id", "requirement_id", "requirement_title", "requirement_kind",
                  "user_id", "username", "source", "status", "strength", "submitted_at", "verified_at", "payload",
                  "has_file", "file_url", "reviews"]

    def get_has_file(self, evidence) -> bool:
        return bool(evidence.file)

    def get_file_url(self, evidence) -> str | None:
        """Attachments are served by the page that checks who may download them, never by the API."""
        if not evidence.file:
            return None
        path = reverse("activation_plugin:evidence_file",
                       kwargs={"course_id": self.context["course_id"], "evidence_id": evidence.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ReviewInputSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    verdict = serializers.ChoiceField(Review.Verdict.choices, required=False, default=None, allow_null=True,
                                      help_text="Required without a rubric; with one, the scores decide.")
    comment = serializers.CharField(allow_blank=True, default="")
    scores = serializers.DictField(
        child=serializers.IntegerField(), required=False, default=None, allow_null=True,
        help_text="Points per rubric criterion (`{\"criterion\": points}`), every criterion scored, when the "
                  "requirement has a rubric: verified from its `pass_ratio` of the points, as for peers.")
    version = serializers.DateTimeField(
        required=False, default=None,
        help_text="The evidence's `submitted_at` as read: a verdict on a version the learner has changed since "
                  "is refused (400, field `version`).")


class ReviewResultSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    review = ReviewSerializer()
    evidence = EvidenceSerializer()


# --- filters (query parameters) --------------------------------------------------------------

class WindowFilterSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    definition = serializers.IntegerField(min_value=1, max_value=api.MAX_ID, required=False)
    state = serializers.ChoiceField(ActivationWindow.State.choices, required=False)
    arm = serializers.ChoiceField(ActivationWindow.Arm.choices, required=False)
    course_run = serializers.CharField(required=False, help_text="A course run key, e.g. course-v1:Org+Course+Run.")
    opened_after = serializers.DateTimeField(required=False, help_text="Opened at or after this time.")
    opened_before = serializers.DateTimeField(required=False, help_text="Opened before this time.")


class EvidenceFilterSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    status = serializers.ChoiceField(Evidence.Status.choices, required=False)
    requirement = serializers.IntegerField(min_value=1, max_value=api.MAX_ID, required=False)
    definition = serializers.IntegerField(min_value=1, max_value=api.MAX_ID, required=False)


# --- learners --------------------------------------------------------------------------------

class LearnerRequirementSerializer(ActivationConditionMixin, OutputSerializer):
    class Meta:
        model = EvidenceRequirement
        fields = ["id", "kind", "title", "config", "activation_condition_text", "verification"]


class FeedbackSerializer(OutputSerializer):
    """What a learner may know about a review: the role and the words, never who wrote them."""

    class Meta:
        model = Review
        fields = ["role", "verdict", "comment"]


class LearnerEvidenceSerializer(OutputSerializer):
    requirement_id = serializers.IntegerField(read_only=True)
    feedback = FeedbackSerializer(source="reviews", many=True, read_only=True)

    class Meta:
        model = Evidence
        fields = ["id", "requirement_id", "status", "submitted_at", "payload", "feedback"]


class LearnerDefinitionSerializer(OutputSerializer):
    requirements = LearnerRequirementSerializer(many=True, read_only=True)

    class Meta:
        model = ActivationDefinition
        fields = ["id", "name", "behavior", "requirements"]


class LearnerWindowSerializer(OutputSerializer):
    """A learner's own window. Its arm stays hidden: knowing it would bias the experiment."""

    definition = LearnerDefinitionSerializer(read_only=True)
    course_run = serializers.CharField(read_only=True)
    evidence = LearnerEvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = ActivationWindow
        fields = ["id", "definition", "course_run", "opened_at", "closes_at", "state", "activated_at", "evidence"]


# --- figures ---------------------------------------------------------------------------------

def plain_json(value):
    """
    The figures ``activation_plugin.figures`` returns, as plain JSON, whatever keys they gain.

    Named tuples and dataclasses become objects (their field names are the documentation), other
    tuples and sets lists, dates ISO 8601 strings, decimals floats; a non-finite float (an
    undefined ratio) becomes null, because JSON has no NaN. Anything else unknown becomes its
    string form rather than an error, so a new figure never breaks the endpoint.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return plain_json(float(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return plain_json(value._asdict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_json(item) for item in value]
    return str(value)


class SummaryDefinitionSerializer(OutputSerializer):
    class Meta:
        model = ActivationDefinition
        fields = ["id", "name", "status", "window_days", "holdout_percent"]


@extend_schema_field({
    "type": "object",
    "additionalProperties": True,
    "properties": {
        # Null when hidden (see "suppressed", "rate_suppressed" and docs/concepts/figures.rst).
        # eligible: windows that have ended; activated: of those; open: windows still running;
        # open_activated: running windows that already activated (not in the rate yet).
        **{name: {"type": "integer", "nullable": True}
           for name in ("completers", "eligible", "activated", "open", "open_activated", "not_activated")},
        "suppressed": {"type": "boolean"},
        "rate_suppressed": {"type": "boolean"},
        "km_suppressed": {"type": "boolean"},
        "running_left_out": {
            "type": "boolean",
            "description": "True when the viewer cannot see every run's learners row by row and some of those "
                           "learners' windows are running: the Kaplan–Meier figures then count those learners "
                           "only once their windows are counted as ended, and open_activated is null (docs/"
                           "decisions/0016-suppression-and-differencing.rst, \"The previous day\")."},
        "rate": {"type": "number", "nullable": True,
                 "description": "Activation rate: of the completers whose window has ended, the share who applied "
                                "the skill within it (windows still running are left out, activated or not)."},
        "rate_ci": {"type": "array", "items": {"type": "number"}, "nullable": True},
        "km_rate": {"type": "number", "nullable": True,
                    "description": "Kaplan–Meier estimate of the completers who applied the skill by day km_day: "
                                   "every window, each for the days it has been observed."},
        "km_day": {"type": "integer", "nullable": True,
                   "description": "The day km_rate is read at: the window's last day, or the longest anyone has "
                                  "been followed when nobody has been followed that long."},
        "km_ci": {"type": "array", "items": {"type": "number"}, "nullable": True,
                  "description": "[low, high] 95 % band of km_rate on km_day."},
        "km_curve": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "median_days": {"type": "integer", "nullable": True},
        "median_ci": {"type": "array", "items": {"type": "integer", "nullable": True}, "nullable": True,
                      "description": "[low, high] days; high null while unbounded; null when not estimable."},
        "quote": {"type": "string", "enum": ["rate", "km_rate"], "nullable": True,
                  "description": "The one figure to quote: the rate once most windows have ended, else Kaplan–Meier."},
    },
    "required": ["completers", "eligible", "activated", "open", "rate"],
})
class FiguresField(serializers.Field):  # pylint: disable=abstract-method  # output only: never parsed
    """The figures dict, converted by :func:`plain_json`."""

    def to_representation(self, value):
        return plain_json(value)


class SummarySerializer(serializers.Serializer):  # pylint: disable=abstract-method
    definition = SummaryDefinitionSerializer()
    figures = FiguresField(help_text=(
        "Everything activation_plugin.figures.summarize returns: completers, eligible (windows that have ended), "
        "activated (of those), open (windows still running), open_activated, not_activated, opted_out, rate, "
        "rate_ci, km_rate, km_day, km_ci, km_curve, median_days, median_ci, quote, by_strength and any figure "
        "added since. Rates "
        "are shares from 0 to 1, null when undefined or hidden; intervals are [low, high]."))


ANALYTICS_SECTIONS = ("computed_at", "summary", "funnel", "persistence", "runs", "arms", "segments", "kpi", "did",
                      "course_effect", "data_quality")


@extend_schema_field({
    "type": "object",
    "additionalProperties": True,
    "properties": {
        **{name: {"type": "object", "additionalProperties": True}
           for name in ("summary", "funnel", "persistence", "runs", "segments", "data_quality")},
        "computed_at": {"type": "string", "format": "date-time"},
        "arms": {"type": "object", "additionalProperties": True, "nullable": True},
        "kpi": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "did": {"type": "array", "items": {"type": "object", "additionalProperties": True},
                "description": "The follow-up's effect (effect_of: follow_up): prompted minus holdout mean KPI change "
                               "over learners measured in both periods (estimator: mean_over_complete_pairs)."},
        "course_effect": {"type": "array", "items": {"type": "object", "additionalProperties": True},
                          "description": "The course's effect (effect_of: course): completers' mean KPI change minus "
                                         "that of colleagues in the same source who never took the course, over the "
                                         "completers' calendar periods; design observational unless the registered "
                                         "plan says randomised (wait-listed); baselines and standardised_difference."},
        "roi": {"type": "object", "additionalProperties": True},
    },
    "required": list(ANALYTICS_SECTIONS),
})
class AnalyticsField(FiguresField):  # pylint: disable=abstract-method  # output only: never parsed
    """``api.analytics`` (plus ``roi`` when asked for), converted by :func:`plain_json`."""


class AnalyticsSerializer(serializers.Serializer):  # pylint: disable=abstract-method
    definition = SummaryDefinitionSerializer()
    figures = AnalyticsField(help_text=(
        "Everything activation_plugin.figures.analytics returns, the Activation page's figures: summary, funnel, "
        "persistence, runs, arms (null without a holdout; the follow-up's effect), segments, kpi, did (the follow-up's "
        "effect), course_effect (the course's, against untrained colleagues) and data_quality, with small groups "
        "suppressed (their numbers null); roi too when value_per_activation and programme_cost are given (of the "
        "course, or of the follow-up with roi_of=follow_up; interval_kind says ci95 or worst_case)."))
