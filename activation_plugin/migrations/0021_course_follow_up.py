"""
Issue 27: a learner never has two running follow-ups in one catalog course. Every path that opens a
window (a completion, its retry, the backfill) or withdraws one first writes and holds the learner's
``CourseFollowUp`` row, unique per (user, catalog course), then reads their windows.

The rows of learners who already have windows are written here, one per learner and catalog course.
Learners whose windows an earlier backfill doubled get one row too: the unique key is on the
follow-up, never on the windows, so the doubled windows keep their rows and figures (the tick keeps
the later twin silent, ADR 0012) and the migration cannot fail on them. A row missing for any reason
is created by the next completion; this one only makes the table whole at once.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

BATCH = 1000


def learners_with_windows(apps, schema_editor):
    """One row per (learner, catalog course) that has a window, in batches (memory does not grow)."""
    window_model = apps.get_model("activation_plugin", "ActivationWindow")
    follow_up_model = apps.get_model("activation_plugin", "CourseFollowUp")
    now, rows = timezone.now(), []
    pairs = (window_model.objects.using(schema_editor.connection.alias).order_by()
             .values_list("user_id", "definition__catalog_course").distinct())
    for user_id, course in pairs.iterator(chunk_size=BATCH):
        rows.append(follow_up_model(user_id=user_id, catalog_course=course, checked_at=now))
        if len(rows) == BATCH:
            follow_up_model.objects.using(schema_editor.connection.alias).bulk_create(rows, ignore_conflicts=True)
            rows = []
    follow_up_model.objects.using(schema_editor.connection.alias).bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0020_window_tally_stale"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CourseFollowUp',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('catalog_course', models.CharField(max_length=255)),
                ('checked_at', models.DateTimeField(help_text='When a completion, backfill or withdrawal last held this row.')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('user', 'catalog_course'), name='act_follow_up_one_per_course')],
            },
        ),
        migrations.RunPython(learners_with_windows, migrations.RunPython.noop, elidable=True),
    ]
