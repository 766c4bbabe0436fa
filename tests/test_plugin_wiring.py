"""The plugin as the LMS and Studio see it: entry points, injected settings, URLs and filter config."""
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core import checks
from django.urls import URLResolver, get_resolver, reverse
from edx_django_utils.plugins import get_plugin_apps
from openedx_filters.learning import filters as platform_filters

from activation_plugin import checks as system_checks
from activation_plugin.lock_waits import bounded_lock_waits
from activation_plugin.settings import common, production

LEGACY = "org.openedx.learning.instructor.dashboard.render.started.v1"
TABS = "org.openedx.learning.instructor.dashboard.tabs.requested.v1"
# openedx-filters 3.4 added the MFE's tabs filter; CI's platform jobs run releases with and without it.
TABS_FILTER_EXISTS = hasattr(platform_filters, "InstructorDashboardTabsRequested")
TAB_STEPS = ["activation_plugin.dashboard.filters.AddActivationTab"] if TABS_FILTER_EXISTS else []


def test_lms_and_studio_discover_the_app_through_entry_points():
    for project in ("lms.djangoapp", "cms.djangoapp"):
        assert "activation_plugin" in [app.split(".")[0] for app in get_plugin_apps(project)]


def test_host_settings_receive_documented_defaults_filters_mako_and_beat():
    assert settings.ACTIVATION_MIN_CELL_SIZE == 5
    assert settings.ACTIVATION_PLATFORM_BACKEND == "demo.platform.DemoBackend"  # the host's value wins
    legacy_steps = settings.OPEN_EDX_FILTERS_CONFIG[LEGACY]["pipeline"]
    assert "activation_plugin.dashboard.filters.AddActivationSection" in legacy_steps
    assert settings.OPEN_EDX_FILTERS_CONFIG.get(TABS, {}).get("pipeline", []) == TAB_STEPS
    assert any(path.endswith("activation_plugin/templates") for path in settings.MAKO_TEMPLATE_DIRS_BASE)
    assert settings.CELERY_BEAT_SCHEDULE["activation-tick"]["task"] == "activation_plugin.tasks.tick"


def test_filter_merge_keeps_other_plugins_steps_and_is_idempotent():
    host = SimpleNamespace(OPEN_EDX_FILTERS_CONFIG={
        LEGACY: {"fail_silently": False, "pipeline": ["other_plugin.Step"]},
    })
    common.merge_filter_steps(host)
    common.merge_filter_steps(host)
    assert host.OPEN_EDX_FILTERS_CONFIG[LEGACY] == {
        "fail_silently": False,
        "pipeline": ["other_plugin.Step", "activation_plugin.dashboard.filters.AddActivationSection"],
    }
    assert host.OPEN_EDX_FILTERS_CONFIG.get(TABS, {}).get("pipeline", []) == TAB_STEPS


def test_production_settings_read_env_tokens_and_re_merge_filters_replaced_by_yaml():
    host = SimpleNamespace(ACTIVATION_MIN_CELL_SIZE=5, OPEN_EDX_FILTERS_CONFIG={TABS: {"pipeline": ["x.Y"]}},
                           ENV_TOKENS={"ACTIVATION_MIN_CELL_SIZE": 10, "UNRELATED": 1})
    production.plugin_settings(host)
    assert host.ACTIVATION_MIN_CELL_SIZE == 10
    assert not hasattr(host, "UNRELATED")
    assert host.OPEN_EDX_FILTERS_CONFIG[TABS]["pipeline"] == ["x.Y", *TAB_STEPS]
    assert LEGACY in host.OPEN_EDX_FILTERS_CONFIG


def test_the_mfe_tab_step_is_registered_exactly_where_its_filter_exists_and_operators_are_told():
    """
    Under openedx-filters 2.1 and 3.1 (Ulmo's and early Verawood's pins) the step used to be
    configured for a filter that never runs: the tab silently never appeared.
    """
    assert (TABS in common.filter_steps()) is TABS_FILTER_EXISTS
    notices = [message for message in checks.run_checks() if message.id == "activation_plugin.I001"]
    if TABS_FILTER_EXISTS:
        assert notices == []
    else:
        [notice] = notices
        assert notice.level == checks.INFO
        assert "no Activation tab" in notice.msg and "/activation/courses/" in notice.hint


def test_common_settings_never_override_operator_values():
    host = SimpleNamespace(ACTIVATION_TICK_BATCH_SIZE=50)
    common.plugin_settings(host)
    assert host.ACTIVATION_TICK_BATCH_SIZE == 50
    assert host.ACTIVATION_MAX_WINDOW_DAYS == 365
    assert not hasattr(host, "MAKO_TEMPLATE_DIRS_BASE")  # Studio without Mako dirs is left alone


def test_plugin_urls_are_mounted_under_activation():
    course = "course-v1:TestX+APPLY+2026"
    assert reverse("activation_plugin:instructor", kwargs={"course_id": course}) == f"/activation/courses/{course}/"
    assert reverse("activation_plugin:learner", kwargs={"course_id": course}) == f"/activation/learner/{course}/"


@pytest.mark.parametrize("seconds, found", [
    (5, []), (None, []), (0, []),
    ("5s", [("activation_plugin.E001", checks.ERROR)]), (-1, [("activation_plugin.E001", checks.ERROR)]),
    (True, [("activation_plugin.E001", checks.ERROR)]), (50, [("activation_plugin.W001", checks.WARNING)]),
])
def test_a_lock_wait_bound_that_cannot_work_is_reported_at_start_up(settings, seconds, found):
    """A bound that is not a number of seconds, or that outlasts a web worker, would never answer "try again"."""
    settings.ACTIVATION_LOCK_WAIT_SECONDS = seconds
    assert [(message.id, message.level) for message in checks.run_checks()
            if message.id in ("activation_plugin.E001", "activation_plugin.W001")] == found


def _views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns)
        else:
            yield pattern.name, pattern.callback


def _bounded(view):
    bounded = bounded_lock_waits(lambda request: None).__code__
    while view is not None and getattr(view, "__code__", None) is not bounded:
        view = getattr(view, "__wrapped__", None)
    return view is not None


def test_every_page_and_endpoint_waits_for_a_row_lock_at_most_the_bound():
    """A view added without ``page()`` or ``endpoint()`` would hold a worker for the server's 50 s lock wait."""
    plugin = get_resolver().namespace_dict["activation_plugin"][1]
    unbounded = {name for name, view in _views(plugin.url_patterns) if not _bounded(view)}
    assert unbounded == {"index", "schema"}  # the API's own description: it reads no rows


@pytest.mark.parametrize("engine, level, warned", [
    ("django.db.backends.mysql", None, False), ("django.db.backends.mysql", "READ COMMITTED", False),
    ("django.db.backends.mysql", "repeatable read", True), ("django.db.backends.sqlite3", "repeatable read", False),
])
def test_a_mysql_isolation_level_that_breaks_the_one_follow_up_is_reported(monkeypatch, engine, level, warned):
    """Under repeatable read, a completion that waited for the learner's follow-up row reads an old snapshot."""
    database = {"ENGINE": engine, "OPTIONS": {"isolation_level": level} if level else {}}
    monkeypatch.setattr(system_checks, "settings", SimpleNamespace(DATABASES={"default": database}))
    assert [message.id for message in system_checks.isolation_level(None)] == (
        ["activation_plugin.W002"] if warned else [])
