"""
An LMS-shaped host for the plugin: INSTALLED_APPS, settings and URLs come from edx-django-utils'
plugin discovery exactly as in edx-platform, so the plugin is exercised the way the LMS loads it.

SQLite and eager Celery by default; ``DEMO_DB=mariadb`` uses MariaDB on 127.0.0.1:3306 and
``DEMO_BROKER=redis://…`` a real broker.
"""
import importlib.util
import os
from pathlib import Path

import django
from edx_django_utils.plugins import add_plugins, get_plugin_apps

from demo.jwt_keys import demo_signing_jwk, install_secrets, public_jwk_set

PROJECT_TYPE = "lms.djangoapp"  # edx-platform's ProjectType.LMS
BASE_DIR = Path(__file__).resolve().parent

# No public default: a secret everyone knows would let anyone forge sessions, signed links and JWTs.
INSTALL_SECRETS = install_secrets(BASE_DIR / ".secrets.json")
SECRET_KEY = os.environ.get("DEMO_SECRET_KEY") or INSTALL_SECRETS["SECRET_KEY"]
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",  # installed in the LMS; the plugin's REST API runs on it
    "waffle",  # installed in the LMS; the plugin's toggles (activation_plugin/toggles.py) are waffle switches and flags
    "demo",
    "eventtracking.django.apps.EventTrackingConfig",  # the LMS's tracker, built from the settings below
    # The LMS installs celery_utils; event-routing-backends, a plugin the tests install, keeps its models there.
    *[app for app in ("celery_utils",) if importlib.util.find_spec(app)],
    *get_plugin_apps(PROJECT_TYPE),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crum.CurrentRequestUserMiddleware",  # the LMS has it; filter steps read the current user
]

ROOT_URLCONF = "demo.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
# The LMS looks up legacy dashboard sections' Mako templates here; the plugin appends its own dir.
MAKO_TEMPLATE_DIRS_BASE = [str(BASE_DIR / "templates" / "mako")]

if os.environ.get("DEMO_DB") == "mariadb":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": os.environ.get("DEMO_DB_NAME", "test"),
        "USER": os.environ.get("DEMO_DB_USER", "root"),
        "PASSWORD": os.environ.get("DEMO_DB_PASSWORD", ""),
        "HOST": os.environ.get("DEMO_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DEMO_DB_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
        "ATOMIC_REQUESTS": True,  # as lms/envs/common.py: every request runs in one transaction
        "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        # Writers queue for the file's lock (for up to 20 s) from the start of their transaction,
        # instead of failing when two read-then-write transactions collide (Django 5.1+).
        "OPTIONS": {"timeout": 20, **({"transaction_mode": "IMMEDIATE"} if django.VERSION >= (5, 1) else {})},
        "ATOMIC_REQUESTS": True,  # as lms/envs/common.py: every request runs in one transaction
    }}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("DEMO_MEDIA_ROOT", str(BASE_DIR / "media"))  # never served by the web server
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# One setting drives every link the demo gives out (mail, headers, the helpdesk KPI source, the seed's
# printout): the port ``make demo`` serves on, so ``DEMO_PORT=8101 make demo`` works as mailed.
DEMO_PORT = int(os.environ.get("DEMO_PORT") or 8000)
LMS_ROOT_URL = os.environ.get("DEMO_LMS_ROOT_URL", f"http://127.0.0.1:{DEMO_PORT}")
DEFAULT_FROM_EMAIL = "activation@demo.localhost"
EMAIL_BACKEND = "demo.mail.DatabaseEmailBackend"  # shown at /outbox/; tests use Django's locmem
DEMO_MAIL_DELAY_SECONDS = float(os.environ.get("DEMO_MAIL_DELAY_SECONDS", "0"))  # a slow mail server, for tests

CELERY_BROKER_URL = os.environ.get("DEMO_BROKER", "memory://")
CELERY_TASK_ALWAYS_EAGER = "DEMO_BROKER" not in os.environ
CELERY_TASK_EAGER_PROPAGATES = True

