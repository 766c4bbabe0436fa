"""``manage.py lms activation_backfill``: windows for completers the completion events missed."""
from django.core.management.base import BaseCommand, CommandError

from activation_plugin import api
from activation_plugin.errors import ActivationRequestError
from activation_plugin.models import ActivationDefinition


class Command(BaseCommand):
    """
    For operators, after installing the plugin or after an outage that lost completion events; it can
    run again safely because the api never opens a window twice.
    """

    help = ("Open windows, at their original time, for past completers of active definitions that have none "
            "(read from the platform's passing grades or certificates). Safe to run again: it opens nothing twice.")

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--definition", type=int, help="One definition, by id.")
        which.add_argument("--course", help="Every active definition of this course (any of its runs).")
        which.add_argument("--all", action="store_true", help="Every active definition.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Completion records read per batch.")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        definitions = ActivationDefinition.objects.filter(status=ActivationDefinition.Status.ACTIVE).order_by("pk")
        try:
            if options["definition"]:
                definitions = definitions.filter(pk=options["definition"])
                if not definitions.exists():
                    raise CommandError(f"No active definition {options['definition']}.")
            elif options["course"]:
                course = api.catalog_course(api.parse_course_key(options["course"]))
                definitions = definitions.filter(catalog_course=course)
            for definition in definitions:
                self.stdout.write(f"definition {definition.pk} ({definition.name}, {definition.catalog_course}):")
                counts = api.backfill(definition, batch_size=options["batch_size"], progress=self._progress)
                self.stdout.write(f"  done: {counts['completions']} completions read, "
                                  f"{counts['opened']} windows opened")
        except ActivationRequestError as exc:
            raise CommandError(str(exc)) from exc

    def _progress(self, counts):
        self.stdout.write(f"  {counts['completions']} completions read, {counts['opened']} windows opened")
