"""
An LMS-shaped host for the plugin: INSTALLED_APPS, settings and URLs come from edx-django-utils'
plugin discovery exactly as in edx-platform, so the plugin is exercised the way the LMS loads it.

SQLite and eager Celery by default; ``DEMO_DB=mariadb`` uses MariaDB on 127.0.0.1:3306 and
``DEMO_BROKER=redis://…`` a real broker.
"""
import os
from pathlib import Path

from edx_django_utils.plugins import add_plugins, get_plugin_apps

PROJECT_TYPE = "lms.djangoapp"  # edx-platform's ProjectType.LMS
BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "demo-only-not-a-secret")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "demo",
    "eventtracking.django.apps.EventTrackingConfig",  # the LMS's tracker, built from the settings below
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
        "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
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
LMS_ROOT_URL = os.environ.get("DEMO_LMS_ROOT_URL", "http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = "activation@demo.localhost"
EMAIL_BACKEND = "demo.mail.DatabaseEmailBackend"  # shown at /outbox/; tests use Django's locmem
DEMO_MAIL_DELAY_SECONDS = float(os.environ.get("DEMO_MAIL_DELAY_SECONDS", "0"))  # a slow mail server, for tests

CELERY_BROKER_URL = os.environ.get("DEMO_BROKER", "memory://")
CELERY_TASK_ALWAYS_EAGER = "DEMO_BROKER" not in os.environ
CELERY_TASK_EAGER_PROPAGATES = True

OPEN_EDX_FILTERS_CONFIG = {}
ACTIVATION_PLATFORM_BACKEND = "demo.platform.DemoBackend"
if "DEMO_TICK_BATCH_SIZE" in os.environ:  # small batches make concurrent workers interleave in tests
    ACTIVATION_TICK_BATCH_SIZE = int(os.environ["DEMO_TICK_BATCH_SIZE"])

# As in the LMS: event-tracking's own logger backend writes each event as a JSON line to the
# ``tracking`` logger (the LMS's tracking.log). Tests read the events back from that logger.
EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {
    "tracking_logs": {
        "ENGINE": "eventtracking.backends.logger.LoggerBackend",
        "OPTIONS": {"name": "tracking", "max_event_size": 50000},  # the LMS's TRACK_MAX_EVENT
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "activation_plugin": {"handlers": ["console"], "level": "INFO"},
        "tracking": {"handlers": ["console"], "level": "INFO"},
    },
}

add_plugins(__name__, PROJECT_TYPE, "common")
