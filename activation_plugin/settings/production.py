"""Production overrides: operator values from the LMS/CMS YAML (``ENV_TOKENS``) win over defaults."""
from activation_plugin.settings.common import DEFAULTS, merge_filter_steps


def plugin_settings(settings):
    """Read overrides from ``ENV_TOKENS`` and re-merge the filter steps the YAML may have replaced."""
    env_tokens = getattr(settings, "ENV_TOKENS", {}) or {}
    for name in DEFAULTS:
        if name in env_tokens:
            setattr(settings, name, env_tokens[name])
    merge_filter_steps(settings)
