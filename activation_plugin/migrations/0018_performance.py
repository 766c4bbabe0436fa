"""
Issue 34: the tick counts a batch's first prompts in one transaction after sending them, and marks
the windows whose count is pending (``tally_pending``) when it claims them, so that a later tick
recounts the windows a dead tick sent to but did not count.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0017_delivery_queue_and_record_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="activationwindow",
            name="tally_pending",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddIndex(
            model_name="activationwindow",
            index=models.Index(fields=["tally_pending"], name="act_window_tally_pending"),
        ),
    ]
