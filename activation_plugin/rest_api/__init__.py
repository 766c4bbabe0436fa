"""The plugin's REST API, versioned by URL (``/api/activation/v1/``)."""
