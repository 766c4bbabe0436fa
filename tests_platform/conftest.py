"""
Fixtures for the tests that run the installed plugin inside edx-platform's LMS (``scripts/platform-env test``).

The database is the one ``scripts/platform-env migrate`` built on MariaDB with the platform's and the
plugin's real migrations: it is used as it is (each test runs in a transaction rolled back at its
end), never created from the models, flushed or dropped here.
"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from edx_django_utils.cache import RequestCache

# The platform's own autouse fixtures (its conftest.py): no webpack bundles, no sites-cache reset.
from cms.conftest import _django_clear_site_cache, no_webpack_loader  # noqa: F401  pylint: disable=unused-import


def _plugin_test_factories():
    """
    The plugin's factories (``tests/factories.py``, not shipped in the wheel), loaded from their file:
    putting the checkout on the path would let its ``activation_plugin`` shadow the installed wheel.
    """
    path = Path(__file__).resolve().parent.parent / "tests" / "factories.py"
    spec = importlib.util.spec_from_file_location("activation_test_factories", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_plugin_test_factories()


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    """The migrated database as it is; it must have no migration left to apply."""
    with django_db_blocker.unblock():
        connection = connections["default"]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _backwards in pending[:10])
            pytest.exit(f"{connection.settings_dict['NAME']} has {len(pending)} unapplied migrations ({names}): "
                        "run scripts/platform-env migrate", returncode=3)
    yield


@pytest.fixture(autouse=True)
def _fresh_request_cache():
    """Like the platform's CacheIsolationMixin: no cohort or role answer leaks between tests."""
    RequestCache.clear_all_namespaces()
    yield
    RequestCache.clear_all_namespaces()


@pytest.fixture
def installed_site_packages():
    """The platform venv's site-packages, where the wheel was installed (set by platform-env)."""
    return os.environ["ACTIVATION_PLATFORM_SITE"]
