"""Tutor plugin for activation-plugin; released with the Django app, so the versions match."""

__version__ = "0.1.0"
