"""
What every v1 view shares: authentication as in the LMS, the plugin's own throttles and page
size, JSON only, and ``activation_plugin.errors`` turned into ``{"field", "message"}`` bodies.

Everything is set on the views, never through the host's ``REST_FRAMEWORK`` dict: the API and
its published schema behave the same whatever the LMS configures for its own APIs.
"""
import json
import logging
from functools import cached_property

from django.conf import settings
from django.db import OperationalError
from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from edx_rest_framework_extensions.auth.jwt.authentication import JwtAuthentication
from edx_rest_framework_extensions.auth.session.authentication import SessionAuthenticationAllowInactiveUser
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import exception_handler, set_rollback

from activation_plugin import api, json_input
from activation_plugin.errors import (
    ActivationInternalError,
    ActivationNotFound,
    ActivationRequestError,
    DefinitionLocked,
    IdempotencyConflict,
    NotAllowed,
    OtherDefinitionActive,
)
from activation_plugin.rest_api.v1.permissions import IsCourseStaff
from activation_plugin.rest_api.v1.serializers import ErrorSerializer
from activation_plugin.views_common import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)


class LmsJwtAuthentication(JwtAuthentication):
    """
    edx-drf-extensions' JWT authentication, declining JWTs when no public signing keys are set.

    With an empty ``JWT_PUBLIC_SIGNING_JWK_SET``, edx-drf-extensions 10.9 "verifies" a token
    against an empty key set, which accepts any signature; the LMS always sets the keys, a
    misconfigured host must not turn that into forged logins.
    """

    def authenticate(self, request):
        if not getattr(settings, "JWT_AUTH", {}).get("JWT_PUBLIC_SIGNING_JWK_SET"):
            return None
        return super().authenticate(request)


class _SettingRateMixin:
    """Reads the rate from ``ACTIVATION_API_THROTTLE_RATES`` on every request, so operators' changes apply."""

    rate_key = None

    def get_rate(self):
        return settings.ACTIVATION_API_THROTTLE_RATES.get(self.rate_key)


class ActivationUserThrottle(_SettingRateMixin, UserRateThrottle):
    scope = "activation_user"
    rate_key = "user"


class ActivationAnonThrottle(_SettingRateMixin, AnonRateThrottle):
    scope = "activation_anon"
    rate_key = "anon"


class ActivationPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"

    @property
    def max_page_size(self):
        return settings.ACTIVATION_API_MAX_PAGE_SIZE

    def get_page_size(self, request):
        return min(super().get_page_size(request), self.max_page_size)


_STATUS_FOR_ERROR = (
    (ActivationNotFound, status.HTTP_404_NOT_FOUND),
    (DefinitionLocked, status.HTTP_409_CONFLICT),
    (IdempotencyConflict, status.HTTP_409_CONFLICT),
    (OtherDefinitionActive, status.HTTP_409_CONFLICT),
    (NotAllowed, status.HTTP_403_FORBIDDEN),
    (ActivationRequestError, status.HTTP_400_BAD_REQUEST),
)


def _first_message(detail, path=()):
    """``(dotted field, message)`` of the first problem in a DRF validation error's detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_message(value, (*path, str(key)))
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            # Lists of messages name the field; lists of nested objects add the item's index.
            return _first_message(value, path if not isinstance(value, (dict, list)) else (*path, str(index)))
    return (".".join(path) or None), str(detail)


def handle_exception(exc, context):
    """
    The plugin's errors become 400/404/409 with ``{"field", "message"}``; DRF's own (validation,
    authentication, permission, throttling) keep their status and get the same body shape.
    Anything else is a bug and propagates as a 500 without details.
    """
    for error_class, code in _STATUS_FOR_ERROR:
        if isinstance(exc, error_class):
            # As DRF's own handler does: under ATOMIC_REQUESTS (the LMS) a refused request commits nothing.
            set_rollback()
            return Response({"field": exc.field, "message": str(exc)}, status=code)
    if isinstance(exc, (ActivationInternalError, OperationalError)):
        # A lost lock race (lock wait timeout, deadlock) rolled back: the client retries, and the
        # Idempotency-Key (or the api's own checks under a lock) makes the retry count once.
        log.warning("activation: %s answered 503: %s", context["request"].path, exc)
        set_rollback()
        return Response({"field": None, "message": _("The database is busy and nothing was saved; send the "
                                                     "request again in a few seconds.")},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
        response.data = {"field": field if field != "non_field_errors" else None, "message": message,
                         "errors": exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}}
    else:
        response.data = {"field": None, "message": str(exc.detail)}
    return response


IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER, {"type": "string", "minLength": 1, "maxLength": 255}, OpenApiParameter.HEADER,
    description="Any unique string (a UUID). Sending the request again with the same key, within a day, "
                "returns the first response and writes nothing, even while the first one is still running; the "
                "same key with another body is a 409.")


def once_per_key(request, write):
    """
    Run ``write`` (which returns a ``Response``) at most once per ``Idempotency-Key`` header:
    a double click or a client's retry must not create a second definition. The key is stored
    with the write (``api.run_once``); without the header, every request writes.

    Raises:
        IdempotencyConflict: the key came with another body.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return write()

    def run():
        response = write()
        return response.status_code, response.data

    code, data = api.run_once(user=request.user, scope=request.path, key=key, write=run,
                              body=json.dumps(request.data, sort_keys=True, default=str))
    return Response(data, status=code)


