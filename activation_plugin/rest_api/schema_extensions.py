"""How the LMS's authentication classes appear in the OpenAPI schema (drf-spectacular extensions)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class LmsJwtScheme(OpenApiAuthenticationExtension):
    target_class = "edx_rest_framework_extensions.auth.jwt.authentication.JwtAuthentication"
    match_subclasses = True
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "A JWT issued by the LMS (`/oauth2/access_token` with `token_type=jwt`), "
                           "sent as `Authorization: JWT <token>`.",
        }


class LmsSessionScheme(OpenApiAuthenticationExtension):
    target_class = "edx_rest_framework_extensions.auth.session.authentication.SessionAuthenticationAllowInactiveUser"
    match_subclasses = True
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": "The LMS session cookie; unsafe methods also need the `X-CSRFToken` header.",
        }
