"""
Issue 29: a tick's batch is claimed ``queued`` and each message turns ``sending`` only as it goes
out, so a dead tick leaves at most one message in doubt. Claims left ``sending`` by earlier releases
(a whole batch could be) stay as they are: once older than the lease they are reported as in doubt
for an operator to resend or give up (``activation_prompt_claims``), as nothing tells which left.

Issue 28: a re-delivered record is found by the source's own id (``record_id``), which needs an
index on a large source.
"""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0016_integrity"),
    ]

    operations = [
        migrations.AlterField(
            model_name="promptdelivery",
            name="status",
            field=models.CharField(choices=[
                ("queued", "Claimed, not yet sent"), ("sending", "Sending"), ("sent", "Sent"),
                ("failed", "Failed, will retry"), ("skipped", "Skipped: a later reminder was due at the same time"),
            ], default="queued", max_length=16),
        ),
        migrations.AddIndex(
            model_name="metricobservation",
            index=models.Index(fields=["source", "metric", "record_id"], name="act_obs_record"),
        ),
    ]
