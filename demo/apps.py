"""The demo project's app: on ready, it connects the plugins' signal receivers as edx-platform's plugins app does."""
from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # What edx-platform's plugins app does in ready(): connect every plugin's signal receivers.
        from edx_django_utils.plugins import connect_plugin_receivers  # pylint: disable=import-outside-toplevel

        from demo.settings import PROJECT_TYPE  # pylint: disable=import-outside-toplevel
        connect_plugin_receivers(PROJECT_TYPE)
