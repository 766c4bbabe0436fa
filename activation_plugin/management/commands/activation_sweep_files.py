"""``manage.py lms activation_sweep_files``: delete upload files no row points to (also a daily celery task)."""
from django.core.management.base import BaseCommand

from activation_plugin import api


class Command(BaseCommand):
    help = ("Delete evidence files whose upload was rolled back and KPI CSV previews never committed, once "
            "older than an hour.")

    def handle(self, *args, **options):
        self.stdout.write(f"deleted: {api.sweep_orphan_files()}")
