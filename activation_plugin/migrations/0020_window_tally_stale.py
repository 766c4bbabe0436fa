"""
Issue 29 (point 3) and issue 30: a learner's submission, edit or review verdict stores its own rows
and marks its window ``tally_stale``; the shared running totals move in a short transaction after
its commit, and the tick moves those of a window still marked (a move that failed).
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0019_kpi_tally_periods"),
    ]

    operations = [
        migrations.AddField(
            model_name="activationwindow",
            name="tally_stale",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddIndex(
            model_name="activationwindow",
            index=models.Index(fields=["tally_stale"], name="act_window_tally_stale"),
        ),
    ]
