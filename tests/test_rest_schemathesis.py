"""
Schemathesis against the REST API's published schema, in process through the WSGI app: as course
staff with a real JWT and seeded data, no request may end in a 5xx, and every response must
conform to the schema (status code, content type, body).
"""
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from activation_plugin import api
from tests.conftest import PROJECT, SURVEY, mint_jwt

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
EXAMPLES = 10  # per operation and mode: about 260 requests, a few seconds

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def in_process_wsgi():
    """
    The real WSGI handler inside the test's transaction: like Django's test client, keep it from
    closing the connection that holds the test data at the end of each request.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(make_definition, course_key, learner, settings):
    """A course with an active and a draft definition, a window and evidence awaiting review."""
    settings.ACTIVATION_API_THROTTLE_RATES = {"user": "100000/minute", "anon": "100000/minute"}
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}, SURVEY])
    make_definition(name="Draft", activate=False)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    evidence = api.save_learner_response(window=window, requirement=definition.requirements.first(),
                                         payload={"text": "Applied it"}, idempotency_key="seeded")
    return {"course_id": str(course_key), "definition_id": definition.pk, "evidence_id": evidence.pk}


def test_no_server_error_and_responses_conform(in_process_wsgi, seeded, course_staff):
    """
    Every operation of the schema served at ``/api/activation/v1/schema/``, with data that fits
    the schema (positive) and data that does not (negative), on the seeded objects.
    """
    api_schema = schemathesis.openapi.from_wsgi("/api/activation/v1/schema/", in_process_wsgi)
    headers = {"Authorization": f"JWT {mint_jwt(course_staff)}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14
    calls = []
    for operation in operations:
        path_parameters = {name: value for name, value in seeded.items() if "{" + name + "}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters,
                                             headers=headers)

            @hypothesis.given(case=strategy)
            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(hypothesis.HealthCheck))
            def exercise(case):
                calls.append(case.call_and_validate(checks=CHECKS).status_code)

            try:
                exercise()
            except hypothesis.errors.Unsatisfiable:
                # Negative mode has nothing to break in an operation whose only inputs are fixed above.
                assert mode == GenerationMode.NEGATIVE, operation.label
    assert sum(200 <= code < 300 for code in calls) > len(operations)  # not only refusals were tested
    assert all(code < 500 for code in calls)
