"""LMS-shaped demo host for activation-plugin."""
from demo.celery import app as celery_app

__all__ = ["celery_app"]
