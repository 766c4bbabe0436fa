"""Read-only admin: operators inspect state here; changes go through the api and the pages."""
from django.contrib import admin

from activation_plugin import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """
    Writes bypassing the api would skip validation and idempotency, and a delete would cascade
    (a definition takes its windows, evidence and reviews with it, and every figure changes):
    the admin only reads. Learners leave through withdrawal and retirement, definitions through
    archiving.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.ActivationDefinition)
class ActivationDefinitionAdmin(ReadOnlyAdmin):
    list_display = ("name", "course_key", "status", "trigger", "window_days", "rule", "holdout_percent")
    list_filter = ("status", "trigger")
    search_fields = ("name", "course_key")


@admin.register(models.ActivationWindow)
class ActivationWindowAdmin(ReadOnlyAdmin):
    list_display = ("id", "definition", "user_id", "course_run", "state", "arm", "opened_at", "closes_at")
    list_filter = ("state", "arm")
    raw_id_fields = ("user", "definition")


@admin.register(models.Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "window_id", "requirement", "source", "status", "submitted_at")
    list_filter = ("status", "source")
    exclude = ("payload",)


@admin.register(models.MetricSource)
class MetricSourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "last_run_at", "last_status", "failing", "records_pulled", "duplicates_dropped")


for model in (models.EvidenceRequirement, models.FollowUpPrompt, models.PromptDelivery, models.Review,
              models.SupervisorInvite, models.MetricObservation, models.IdentityLink):
    admin.site.register(model, ReadOnlyAdmin)
