"""
The KPI webhook: observations pushed by an external system, signed with the source's secret
(``kpi.webhook``), stored all or nothing. A REST endpoint like the others under
``/api/activation/v1/``: errors have the same ``{"field", "message"}`` body (plus ``error``, the
message under its name before 2026-11, kept for existing senders).
"""
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from activation_plugin import api
from activation_plugin.api import metric_sources
from activation_plugin.kpi import sources, webhook
from activation_plugin.rest_api.v1.base import handle_exception

log = logging.getLogger(__name__)
COUNTS = ("received", "stored", "updated", "duplicates", "matched")


def _refused(message, code, field=None):
    return Response({"field": field, "message": message, "error": message}, status=code)


class MetricWebhookView(APIView):
    """Signed by the sender, so no account, no CSRF token and no session: the signature is the credential."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()  # an integration pushes as often as its system changes; bad signatures cost a hash
    renderer_classes = (JSONRenderer,)
    parser_classes = ()  # the signature covers the raw body, read before any parsing
    schema = None

    def get_exception_handler(self):
        return handle_exception

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(response.data, dict) and "message" in response.data:
            response.data["error"] = response.data["message"]
        return response

    def post(self, request, name):
        """
        Cheapest checks first: the source, then the declared size (the body is never read past the limit),
        then the signature; only then is anything parsed or stored.
        """
        try:
            config = sources.get(name)
        except KeyError:
            config = None
        except ImproperlyConfigured as exc:
            log.error("%s", exc)
            return _refused("This webhook source is not configured correctly.", status.HTTP_503_SERVICE_UNAVAILABLE)
        if config is None or config.kind != "webhook":
            return _refused("No webhook source with this name.", status.HTTP_404_NOT_FOUND, "name")
        limit = settings.ACTIVATION_WEBHOOK_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        stream = request.stream
        body = (stream.read(limit + 1) if stream else b"") if declared.isdigit() and int(declared) <= limit else None
        if body is None or len(body) > limit:
            return _refused(f"The body must be at most {limit} bytes.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            webhook.verify(config.webhook_secret.reveal(), request.META.get(webhook.HEADER), body)
            records = webhook.observations(body)
        except webhook.WebhookRefused as exc:
            return _refused(str(exc), exc.status)
        result = api.ingest_observations(metric_sources.sync_metric_source(config), records, strict=True)
        return Response({key: result[key] for key in COUNTS})
