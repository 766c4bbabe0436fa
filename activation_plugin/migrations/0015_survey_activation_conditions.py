"""
Surveys gain an activation condition (which answers mean "applied it"), and evidence a status for a
survey response that does not meet it. See docs/decisions/0010-survey-activation-conditions.rst.

Existing survey requirements are marked ``{"match": "not_set"}``: their answers keep counting as they
did, so no window's history changes silently, and the definition page and the builder ask the
instructor to write a condition (or confirm that every answer counts).
"""
from django.db import migrations, models

NOT_SET = {"match": "not_set"}


def mark_conditions_not_set(apps, schema_editor):  # pylint: disable=unused-argument
    requirement_model = apps.get_model("activation_plugin", "EvidenceRequirement")
    for requirement in requirement_model.objects.filter(kind="survey").only("pk", "config"):
        if isinstance(requirement.config, dict) and "activation_condition" not in requirement.config:
            requirement.config = {**requirement.config, "activation_condition": dict(NOT_SET)}
            requirement.save(update_fields=["config"])


def unmark_conditions(apps, schema_editor):  # pylint: disable=unused-argument
    """
    Back to code that counts every survey answer: conditions are dropped and responses that did not
    meet theirs become verified self-reports, as that code would have stored them.
    """
    requirement_model = apps.get_model("activation_plugin", "EvidenceRequirement")
    evidence_model = apps.get_model("activation_plugin", "Evidence")
    for requirement in requirement_model.objects.filter(kind="survey").only("pk", "config"):
        if isinstance(requirement.config, dict) and "activation_condition" in requirement.config:
            requirement.config = {k: v for k, v in requirement.config.items() if k != "activation_condition"}
            requirement.save(update_fields=["config"])
    evidence_model.objects.filter(status="not_met").update(status="verified", strength="self_report")


class Migration(migrations.Migration):

    dependencies = [
        ('activation_plugin', '0014_tallies'),
    ]

    operations = [
        migrations.AlterField(
            model_name='evidence',
            name='status',
            field=models.CharField(choices=[('submitted', 'Submitted'), ('verified', 'Verified'),
                                            ('rejected', 'Rejected'),
                                            ('not_met', 'Does not meet the activation condition')],
                                   default='submitted', max_length=16),
        ),
        migrations.RunPython(mark_conditions_not_set, unmark_conditions),
    ]
