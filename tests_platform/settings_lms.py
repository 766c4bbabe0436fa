"""
The LMS's own test settings (``lms.envs.test``, plugins included) on MariaDB, for
``scripts/platform-env migrate`` and the tests in this directory.

Importable as the top-level module ``settings_lms``: ``scripts/platform-env`` puts this directory
(never the checkout above it) on ``PYTHONPATH``, so ``activation_plugin`` can only come from the
installed wheel.
"""
# pylint: disable=wildcard-import,unused-wildcard-import
import os

# The snapshot's certificate webhook (lms/djangoapps/certificates/webhook_handler.py) reads this from
# the environment when it is imported, not from settings: set it before the LMS loads.
os.environ.setdefault("ICG_WEBHOOK_ENABLED", "false")

from lms.envs.test import *  # noqa: E402,F401,F403

ICG_WEBHOOK_ENABLED = False

_NAME = os.environ.get("ACTIVATION_PLATFORM_DB", "activation_platform_test")


def _mariadb(name, **extra):
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": name,
        "USER": os.environ.get("ACTIVATION_PLATFORM_DB_USER", "root"),
        "PASSWORD": os.environ.get("ACTIVATION_PLATFORM_DB_PASSWORD", ""),
        "HOST": os.environ.get("ACTIVATION_PLATFORM_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ACTIVATION_PLATFORM_DB_PORT", "3306"),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"},
        # The tests run on the database `platform-env migrate` built (tests_platform/conftest.py
        # never creates or drops one); this name is what pytest-django would use otherwise.
        "TEST": {"NAME": name},
        **extra,
    }


DATABASES = {
    "default": _mariadb(_NAME, ATOMIC_REQUESTS=True),
    # StudentModuleHistoryExtended is routed to its own database, as in production.
    "student_module_history": _mariadb(f"{_NAME}_csmh"),
}

# `platform-env migrate` builds (and caches) the platform's schema without the plugin's tables,
# then applies the plugin's migrations on top: this switches them off for the first part.
if os.environ.get("ACTIVATION_PLATFORM_SKIP_PLUGIN_MIGRATIONS"):
    MIGRATION_MODULES = {**globals().get("MIGRATION_MODULES", {}), "activation_plugin": None}
