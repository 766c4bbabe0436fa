"""
KPI connectors: the guarded HTTP client, the generic REST connector, the sources declared in the
settings, CSV parsing, the webhook signature, and the pulls that feed observations to
``activation_plugin.api``. Everything here reads the outside world and calls the api; nothing
here writes the plugin's models, and the api imports nothing from here.
"""
