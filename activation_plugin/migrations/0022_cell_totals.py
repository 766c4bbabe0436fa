"""
Issue 33 (scale): each cell's tally rows summed over their closing days (``CellTotal``), moved with
them by every write, so the figures read one row per cell and only the rows closing from today on
(the new ``(definition, closes_on)`` index) instead of grouping every closing day's rows.

The totals of the tallies already kept are summed here, in one ``INSERT … SELECT`` per database.
"""
import django.db.models.deletion
import opaque_keys.edx.django.models
from django.db import migrations, models

TEXTS = ("course_run", "arm", "enrollment_mode", "org", "cohort")
COUNTERS = ("completers", "activated", "prompted", "responded", "verified", "repeat", "verified_evidence",
            "awaiting_review", "strength_self_report", "strength_peer", "strength_staff", "strength_supervisor",
            "strength_kpi")


def sum_the_kept_tallies(apps, schema_editor):
    """Every built definition's cell totals, from its tally rows (the cell's texts are the same on each of its rows)."""
    quote = schema_editor.connection.ops.quote_name
    totals = apps.get_model("activation_plugin", "CellTotal")._meta.db_table
    tallies = apps.get_model("activation_plugin", "WindowTally")._meta.db_table
    texts, counters = [quote(name) for name in TEXTS], [quote(name) for name in COUNTERS]
    least = ", ".join(f"MIN({text})" for text in texts)
    sums = ", ".join(f"SUM({counter})" for counter in counters)
    with schema_editor.connection.cursor() as cursor:  # rows, not DDL: MySQL runs this inside the migration's atomic()
        cursor.execute(
            f"INSERT INTO {quote(totals)} (definition_id, cell, {', '.join(texts)}, first_opened, {', '.join(counters)})"
            f" SELECT definition_id, cell, {least}, MIN(first_opened), {sums} FROM {quote(tallies)}"
            " GROUP BY definition_id, cell")


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0021_course_follow_up"),
    ]

    operations = [
        migrations.CreateModel(
            name="CellTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("cell", models.CharField(help_text="A digest of the run, arm and segment below.", max_length=40)),
                ("course_run", opaque_keys.edx.django.models.CourseKeyField(max_length=255)),
                ("arm", models.CharField(max_length=16)),
                ("enrollment_mode", models.CharField(blank=True, max_length=100)),
                ("org", models.CharField(blank=True, max_length=255)),
                ("cohort", models.CharField(blank=True, max_length=255)),
                ("first_opened", models.DateTimeField()),
                ("completers", models.IntegerField(default=0)),
                ("activated", models.IntegerField(default=0)),
                ("prompted", models.IntegerField(default=0)),
                ("responded", models.IntegerField(default=0)),
                ("verified", models.IntegerField(default=0, help_text="Windows with verified evidence.")),
                ("repeat", models.IntegerField(default=0, help_text="Activated windows with two or more verified evidence.")),
                ("verified_evidence", models.IntegerField(default=0, help_text="Verified evidence of the activated windows.")),
                ("awaiting_review", models.IntegerField(default=0, help_text="Evidence submitted and not yet decided.")),
                ("strength_self_report", models.IntegerField(default=0)),
                ("strength_peer", models.IntegerField(default=0)),
                ("strength_staff", models.IntegerField(default=0)),
                ("strength_supervisor", models.IntegerField(default=0)),
                ("strength_kpi", models.IntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name="windowtally",
            index=models.Index(fields=["definition", "closes_on"], name="act_tally_cell_closing"),
        ),
        migrations.AddField(
            model_name="celltotal",
            name="definition",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="activation_plugin.activationdefinition"),
        ),
        migrations.AddConstraint(
            model_name="celltotal",
            constraint=models.UniqueConstraint(fields=("definition", "cell"), name="act_tally_cell_total"),
        ),
        migrations.RunPython(sum_the_kept_tallies, migrations.RunPython.noop, elidable=True),
    ]
