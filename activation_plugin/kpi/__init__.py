"""
KPI connectors: the guarded HTTP client, the generic REST connector, CSV parsing, the webhook
signature, identity matching and the pulls that feed observations to ``activation_plugin.api``.
"""
