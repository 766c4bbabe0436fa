"""Fixtures shared by the test suite; tests run inside the demo host (demo/settings.py)."""
import os
import sysconfig
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from opaque_keys.edx.keys import CourseKey

import activation_plugin
from activation_plugin import api
from activation_plugin.test_utils.factories import COURSE_KEY, UserFactory
from demo.models import DemoCourse

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
PACKAGE = Path(activation_plugin.__file__).resolve().parent


def pytest_report_header(config):  # pylint: disable=unused-argument
    return f"activation_plugin imported from {PACKAGE}"


def pytest_configure(config):  # pylint: disable=unused-argument
    """
    CI's installed-wheel jobs set ACTIVATION_EXPECT_INSTALLED: a suite that silently imported the
    checkout instead would pass while the wheel operators install is broken, as it once was.
    """
    if not os.environ.get("ACTIVATION_EXPECT_INSTALLED"):
        return
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    source = Path(os.environ.get("ACTIVATION_SOURCE_ROOT", Path(__file__).resolve().parent.parent)).resolve()
    if not PACKAGE.is_relative_to(installed) or PACKAGE.is_relative_to(source / "activation_plugin"):
        raise pytest.UsageError(
            f"activation_plugin was imported from {PACKAGE}, not from the installed wheel in {installed}")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing costs a third of a second per user; tests create hundreds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate-limit counters live in the cache; each test starts with none."""
    cache.clear()


@pytest.fixture
def course_key(db):
    key = CourseKey.from_string(COURSE_KEY)
    DemoCourse.objects.create(course_key=key, display_name="Applying Things")
    return key


@pytest.fixture
def other_run(course_key):
    key = CourseKey.from_string("course-v1:TestX+APPLY+2027")
    DemoCourse.objects.create(course_key=key, display_name="Applying Things (2027)")
    return key


PROJECT = {"kind": "project", "title": "Applied project", "config": {"instructions": "Show your work."}}
SURVEY = {"kind": "survey", "title": "Follow-up survey", "config": {"questions": [
    {"id": "used", "type": "single_choice", "text": "Did you use it?", "options": ["yes", "no"]},
    {"id": "how", "type": "text", "text": "How?", "required": False},
]}}
OBSERVATION = {"kind": "observation", "title": "Supervisor", "verification": "supervisor",
               "config": {"checklist": ["Greets", "Resolves"]}}


@pytest.fixture
def make_definition(course_key):
    """Create and activate a definition through the api, as instructors do."""
    def make(requirements=(PROJECT,), activate=True, **fields):
        definition = api.create_definition(
            course_key=fields.pop("course_key", course_key), name=fields.pop("name", "Applies the skill"),
            behavior=fields.pop("behavior", "Uses it at work."), window_days=fields.pop("window_days", 30),
            requirements=list(requirements), **fields,
        )
        return api.activate_definition(definition) if activate else definition
    return make


@pytest.fixture
def learner(db):
    return UserFactory(username="learner")


@pytest.fixture
def course_staff(course_key):
    """Staff of the test course run through the standalone backend's group."""
    user = UserFactory(username="teacher")
    Group.objects.create(name=f"activation-staff:{course_key}").user_set.add(user)
    return user


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True)


def mint_jwt(user, **claims):
    """A JWT as the LMS issues it, signed with the demo host's private RSA key."""
    import time  # pylint: disable=import-outside-toplevel

    import jwt  # pylint: disable=import-outside-toplevel
    from django.conf import settings  # pylint: disable=import-outside-toplevel
    from jwt.algorithms import RSAAlgorithm  # pylint: disable=import-outside-toplevel

    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    now = int(time.time())
    payload = {"iss": issuer["ISSUER"], "aud": issuer["AUDIENCE"], "preferred_username": user.username,
               "user_id": user.pk, "email": user.email, "administrator": user.is_staff, "iat": now,
               "exp": now + 600, "version": "1.2.0", "scopes": ["user_id", "email", "profile"], "filters": []}
    key = RSAAlgorithm.from_jwk(settings.JWT_AUTH["JWT_PRIVATE_SIGNING_JWK"])
    return jwt.encode({**payload, **claims}, key, algorithm=settings.JWT_AUTH["JWT_SIGNING_ALGORITHM"])


@pytest.fixture
def api_client():
    """DRF's client with CSRF enforced, as a browser session meets it."""
    from rest_framework.test import APIClient  # pylint: disable=import-outside-toplevel
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def kpi_server():
    """A real local HTTP server playing the external KPI API; tests script its answers."""
    from activation_plugin.test_utils.kpi_server import KpiServer  # pylint: disable=import-outside-toplevel
    with KpiServer() as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    """Short timeouts and backoff so failure scripts finish quickly; the code paths are the same."""
    settings.ACTIVATION_METRIC_HTTP_TIMEOUT = 0.3
    settings.ACTIVATION_METRIC_BACKOFF_SECONDS = 0.01
    settings.ACTIVATION_METRIC_MAX_ATTEMPTS = 3
    settings.ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS = 2


def api_url(name, **kwargs):
    """A REST API v1 URL by name, ids given as anything ``str`` turns into the path."""
    from django.urls import reverse  # pylint: disable=import-outside-toplevel
    return reverse(f"activation_plugin:api_v1:{name}", kwargs={k: str(v) for k, v in kwargs.items()})


@pytest.fixture
def jwt_staff_client(api_client, course_staff):
    """The REST client authenticated as course staff with a real LMS-style JWT."""
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(course_staff)}")
    return api_client
