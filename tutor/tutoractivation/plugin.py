"""
The Tutor plugin of activation-plugin: Tutor config values in, Dockerfile, settings and a
scheduler for the tick out. Every value is rendered by ``tutor config save``; nothing runs here
at LMS runtime.
"""
import json
import re
from pathlib import Path

from tutor import exceptions, hooks, plugins

from tutoractivation import __version__

ROOT = Path(__file__).resolve().parent

hooks.Filters.CONFIG_DEFAULTS.add_items([
    ("ACTIVATION_VERSION", __version__),
    # What pip installs into the openedx image: a release, a git URL or a path in a build mount.
    ("ACTIVATION_PIP_REQUIREMENT", "activation-plugin=={{ ACTIVATION_VERSION }}"),
    # Django settings of the plugin (docs/references/settings.rst), for the LMS and Studio.
    ("ACTIVATION_SETTINGS", {}),
    # KPI sources without their secrets, and the secrets by source: merged into the LMS settings only.
    ("ACTIVATION_METRIC_SOURCES", {}),
    ("ACTIVATION_METRIC_SOURCES_SECRETS", {}),
    # The scheduler of the periodic tick: a compose service with `tutor local`, a CronJob on k8s.
    ("ACTIVATION_RUN_TICK", True),
    ("ACTIVATION_TICK_INTERVAL_MINUTES", 15),
    # The KPI pulls run on the same schedule: each pulls only the sources whose own schedule is due.
    ("ACTIVATION_TICK_COMMANDS", ["activation_tick", "activation_pull_metrics"]),
    # Housekeeping run once a day by the same scheduler (a second CronJob on k8s): the sweep of
    # upload files no row points to lists the whole upload folder, too much for every tick on S3.
    # An empty list runs nothing daily.
    ("ACTIVATION_DAILY_COMMANDS", ["activation_sweep_files"]),
])

SETTING_NAME = re.compile(r"^ACTIVATION_[A-Z0-9_]+$")
COMMAND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Rendered only into the LMS settings, with the secrets: never through ACTIVATION_SETTINGS.
SECRET_BEARING = ("ACTIVATION_METRIC_SOURCES",)


def python_literal(value):
    """
    A Python literal of the JSON value: what YAML gave Tutor (dates included) becomes plain
    strings, numbers, booleans and None that a settings module can evaluate.
    """
    return repr(json.loads(json.dumps(value, default=str)))


def settings_lines(values):
    """``NAME = literal`` lines for ``ACTIVATION_SETTINGS``; refuses names that are not the plugin's."""
    if not isinstance(values, dict):
        raise exceptions.TutorError("ACTIVATION_SETTINGS must be a mapping of setting names to values.")
    lines = []
    for name, value in sorted(values.items()):
        if not SETTING_NAME.match(str(name)):
            raise exceptions.TutorError(f"ACTIVATION_SETTINGS: {name!r} is not an ACTIVATION_* setting name.")
        if name in SECRET_BEARING:
            raise exceptions.TutorError(
                f"ACTIVATION_SETTINGS: set {name} with the Tutor values ACTIVATION_METRIC_SOURCES and "
                "ACTIVATION_METRIC_SOURCES_SECRETS, so its secrets stay out of Studio's settings.")
        lines.append(f"{name} = {python_literal(value)}")
    return "\n".join(lines)


def _merged(base, secrets, where):
    merged = dict(base)
    for key, value in secrets.items():
        if isinstance(value, dict):
            if not isinstance(merged.get(key, {}), dict):
                raise exceptions.TutorError(f"ACTIVATION_METRIC_SOURCES_SECRETS: {where}{key} is not a mapping "
                                            "in ACTIVATION_METRIC_SOURCES.")
            merged[key] = _merged(merged.get(key, {}), value, f"{where}{key}.")
        else:
            merged[key] = value
    return merged


def metric_sources(sources, secrets):
    """
    The sources with their secrets merged in, as a Python literal. The secrets are a second
    mapping of the same shape (``{"crm": {"auth": {"token": "…"}}}``). Errors name the source
    and key, never a value.
    """
    if not isinstance(sources, dict) or not isinstance(secrets, dict):
        raise exceptions.TutorError("ACTIVATION_METRIC_SOURCES and ACTIVATION_METRIC_SOURCES_SECRETS must be mappings.")
    unknown = sorted(set(secrets) - set(sources))
    if unknown:
        raise exceptions.TutorError(
            f"ACTIVATION_METRIC_SOURCES_SECRETS names sources that ACTIVATION_METRIC_SOURCES lacks: {', '.join(unknown)}.")
    return python_literal(_merged(sources, secrets, ""))


def tick_script(commands, name="ACTIVATION_TICK_COMMANDS"):
    """Shell that runs each management command in turn and sets ``status=1`` if any failed."""
    if not isinstance(commands, list) or not all(isinstance(c, str) and COMMAND_NAME.match(c) for c in commands) or (
            not commands and name == "ACTIVATION_TICK_COMMANDS"):
        raise exceptions.TutorError(f"{name} must list management command names, e.g. activation_tick.")
    return " ".join(f"./manage.py lms {command} || status=1;" for command in commands)


