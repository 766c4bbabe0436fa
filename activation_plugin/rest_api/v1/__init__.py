"""REST API v1: thin DRF views over ``activation_plugin.api``."""
