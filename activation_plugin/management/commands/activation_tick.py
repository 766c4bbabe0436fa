"""``manage.py lms activation_tick``: the periodic tick, for operators who schedule with cron."""
from django.core.management.base import BaseCommand

from activation_plugin import api


class Command(BaseCommand):
    help = "Send due prompts and reminders and expire ended windows. Safe to run concurrently."

    def handle(self, *args, **options):
        result = api.tick()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in result.items()))