def tick_minutes(minutes):
    """The interval, checked: k8s writes it as cron's ``*/N``, which cannot say an hour or more."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 59:
        raise exceptions.TutorError("ACTIVATION_TICK_INTERVAL_MINUTES must be a whole number from 1 to 59.")
    return minutes


hooks.Filters.ENV_TEMPLATE_FILTERS.add_items([
    ("activation_settings_lines", settings_lines),
    ("activation_metric_sources", metric_sources),
    ("activation_tick_script", tick_script),
    ("activation_tick_minutes", tick_minutes),
])

# The Aspects parts (Superset assets, the xAPI allow-list) render only where tutor-contrib-aspects
# is enabled: a function, since which plugins are loaded is known when templates render, not now.
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(("activation_aspects_enabled",
                                               lambda: plugins.is_loaded("aspects")))

# With Aspects, `tutor local do init` builds the plugin's dbt models in the dbt project Aspects runs,
# in Aspects' own job container, after Aspects' dbt run (its init task has priority 94) made the
# xAPI tables they read: the package the LMS runs (ACTIVATION_PIP_REQUIREMENT) brings them along.
# Views: one run per release is enough, the figures are computed when queried.
DBT_INIT_TASK = """\
# activation-plugin: build its dbt models in Aspects' dbt project, as Aspects' own job does
cd /app
bash /app/aspects/scripts/bootstrap.sh
rm -rf /tmp/activation-plugin
pip install --quiet --no-deps --target /tmp/activation-plugin "{{ ACTIVATION_PIP_REQUIREMENT }}"
cd /app/aspects-dbt
rm -rf models/activation_plugin macros/activation_plugin
cp -r /tmp/activation-plugin/activation_plugin/aspects/dbt/models/activation models/activation_plugin
cp -r /tmp/activation-plugin/activation_plugin/aspects/dbt/macros macros/activation_plugin
dbt run --select path:models/activation_plugin
"""


@hooks.Filters.CLI_DO_INIT_TASKS.add(priority=95)
def _build_dbt_models_in_aspects(tasks):
    """Only where Aspects is enabled: its job container does not exist otherwise."""
    if plugins.is_loaded("aspects"):
        tasks.append(("aspects", DBT_INIT_TASK))
    return tasks


# The dashboard in the instructor dashboard's Reports tab, next to Aspects' own (platform-plugin-aspects
# embeds ASPECTS_INSTRUCTOR_DASHBOARDS, and Aspects' Superset init makes the dashboards of
# SUPERSET_EMBEDDABLE_DASHBOARDS embeddable under these uuids). Added to Aspects' defaults, last:
# an operator who sets either value in config.yml lists the Activation dashboard there too.
EMBEDDED_DASHBOARD = {"name": "Activation", "slug": "activation", "uuid": "5b1f6c5e-2f1a-5d3e-9a47-0c6a1e7d4b21",
                      "allow_translations": False}


@hooks.Filters.CONFIG_DEFAULTS.add(priority=hooks.priorities.LOW)
def _offer_the_dashboard_to_instructors(items):
    """Later items win: Aspects' values with the dashboard added, where Aspects gave any."""
    defaults = dict(items)
    if "ASPECTS_INSTRUCTOR_DASHBOARDS" in defaults and "SUPERSET_EMBEDDABLE_DASHBOARDS" in defaults:
        items.append(("ASPECTS_INSTRUCTOR_DASHBOARDS",
                      [*defaults["ASPECTS_INSTRUCTOR_DASHBOARDS"], EMBEDDED_DASHBOARD]))
        items.append(("SUPERSET_EMBEDDABLE_DASHBOARDS", {**defaults["SUPERSET_EMBEDDABLE_DASHBOARDS"],
                                                         EMBEDDED_DASHBOARD["slug"]: EMBEDDED_DASHBOARD["uuid"]}))
    return items


hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(ROOT / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_item(("activation/k8s", "plugins"))


@hooks.Filters.IMAGES_BUILD_REQUIRED.add()
def _build_openedx_on_local_launch(image_names, context_name):
    """The pip package goes into the openedx image, so `tutor local launch` rebuilds it."""
    if context_name == "local":
        image_names.append("openedx")
    return image_names


for path in sorted((ROOT / "patches").iterdir()):
    hooks.Filters.ENV_PATCHES.add_item((path.name, path.read_text(encoding="utf-8")))

# The plugin's own settings merge its dashboard steps into OPEN_EDX_FILTERS_CONFIG (after the
# YAML, in production). Tutor core never sets that dict; this re-merge, rendered last (low
# priority) at the end of each settings module, keeps the steps if another Tutor plugin's
# settings patch replaces the whole dict.
FILTERS_REMERGE = """\
# activation-plugin: keep the instructor dashboard steps in OPEN_EDX_FILTERS_CONFIG
import sys as _activation_sys
from activation_plugin.settings.common import merge_filter_steps as _activation_merge_filter_steps
_activation_merge_filter_steps(_activation_sys.modules[__name__])"""
# With Aspects, the plugin's events join event-routing-backends' xAPI allow-list, after ERB's own
# settings built the router from it (activation_plugin.xapi.allow_xapi_events). LMS only: the
# events are emitted there.
XAPI_ALLOW = """\
{% if activation_aspects_enabled() %}
# activation-plugin: route the edx.activation.* events to Aspects as xAPI statements
import sys as _activation_sys
from activation_plugin.xapi import allow_xapi_events as _activation_allow_xapi_events
_activation_allow_xapi_events(_activation_sys.modules[__name__])
{% endif %}"""
for service in ("lms", "cms"):
    for variant in ("production", "development"):
        hooks.Filters.ENV_PATCHES.add_item((f"openedx-{service}-{variant}-settings", FILTERS_REMERGE),
                                           priority=hooks.priorities.LOW)
        if service == "lms":
            hooks.Filters.ENV_PATCHES.add_item((f"openedx-lms-{variant}-settings", XAPI_ALLOW),
                                               priority=hooks.priorities.LOW)
