"""
System checks: what an operator should know about this install, printed by ``manage.py check``,
``migrate`` and the servers' start-up, instead of a feature that silently never runs.
"""
from django.conf import settings
from django.core import checks
from openedx_filters import __version__ as openedx_filters_version

from activation_plugin.settings.common import mfe_tabs_filter_available

MFE_TAB_UNAVAILABLE = "activation_plugin.I001"
LOCK_WAIT_INVALID = "activation_plugin.E001"
LOCK_WAIT_TOO_LONG = "activation_plugin.W001"
ISOLATION_NOT_READ_COMMITTED = "activation_plugin.W002"
# gunicorn's default --timeout: a worker waiting longer is killed instead of answering.
WORKER_TIMEOUT_SECONDS = 30


@checks.register()
def mfe_tab_availability(app_configs, **kwargs):  # pylint: disable=unused-argument
    """The instructor dashboard MFE gets its Activation tab only from openedx-filters 3.4 on."""
    if mfe_tabs_filter_available():
        return []
    return [checks.Info(
        f"openedx-filters {openedx_filters_version} has no InstructorDashboardTabsRequested filter (it came "
        "in 3.4), so the instructor dashboard MFE shows no Activation tab on this platform.",
        hint="Course staff reach Activation through the legacy instructor dashboard's section or at "
             "/activation/courses/<course_id>/. Silence with SILENCED_SYSTEM_CHECKS = ['activation_plugin.I001'].",
        id=MFE_TAB_UNAVAILABLE,
    )]


@checks.register()
def lock_wait_bound(app_configs, **kwargs):  # pylint: disable=unused-argument
    """``ACTIVATION_LOCK_WAIT_SECONDS`` only helps as a whole number of seconds shorter than a worker lives."""
    seconds = settings.ACTIVATION_LOCK_WAIT_SECONDS
    if seconds is None:
        return []
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        return [checks.Error(
            f"ACTIVATION_LOCK_WAIT_SECONDS is {seconds!r}: it must be a whole number of seconds, or None or 0 to "
            "keep the database's own lock wait.", id=LOCK_WAIT_INVALID)]
    if seconds >= WORKER_TIMEOUT_SECONDS:
        return [checks.Warning(
            f"ACTIVATION_LOCK_WAIT_SECONDS is {seconds}: a request waiting that long on a locked row is likely to "
            f"outlive its web worker (gunicorn kills workers after {WORKER_TIMEOUT_SECONDS} s by default), which "
            "then answers nothing instead of 'try again'.",
            hint="Keep it well under the workers' timeout; the default is 5.", id=LOCK_WAIT_TOO_LONG)]
    return []


@checks.register(checks.Tags.database)
def isolation_level(app_configs, **kwargs):  # pylint: disable=unused-argument
    """
    A learner's one follow-up per course (ADR 0012) holds because whoever opens a window reads the
    learner's windows after waiting for their follow-up row: under repeatable read that read would
    see the transaction's older snapshot, not the window the waited-for one opened.
    """
    return [checks.Warning(
        f"Database {alias!r} runs at isolation level {database['OPTIONS']['isolation_level']!r}: two completions "
        "or a completion and a backfill arriving together can open two running follow-ups for one learner in "
        "one course (the tick keeps the second silent).",
        hint="Use Django's default for MySQL and MariaDB, 'read committed'.", id=ISOLATION_NOT_READ_COMMITTED)
        for alias, database in settings.DATABASES.items()
        if "mysql" in database.get("ENGINE", "")
        and database.get("OPTIONS", {}).get("isolation_level", "read committed").lower() != "read committed"]
