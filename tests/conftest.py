"""
Fixtures and helpers shared by the test suite (never imported from one test module into another);
tests run inside the demo host (demo/settings.py).
"""
import json
import logging
import os
import shutil
import sqlite3
import sysconfig
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import TestCase
from django.utils import translation
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import (
    CertificateData,
    CourseData,
    CoursePassingStatusData,
    UserData,
    UserPersonalData,
)
from openedx_events.learning.signals import CERTIFICATE_CREATED, COURSE_PASSING_STATUS_UPDATED

import activation_plugin
from activation_plugin.api import definitions
from demo.models import DemoCourse
from tests.factories import COURSE_KEY, UserFactory

# Fixtures of their own module, shared the way pytest shares them (not imported by name).
pytest_plugins = ["tests.aspects_support"]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
PACKAGE = Path(activation_plugin.__file__).resolve().parent


def pytest_report_header(config):
    return f"activation_plugin imported from {PACKAGE}"


def pytest_configure(config):
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


@pytest.fixture(autouse=True)
def default_language_afterwards():
    """
    LocaleMiddleware leaves a request's language active in the thread, and a pytest-xdist worker runs
    the next test in that thread: without this, which file ran before decided a test's language.
    """
    yield
    translation.deactivate()


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
], "activation_condition": {"match": "any_answer"}}}
OBSERVATION = {"kind": "observation", "title": "Supervisor", "verification": "supervisor",
               "config": {"checklist": ["Greets", "Resolves"]}}


@pytest.fixture
def make_definition(course_key):
    """
    Create and activate a definition through the api, as instructors do; ``supersede`` confirms that
    it archives another one active in the course (a learner has one follow-up per course, ADR 0012).
    """
    def make(requirements=(PROJECT,), activate=True, supersede=False, **fields):
        definition = definitions.create_definition(
            course_key=fields.pop("course_key", course_key), name=fields.pop("name", "Applies the skill"),
            behavior=fields.pop("behavior", "Uses it at work."), window_days=fields.pop("window_days", 30),
            requirements=list(requirements), **fields,
        )
        return definitions.activate_definition(definition, supersede=supersede) if activate else definition
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


class RequestCommits:
    """
    The innermost middleware in tests: a request's work queued for after its transaction (mail,
    tasks, tracking, the messages that say how they went) runs when the view returns, where the
    LMS's request transaction (``ATOMIC_REQUESTS``) would have committed. Inside a test's own
    transaction nothing ever commits, and that work would silently never run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with committed():
            return self.get_response(request)


@pytest.fixture(autouse=True)
def requests_commit(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.conftest.RequestCommits"]


@pytest.fixture
def api_client():
    """DRF's client with CSRF enforced, as a browser session meets it."""
    from rest_framework.test import APIClient  # pylint: disable=import-outside-toplevel
    return APIClient(enforce_csrf_checks=True)


@contextmanager
def committed():
    """The caller's writes commit at the end of the block, with the work they queued for after it."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


@pytest.fixture
def kpi_server():
    """A real local HTTP server playing the external KPI API; tests script its answers."""
    from tests.kpi_server import KpiServer  # pylint: disable=import-outside-toplevel
    with KpiServer() as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    """Short timeouts and backoff so failure scripts finish quickly; the code paths are the same."""
    settings.ACTIVATION_METRIC_HTTP_TIMEOUT = 0.3
    settings.ACTIVATION_METRIC_BACKOFF_SECONDS = 0.01
    settings.ACTIVATION_METRIC_MAX_ATTEMPTS = 3
    settings.ACTIVATION_METRIC_MAX_RETRY_AFTER_SECONDS = 2


@pytest.fixture
def agents(db, fast_retries):
    """The three support agents the imitated KPI services' records are about (agent0…agent2@example.com)."""
    return [UserFactory(username=f"agent{n}", email=f"agent{n}@example.com") for n in range(3)]


def api_url(name, **kwargs):
    """A REST API v1 URL by name, ids given as anything ``str`` turns into the path."""
    from django.urls import reverse  # pylint: disable=import-outside-toplevel
    return reverse(f"activation_plugin:api_v1:{name}", kwargs={k: str(v) for k, v in kwargs.items()})


@pytest.fixture
def jwt_staff_client(api_client, course_staff):
    """The REST client authenticated as course staff with a real LMS-style JWT."""
    api_client.credentials(HTTP_AUTHORIZATION=f"JWT {mint_jwt(course_staff)}")
    return api_client


