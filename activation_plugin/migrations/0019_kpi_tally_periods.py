"""
Issue 34: the course effect reads its completers from the KPI tallies, which now keep the sum of
the squared baselines and are kept per opening period (the UTC day the windows opened and their
length in days), by which the course effect weighs its untrained colleagues.

What a window stores it adds (``tallied``) has neither, so the tallies of every definition with a
KPI requirement are emptied with what its windows store, and marked never built: its figures are
counted from its windows until the tick builds them again by chunks (``rebuild_missing``), or
until ``manage.py lms activation_rebuild_tallies --missing --online`` does
(docs/references/performance.rst).
"""
import datetime

from django.db import migrations, models

TALLIES = ("WindowTally", "ActivationDayTally", "CensorTally", "KpiTally")


def empty_kpi_definitions(apps, schema_editor):  # pylint: disable=unused-argument
    """Empty the tallies of the definitions with a KPI requirement, which the tick then builds again."""
    definitions = list(apps.get_model("activation_plugin", "EvidenceRequirement").objects.filter(
        kind="metric").values_list("definition_id", flat=True).distinct())
    if not definitions:
        return
    for name in TALLIES:
        apps.get_model("activation_plugin", name).objects.filter(definition_id__in=definitions).delete()
    apps.get_model("activation_plugin", "ActivationWindow").objects.filter(
        definition_id__in=definitions).update(tallied=None)
    apps.get_model("activation_plugin", "ActivationDefinition").objects.filter(
        pk__in=definitions).update(tallies_built_at=None)


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0018_performance"),
    ]

    operations = [
        migrations.RunPython(empty_kpi_definitions, migrations.RunPython.noop),
        migrations.AddField(
            model_name="kpitally",
            name="opened_on",
            field=models.DateField(default=datetime.date(1970, 1, 1), help_text="The UTC day the windows opened."),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="kpitally",
            name="window_days",
            field=models.IntegerField(default=0, help_text="The windows' length in whole days."),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="kpitally",
            name="sum_pre_squares",
            field=models.FloatField(default=0.0, help_text="For the spread of the baselines."),
        ),
        # Added before the old key is dropped: MariaDB's foreign key on the definition needs an index
        # that starts with it at every moment.
        migrations.AddConstraint(
            model_name="kpitally",
            constraint=models.UniqueConstraint(
                fields=("definition", "metric", "arm", "activated", "closes_on", "opened_on", "window_days"),
                name="act_tally_kpi_period"),
        ),
        migrations.RemoveConstraint(
            model_name="kpitally",
            name="act_tally_kpi",
        ),
    ]
