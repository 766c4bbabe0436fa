"""The published OpenAPI schema of the REST API: current, served, and free of secrets."""
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from activation_plugin.rest_api.schema import DOCS_FILE, build_schema, same_schema, schema_yaml

COMMITTED = Path(__file__).resolve().parent.parent / DOCS_FILE


def test_committed_schema_matches_the_code():
    """Fails when an endpoint or serializer changed without `make openapi`."""
    assert same_schema(COMMITTED.read_text(encoding="utf-8"), schema_yaml()), "run `make openapi` and commit the schema"


def test_schema_settings_exist_in_every_supported_drf_spectacular():
    """
    drf-spectacular refuses the whole schema over one setting it does not know; 0.28 and 0.29 (the
    Open edX releases' pins) lack DISABLE_DOCSTRING_DESCRIPTIONS. Descriptions come from the views.
    """
    from drf_spectacular.settings import SPECTACULAR_DEFAULTS  # pylint: disable=import-outside-toplevel

    from activation_plugin.rest_api.schema import SPECTACULAR  # pylint: disable=import-outside-toplevel
    assert "DISABLE_DOCSTRING_DESCRIPTIONS" not in SPECTACULAR
    assert set(SPECTACULAR) <= set(SPECTACULAR_DEFAULTS)
    assert "Base of the course-scoped views" not in schema_yaml()  # a docstring, not a description


def test_check_command_refuses_a_stale_schema(tmp_path):
    stale = tmp_path / "openapi.yaml"
    stale.write_text("openapi: 3.0.3\n", encoding="utf-8")
    with pytest.raises(CommandError, match="out of date"):
        call_command("activation_openapi", "--check", "--output", str(stale))
    call_command("activation_openapi", "--output", str(stale))
    call_command("activation_openapi", "--check", "--output", str(stale))


def test_schema_lists_every_endpoint_with_both_authentications():
    schema = build_schema()
    prefix = "/api/activation/v1/courses/{course_id}/"
    assert set(schema["paths"]) == {prefix + tail for tail in (
        "definitions/", "definitions/{definition_id}/", "definitions/{definition_id}/activate/",
        "definitions/{definition_id}/archive/", "definitions/{definition_id}/requirements/",
        "definitions/{definition_id}/requirements/{requirement_id}/activation-condition/",
        "definitions/{definition_id}/summary/", "definitions/{definition_id}/figures/", "summaries/", "windows/",
        "evidence/", "evidence/{evidence_id}/", "evidence/{evidence_id}/reviews/", "me/windows/")} | {
        "/api/activation/v1/portfolio/"}
    assert set(schema["components"]["securitySchemes"]) == {"jwtAuth", "sessionAuth"}
    assert "holdout_seed" not in yaml.safe_dump(schema) and "nonce" not in yaml.safe_dump(schema)


@pytest.mark.django_db
def test_schema_is_served_to_anyone_as_json_and_yaml(client):
    endpoint = reverse("activation_plugin:api_v1:schema")
    assert client.get(endpoint).json()["info"]["title"] == "activation-plugin REST API"
    assert yaml.safe_load(client.get(endpoint, {"format": "yaml"}).content)["openapi"] == "3.0.3"
