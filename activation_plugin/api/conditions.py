"""
The instructor's answer to what migration 0015 asked of every survey written before activation
conditions existed: which answers mean the learner applied the skill (docs/decisions/0010).
"""
from django.db import transaction
from django.utils.translation import gettext as _

from activation_plugin import configs, figures
from activation_plugin.api.evidence import evaluate_window
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import ActivationWindow, Evidence, EvidenceRequirement


def surveys_without_condition(definition):
    """The definition's surveys still counting every answer because nobody has said which count."""
    return [requirement for requirement in definition.requirements.filter(kind=EvidenceRequirement.Kind.SURVEY)
            if not configs.condition_set(requirement.config)]


@transaction.atomic
def set_activation_condition(requirement, condition):
    """
    Give a survey that predates conditions its condition, even once learners have windows: the
    instructor decides what its past answers meant, so its history changes by their choice, never
    silently. Answers that do not meet it become responses (``not_met``) and their windows are
    evaluated again (an activation they alone made is undone; a closed window expires). Once set, the
    condition locks with the rest of the definition.

    Returns:
        dict: ``responses`` judged again, ``not_counted`` (answers that no longer count), ``windows``
        whose state changed.

    Raises:
        ActivationRequestError: not a survey, its condition already set, or an invalid condition.
    """
    requirement = EvidenceRequirement.objects.select_for_update().get(pk=requirement.pk)
    if requirement.kind != EvidenceRequirement.Kind.SURVEY:
        raise ActivationRequestError(_("Only a survey has an activation condition: its answers say whether the "
                                       "skill was applied."), field="activation_condition")
    if configs.condition_set(requirement.config):
        raise ActivationRequestError(_("This survey's activation condition is already set: changing it takes a new "
                                       "version of the definition."), field="activation_condition")
    config = configs.validate_config("survey", {**requirement.config, "activation_condition": condition})
    requirement.config = config
    requirement.save(update_fields=["config"])
    # Windows first, in key order, as every writer of evidence locks them: no deadlock with a submission.
    windows = list(ActivationWindow.objects.select_for_update().filter(evidence__requirement=requirement)
                   .distinct().order_by("pk"))
    responses = list(Evidence.objects.select_for_update().filter(requirement=requirement).exclude(
        status__in=(Evidence.Status.REJECTED, Evidence.Status.NOT_MET)))
    not_counted = [evidence for evidence in responses
                   if not configs.condition_met(config, evidence.payload.get("answers", {}))]
    for evidence in not_counted:
        evidence.status, evidence.strength, evidence.verified_at = Evidence.Status.NOT_MET, "", None
    Evidence.objects.bulk_update(not_counted, ["status", "strength", "verified_at"])
    touched = {evidence.window_id for evidence in not_counted}
    changed = 0
    for window in windows:
        if window.pk in touched:
            before = (window.state, window.activated_at)
            after = evaluate_window(window)
            changed += (after.state, after.activated_at) != before
    figures.invalidate(requirement.definition_id)
    return {"responses": len(responses), "not_counted": len(not_counted), "windows": changed}