# --- Browser tests: Debian's chromium driven by Playwright (never a downloaded browser) ----------
# Playwright's sync API runs an event loop in the test's thread; Django's ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian chromium is missing: run `make system-deps`")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def screenshot(page, name):
    """Into ``ACTIVATION_SCREENSHOTS`` when set: ``make screenshots`` retakes the docs' images this way."""
    folder = os.environ.get("ACTIVATION_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def log_in(page, live_server, username, password="password"):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


# --- Tracking events, as the LMS's tracking log carries them ---------------------------------------
DOCS = Path(__file__).resolve().parent.parent / "docs" / "references"


@pytest.fixture
def events(caplog):
    """The activation events emitted so far, parsed from the ``tracking`` logger's JSON lines."""
    caplog.set_level(logging.INFO, logger="tracking")

    def emitted(name=None):
        found = [json.loads(record.getMessage()) for record in caplog.records if record.name == "tracking"]
        return [event for event in found
                if event["name"].startswith("edx.activation.") and name in (None, event["name"])]
    return emitted


def replay_into_sqlite(found):
    """Land events as a warehouse would: one row per event, ``data`` flattened, times typed."""
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE activation_events (name TEXT, emitted_at TEXT, window_id INTEGER, "
                     "catalog_course TEXT, definition_id INTEGER, course_id TEXT, closes_at TEXT)")
    database.executemany("INSERT INTO activation_events VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (event["name"], datetime.fromisoformat(event["timestamp"]).isoformat(timespec="microseconds"),
         event["data"]["window_id"], event["data"]["catalog_course"], event["data"]["definition_id"],
         event["data"]["course_id"], event["data"]["closes_at"])
        for event in found
    ])
    return database


# --- openedx-events completion signals, sent for real -------------------------------------------
def user_data(user_id, username="someone"):
    return UserData(id=user_id, is_active=True,
                    pii=UserPersonalData(username=username, email=f"{username}@example.com", name=username))


def send_passing(user_id, course_key, is_passing=True, time=NOW):
    """The pass event, sent as the platform's grade write commits (the receivers' after-commit work runs)."""
    with committed():
        return COURSE_PASSING_STATUS_UPDATED.send_event(time=time, course_passing_status=CoursePassingStatusData(
            is_passing=is_passing, course=CourseData(course_key=course_key), user=user_data(user_id)))


def certificate_created(user_id, course_key, time=NOW):
    """The certificate event alone, as sent from inside ``GeneratedCertificate.save()``'s transaction."""
    return CERTIFICATE_CREATED.send_event(time=time, certificate=CertificateData(
        user=user_data(user_id), course=CourseData(course_key=course_key), mode="verified", grade="0.9",
        download_url="", name="someone", current_status="downloadable"))


def send_certificate(user_id, course_key, time=NOW):
    """The certificate event, sent as the platform's certificate write commits."""
    with committed():
        return certificate_created(user_id, course_key, time)


def failures(responses):
    """send_event is robust: a receiver's exception comes back in its response instead of raising."""
    return [response for _receiver, response in responses if isinstance(response, Exception)]


# --- The configuration page's POST, as a browser sends it -----------------------------------------
def requirement_fields(index, **values):
    """
    What the page posts for one requirement. ``rubric``: ``(criterion, points)`` rows; ``questions``:
    ``(type, text, options, optional)`` rows, as the instructor fills them in, optionally with a fifth part:
    the row's part of the activation condition (``{"counts": "Yes", "at_least": "4"}``). Surveys count every
    answer unless ``activation_match`` says otherwise.
    """
    fields = {"kind": "project", "title": "Applied project", "verification": "staff", "reviews_required": "1",
              "instructions": "Record a call where you used the script.",
              "rubric": [("Uses the script", "2"), ("Calm", "1")],
              "peer_rule": "majority", "pass_percent": "60", "questions": [], "activation_match": "any_answer",
              "checklist": "", "min_observed": "",
              "metric": "", "direction": "higher", "threshold": "", "baseline_days": "30", "min_observations": "1",
              "prompt_condition": "always", "prompt_day": "0", "reminder_days": "7, 14",
              "subject": "How did {course_name} go, {learner_name}?",
              "body": "Show us by {deadline}: {link}"} | values
    prefix = f"requirements-{index}"
    data = {f"{prefix}-{name}": value for name, value in fields.items() if name not in ("rubric", "questions")}
    for row, (criterion, points) in enumerate(fields["rubric"]):
        data |= {f"{prefix}-rubric-{row}-criterion": criterion, f"{prefix}-rubric-{row}-max_score": points}
    for row, (qtype, text, options, optional, *condition) in enumerate(fields["questions"]):
        data |= {f"{prefix}-questions-{row}-type": qtype, f"{prefix}-questions-{row}-text": text,
                 f"{prefix}-questions-{row}-options": "\n".join(options)}
        for part, value in (condition[0] if condition else {}).items():
            data[f"{prefix}-questions-{row}-{part}"] = value
        if optional:
            data[f"{prefix}-questions-{row}-optional"] = "on"
    return data


def definition_post(*requirements, initial_forms=0, **values):
    data = {"name": "Uses the de-escalation script", "behavior": "Calms an upset customer with the script.",
            "trigger": "passing", "window_days": "30", "rule": "any", "rule_count": "", "holdout_percent": "10",
            "requirements-TOTAL_FORMS": str(len(requirements)), "requirements-INITIAL_FORMS": str(initial_forms),
            "requirements-MIN_NUM_FORMS": "0", "requirements-MAX_NUM_FORMS": "1000", "save": "1"} | values
    for index, requirement in enumerate(requirements):
        data |= requirement_fields(index, **requirement)
    return data
