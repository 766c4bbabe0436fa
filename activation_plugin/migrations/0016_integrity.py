"""
One opt-out per learner and scope (issue 27): the unique key (user, definition) let two opt-outs
from every course (an empty definition) in, since a unique index holds empty values distinct and
MariaDB has no partial index. ``scope`` is the definition's id, or 0 for every course, and is the
key. Existing rows get their scope; of a learner's several opt-outs from every course the first
is kept (they all said the same).
"""
from django.db import migrations, models


def fill_scopes(apps, schema_editor):  # pylint: disable=unused-argument
    opt_out_model = apps.get_model("activation_plugin", "PromptOptOut")
    for opt_out in opt_out_model.objects.filter(definition__isnull=False).only("pk", "definition_id"):
        opt_out_model.objects.filter(pk=opt_out.pk).update(scope=opt_out.definition_id)
    seen = set()
    for opt_out in opt_out_model.objects.filter(definition__isnull=True).order_by("pk").only("pk", "user_id"):
        if opt_out.user_id in seen:
            opt_out.delete()
        seen.add(opt_out.user_id)


class Migration(migrations.Migration):

    dependencies = [
        ("activation_plugin", "0015_survey_activation_conditions"),
    ]

    operations = [
        migrations.AddField(
            model_name="promptoptout",
            name="scope",
            field=models.PositiveBigIntegerField(
                default=0, editable=False,
                help_text="The definition's id, or 0 for every course: the unique key, since an empty definition is "
                          "distinct from every other empty one in a unique index (and MariaDB has no partial index)."),
        ),
        migrations.RunPython(fill_scopes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="promptoptout",
            constraint=models.UniqueConstraint(fields=("user", "scope"), name="act_opt_out_once_per_scope"),
        ),
    ]
