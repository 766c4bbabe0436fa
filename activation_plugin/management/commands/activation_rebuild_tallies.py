"""``manage.py lms activation_rebuild_tallies``: recount the figures' running totals from the windows."""
from django.core.management.base import BaseCommand, CommandError

from activation_plugin import api
from activation_plugin.models import ActivationDefinition


class Command(BaseCommand):
    """Thin: ``api.rebuild_tallies`` per definition, saying how many windows each counted."""

    help = ("Recount the tallies the Activation tab reads from the windows themselves: after restoring a backup, "
            "after editing rows by hand, or to check them. Every definition by default; the tick builds the "
            "missing ones on its own.")

    def add_arguments(self, parser):
        parser.add_argument("definitions", nargs="*", type=int, help="ids of the definitions (default: all)")
        parser.add_argument("--missing", action="store_true",
                            help="only definitions whose tallies were never built (as the tick does)")
        parser.add_argument("--online", action="store_true",
                            help="recount by chunks of windows, without holding up learners' and the receiver's "
                                 "writes; repairs every window changed around the api, not tally rows edited by hand")

    def handle(self, *args, **options):
        definitions = ActivationDefinition.objects.order_by("pk")
        if options["definitions"]:
            definitions = definitions.filter(pk__in=options["definitions"])
            missing = set(options["definitions"]) - set(definitions.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No activation definition {', '.join(map(str, sorted(missing)))}.")
        if options["missing"]:
            definitions = definitions.filter(tallies_built_at__isnull=True)
        for definition in definitions:
            windows = (api.recount_tallies if options["online"] else api.rebuild_tallies)(definition)
            self.stdout.write(f"definition {definition.pk}: {windows} windows counted")
