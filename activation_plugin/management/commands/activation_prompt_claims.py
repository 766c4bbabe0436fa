"""
``manage.py lms activation_prompt_claims``: the prompts a dead tick left ``sending``, which may or
may not have reached the learner. Lists them; ``--resend`` or ``--give-up`` settles them.
"""
from django.core.management.base import BaseCommand
from django.utils import timezone

from activation_plugin import api
from activation_plugin.models import PromptDelivery


class Command(BaseCommand):
    """Lists the claims in doubt; settles them only when told which way."""

    help = ("List the follow-up prompts a tick stopped while sending (they may or may not have left); "
            "--resend sends them again, --give-up leaves them unsent.")

    def add_arguments(self, parser):
        choice = parser.add_mutually_exclusive_group()
        choice.add_argument("--resend", action="store_true",
                            help="Send them again: a learner may receive the message twice.")
        choice.add_argument("--give-up", action="store_true",
                            help="Never send them: a learner may have received nothing.")

    def handle(self, *args, **options):
        now = timezone.now()
        ambiguous = (api.stale_claims(now, PromptDelivery.Status.SENDING)
                     .select_related("window").order_by("claimed_at", "pk"))
        for delivery in ambiguous:
            self.stdout.write(f"delivery {delivery.pk}: {delivery.kind} {delivery.sequence} of window "
                              f"{delivery.window_id} ({delivery.window.course_run}), "
                              f"claimed {delivery.claimed_at:%Y-%m-%d %H:%M}")
        if options["resend"] or options["give_up"]:
            settled = api.settle_ambiguous_claims(resend=options["resend"], now=now)
            self.stdout.write(f"{'resent' if options['resend'] else 'given up'}: {settled}")
        elif ambiguous.exists():
            self.stdout.write("settle them with --resend or --give-up")
        else:
            self.stdout.write("no ambiguous prompt claims")