def error_responses(*codes):
    """Schema entries for the error statuses an operation can return, each with ``ErrorSerializer``."""
    meaning = {
        400: "Invalid input; `field` names it.",
        401: "Not authenticated: send a JWT (`Authorization: JWT <token>`) or a session cookie.",
        403: "Authenticated, but without a role that covers this: not course staff of this course run (or a "
             "CSRF token is missing), or a change to a definition owned by another run or asked through a CCX.",
        404: "No such course, or no such object in this course.",
        409: "Conflicts with the current state (for example a locked definition).",
        429: "Too many requests; retry after the `Retry-After` header's seconds.",
        503: "The database was busy and nothing was saved; retry after the `Retry-After` header's seconds.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code])
            for code in sorted({401, 403, 429, 503, *codes})}


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``json_input.MAX_DEPTH`` with a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_input.loads(stream.read().decode(encoding))
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


class ActivationAutoSchema(AutoSchema):
    """
    The schema's descriptions are the ones written for clients in ``documented(...)``; docstrings
    are written for maintainers and stay out. drf-spectacular's own switch for that
    (``DISABLE_DOCSTRING_DESCRIPTIONS``) exists only from 0.30, and the Open edX releases pin
    0.28 and 0.29, so the same schema must come out of every supported version.
    """

    def get_description(self):
        return ""

    def _map_basic_serializer(self, serializer, direction):
        component = super()._map_basic_serializer(serializer, direction)
        if component.get("description") == get_doc(serializer.__class__):
            del component["description"]
        return component


def documented(**schema):
    """
    ``extend_schema`` for a view method, built on ``ActivationAutoSchema`` whatever the
    host's ``DEFAULT_SCHEMA_CLASS`` (a method decorator cannot see the class's ``schema``).
    """
    path_ids = schema.pop("path_ids", ())
    schema["parameters"] = [*schema.get("parameters", ()), *(
        OpenApiParameter(name, {"type": "integer", "minimum": 1, "maximum": api.MAX_ID}, OpenApiParameter.PATH)
        for name in path_ids)]

    def decorator(method):
        method.kwargs = {"schema": ActivationAutoSchema}
        return extend_schema(**schema)(method)
    return decorator


class ActivationAPIView(GenericAPIView):
    """
    Base of the course-scoped views: ``course_key`` comes from the URL and a malformed one is a 404,
    never an error page.
    """

    authentication_classes = (LmsJwtAuthentication, SessionAuthenticationAllowInactiveUser)
    permission_classes = (IsCourseStaff,)
    throttle_classes = (ActivationUserThrottle, ActivationAnonThrottle)
    renderer_classes = (JSONRenderer,)
    parser_classes = (BoundedJSONParser,)
    pagination_class = ActivationPagination
    schema = ActivationAutoSchema()

    def get_exception_handler(self):
        return handle_exception

    def links(self):
        """Serializer context for the links to the plugin's pages (attachments) in this course."""
        return {"request": self.request, "course_id": str(self.course_key)}

    @cached_property
    def course_key(self):
        try:
            return api.parse_course_key(self.kwargs["course_id"])
        except ActivationRequestError as exc:
            raise exceptions.NotFound("No such course.") from exc
