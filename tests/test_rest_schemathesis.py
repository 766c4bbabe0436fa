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
EXAMPLES = 10  # per operation and mode on the seeded objects (half as many with any ids): ~20 s

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
def seeded(make_definition, course_key, learner, course_staff, settings):
    """
    A course with an active and a draft definition, a window and evidence awaiting review; the
    staff member also completed the course, so ``me/windows/`` has something to return.
    """
    settings.ACTIVATION_API_THROTTLE_RATES = {"user": "100000/minute", "anon": "100000/minute"}
    definition = make_definition(requirements=[{**PROJECT, "verification": "staff"}, SURVEY])
    make_definition(name="Draft", activate=False)
    [window] = api.open_windows(learner.pk, course_key, "passing", timezone.now())
    api.open_windows(course_staff.pk, course_key, "passing", timezone.now())
    evidence = api.save_learner_response(window=window, requirement=definition.requirements.first(),
                                         payload={"text": "Applied it"}, idempotency_key="seeded")
    return {"course_id": str(course_key), "definition_id": definition.pk, "evidence_id": evidence.pk}


def fuzz(api_schema, headers, path_parameters, examples):
    """Status codes of positive and negative cases of every operation, each checked by ``CHECKS``."""
    calls = []
    for operation in api_schema.get_all_operations():
        operation = operation.ok()
        fixed = {name: value for name, value in path_parameters.items() if "{" + name + "}" in operation.path}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed, headers=headers)

            @hypothesis.given(case=strategy)
            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(hypothesis.HealthCheck))
            def exercise(case):
                calls.append(case.call_and_validate(checks=CHECKS).status_code)

            try:
                exercise()  # pylint: disable=no-value-for-parameter  # hypothesis supplies ``case``
            except hypothesis.errors.Unsatisfiable:
                # Negative mode has nothing to break in an operation whose only inputs are fixed.
                assert mode == GenerationMode.NEGATIVE, operation.label
    return calls


def test_no_server_error_and_responses_conform(in_process_wsgi, seeded, course_staff):
    """
    Every operation of the schema served at ``/api/activation/v1/schema/``, with data that fits
    the schema (positive) and data that does not (negative): first on the seeded objects, then
    with any ids at all in the course (other courses' objects, absent, malformed or huge ids).
    """
    api_schema = schemathesis.openapi.from_wsgi("/api/activation/v1/schema/", in_process_wsgi)
    assert len(list(api_schema.get_all_operations())) >= 14
    headers = {"Authorization": f"JWT {mint_jwt(course_staff)}"}
    on_seeded = fuzz(api_schema, headers, seeded, EXAMPLES)
    assert sum(200 <= code < 300 for code in on_seeded) > 14  # not only refusals were exercised
    any_ids = fuzz(api_schema, headers, {"course_id": seeded["course_id"]}, EXAMPLES // 2)
    assert 404 in any_ids
    assert all(code < 500 for code in on_seeded + any_ids)
