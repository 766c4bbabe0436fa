"""
Plugin wiring: the LMS and Studio discover this AppConfig through the ``lms.djangoapp`` and
``cms.djangoapp`` entry points and read ``plugin_app`` for URLs, settings and receivers.
"""
from django.apps import AppConfig
from edx_django_utils.plugins.constants import PluginSettings, PluginSignals, PluginURLs

LMS = "lms.djangoapp"
CMS = "cms.djangoapp"

_RECEIVERS = [
    {
        PluginSignals.RECEIVER_FUNC_NAME: "on_course_passing_status_updated",
        PluginSignals.SIGNAL_PATH: "openedx_events.learning.signals.COURSE_PASSING_STATUS_UPDATED",
        PluginSignals.DISPATCH_UID: "activation_plugin.receivers.on_course_passing_status_updated",
    },
    {
        PluginSignals.RECEIVER_FUNC_NAME: "on_ccx_course_passing_status_updated",
        PluginSignals.SIGNAL_PATH: "openedx_events.learning.signals.CCX_COURSE_PASSING_STATUS_UPDATED",
        PluginSignals.DISPATCH_UID: "activation_plugin.receivers.on_ccx_course_passing_status_updated",
    },
    {
        PluginSignals.RECEIVER_FUNC_NAME: "on_certificate_created",
        PluginSignals.SIGNAL_PATH: "openedx_events.learning.signals.CERTIFICATE_CREATED",
        PluginSignals.DISPATCH_UID: "activation_plugin.receivers.on_certificate_created",
    },
]

# Retirement runs in the LMS only: that is where edx-platform sends USER_RETIRE_LMS_MISC.
_RETIREMENT_RECEIVER = {
    PluginSignals.RECEIVER_FUNC_NAME: "on_user_retired",
    PluginSignals.SIGNAL_PATH: "activation_plugin.platform.USER_RETIRE_LMS_MISC",
    PluginSignals.DISPATCH_UID: "activation_plugin.receivers.on_user_retired",
}


def _settings_config():
    return {
        "common": {PluginSettings.RELATIVE_PATH: "settings.common"},
        "production": {PluginSettings.RELATIVE_PATH: "settings.production"},
        "test": {PluginSettings.RELATIVE_PATH: "settings.test"},
    }


class ActivationPluginConfig(AppConfig):
    """Django app for activation-plugin."""

    name = "activation_plugin"
    verbose_name = "Activation"
    default_auto_field = "django.db.models.BigAutoField"

    plugin_app = {
        PluginURLs.CONFIG: {
            project: {
                PluginURLs.NAMESPACE: "activation_plugin",
                PluginURLs.REGEX: r"^",
                PluginURLs.RELATIVE_PATH: "urls",
            }
            for project in (LMS, CMS)
        },
        PluginSettings.CONFIG: {LMS: _settings_config(), CMS: _settings_config()},
        PluginSignals.CONFIG: {
            LMS: {
                PluginSignals.RELATIVE_PATH: "receivers",
                PluginSignals.RECEIVERS: [*_RECEIVERS, _RETIREMENT_RECEIVER],
            },
            CMS: {
                PluginSignals.RELATIVE_PATH: "receivers",
                PluginSignals.RECEIVERS: _RECEIVERS,
            },
        },
    }

    def ready(self):
        # Registers the celery tasks with whichever celery app the host runs, and the system checks.
        from activation_plugin import checks, tasks, xapi  # pylint: disable=unused-import,import-outside-toplevel

        # xAPI statements for Aspects, where event-routing-backends runs (optional).
        xapi.register()