# JWT authentication of the REST API, shaped like the LMS's JWT_AUTH: tokens are signed with an
# RSA key whose public half is in JWT_PUBLIC_SIGNING_JWK_SET. The demo makes a fresh key per
# process unless DEMO_JWT_PRIVATE_JWK gives one; tests and scripts sign with the private JWK.
JWT_PRIVATE_SIGNING_JWK = os.environ.get("DEMO_JWT_PRIVATE_JWK") or demo_signing_jwk()
JWT_AUTH = {
    "JWT_ISSUERS": [{
        "ISSUER": f"{LMS_ROOT_URL}/oauth2",
        "AUDIENCE": "activation-demo",
        "SECRET_KEY": os.environ.get("DEMO_JWT_SECRET_KEY") or INSTALL_SECRETS["JWT_SECRET_KEY"],
    }],
    "JWT_ALGORITHM": "HS256",
    "JWT_SIGNING_ALGORITHM": "RS512",
    "JWT_PRIVATE_SIGNING_JWK": JWT_PRIVATE_SIGNING_JWK,
    "JWT_PUBLIC_SIGNING_JWK_SET": public_jwk_set(JWT_PRIVATE_SIGNING_JWK),
    "JWT_AUTH_HEADER_PREFIX": "JWT",
    "JWT_DECODE_HANDLER": "edx_rest_framework_extensions.auth.jwt.decoder.jwt_decode_handler",
    "JWT_VERIFY_EXPIRATION": True,
    "JWT_VERIFY_AUDIENCE": True,
    "JWT_LEEWAY": 1,
}

OPEN_EDX_FILTERS_CONFIG = {}
ACTIVATION_PLATFORM_BACKEND = "demo.platform.DemoBackend"
if "DEMO_TICK_BATCH_SIZE" in os.environ:  # small batches make concurrent workers interleave in tests
    ACTIVATION_TICK_BATCH_SIZE = int(os.environ["DEMO_TICK_BATCH_SIZE"])
if "DEMO_TICK_SEND_GROUP" in os.environ:  # a fault test kills a tick with several groups of its batch unsent
    ACTIVATION_TICK_SEND_GROUP = int(os.environ["DEMO_TICK_SEND_GROUP"])
if "DEMO_TICK_CLAIM_LEASE_MINUTES" in os.environ:  # a fault test's next tick runs at once, not 30 min later
    ACTIVATION_TICK_CLAIM_LEASE_MINUTES = float(os.environ["DEMO_TICK_CLAIM_LEASE_MINUTES"])

# As in the LMS: event-tracking's own logger backend writes each event as a JSON line to the
# ``tracking`` logger (the LMS's tracking.log). Tests read the events back from that logger.
EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {
    "tracking_logs": {
        "ENGINE": "eventtracking.backends.logger.LoggerBackend",
        "OPTIONS": {"name": "tracking", "max_event_size": 50000},  # the LMS's TRACK_MAX_EVENT
    },
}

# KPI sources: the demo's own stand-in helpdesk API (pull it with ``manage.py activation_pull_metrics``
# while the server runs), a signed webhook the seed pushes observations into, and a CSV upload.
DEMO_KPI_TOKEN = os.environ.get("DEMO_KPI_TOKEN", "demo-only-kpi-token")
ACTIVATION_METRIC_SOURCES = {
    "demo-helpdesk": {
        "kind": "rest", "url": f"{LMS_ROOT_URL}/fake-helpdesk/api/tickets/",
        "allowed_hosts": ["127.0.0.1", "localhost"], "allow_private": ["127.0.0.1", "localhost"],
        "auth": {"type": "bearer", "token": DEMO_KPI_TOKEN},
        "pagination": {"style": "next_link", "next": "links.next"}, "records": "tickets",
        "mapping": {"external_id": "assignee.email", "metric": "'handle_time'", "value": "handle_seconds",
                    "observed_at": "closed_at"},
        "schedule_minutes": 60,
    },
    "demo-crm-push": {"kind": "webhook",
                      "secret": os.environ.get("DEMO_WEBHOOK_SECRET", "demo-only-webhook-secret")},
    "demo-hr-upload": {"kind": "csv", "courses": ["ActivationX+APPLY101"]},
}

# Tracking events go to their own file, as the LMS's tracking.log, not to the console ``make demo`` runs in.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"outside_the_platform": {"()": "demo.logs.OutsideThePlatform"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "tracking": {"class": "logging.handlers.RotatingFileHandler", "delay": True, "encoding": "utf-8",
                     "filename": os.environ.get("DEMO_TRACKING_LOG", str(BASE_DIR / "tracking.log")),
                     "maxBytes": 20_000_000, "backupCount": 1},
    },
    "loggers": {
        "activation_plugin": {"handlers": ["console"], "level": "INFO"},
        "tracking": {"handlers": ["tracking"], "level": "INFO"},
        "event_routing_backends.helpers": {"filters": ["outside_the_platform"]},
    },
}

add_plugins(__name__, PROJECT_TYPE, "common")
