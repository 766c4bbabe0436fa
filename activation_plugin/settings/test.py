"""Settings for running inside edx-platform's test settings: the same defaults as common."""
from activation_plugin.settings.common import plugin_settings  # pylint: disable=unused-import
