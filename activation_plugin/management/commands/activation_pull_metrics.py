"""``manage.py lms activation_pull_metrics``: pull KPI sources, for operators who schedule with cron."""
from django.core.management.base import BaseCommand, CommandError

from activation_plugin.kpi import pull


class Command(BaseCommand):
    """
    For operators who schedule with cron rather than celery beat: it exits with an error when any source
    failed, so cron reports it.
    """

    help = "Pull the KPI sources that are due (default), one source (--source NAME) or all of them (--all)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--source", help="the name of one source in ACTIVATION_METRIC_SOURCES")
        group.add_argument("--all", action="store_true", help="every pulled source, due or not")

    def handle(self, *args, **options):
        # Another source's typo must not stop this one: each source is checked when it runs.
        if options["source"]:
            if options["source"] not in pull.pulled_names():
                raise CommandError(
                    f"No rest or python source named {options['source']!r} in ACTIVATION_METRIC_SOURCES.")
            names = [options["source"]]
        elif options["all"]:
            names = pull.pulled_names()
        else:
            names = pull.due_sources()
        failed = 0
        for name in names:
            result = pull.pull(name)
            failed += result["status"] != "ok"
            self.stdout.write(f"{name}: {result['status']}, received {result['received']}, stored {result['stored']}, "
                              f"duplicates {result['duplicates']}, rejected {result['rejected']}, "
                              f"matched {result['matched']}" + (f" ({result['error']})" if result["error"] else ""))
        if failed:
            raise CommandError(f"{failed} source(s) failed.")
