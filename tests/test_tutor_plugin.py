"""
The Tutor plugin in ``tutor/``, as an operator gets it: built into a wheel, found by Tutor through
its ``tutor.plugin.v1`` entry point, enabled, and rendered by ``tutor config save`` (Tutor from
PyPI, pinned in requirements/test.txt; no Docker needed).
"""
# The LMS settings modules run_settings builds carry what the rendered code set; pylint cannot see them.
# pylint: disable=no-member
import json
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import yaml

import activation_plugin
from activation_plugin.settings.common import filter_steps

ROOT = Path(__file__).resolve().parent.parent
TUTOR = Path(sys.executable).with_name("tutor")
SECRET = "s3cret-token-only-in-lms-settings"
SOURCES = {"crm": {"kind": "rest", "url": "https://crm.example.com/api/v1/scores", "allowed_hosts": ["crm.example.com"],
                   "auth": {"type": "bearer"}, "schedule_minutes": 60,
                   "mapping": {"external_id": "email", "metric": "'csat'", "value": "score", "observed_at": "at"}}}
# The build writes build/ and the egg-info into the source tree: one worker at a time (make test's xdist).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("source_tree_build")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                    str(ROOT / "tutor")], check=True, capture_output=True)
    [built] = out.glob("tutor_contrib_activation-*.whl")
    return built


@pytest.fixture(scope="module")
def plugin_site(wheel, tmp_path_factory):
    """The wheel installed into a directory of its own: Tutor finds it by its entry point only."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    return site


@pytest.fixture
def tutor(plugin_site, tmp_path):
    """Run the tutor CLI on a fresh project root in ``tmp_path / "root"``."""
    env = {**os.environ, "TUTOR_ROOT": str(tmp_path / "root"), "TUTOR_PLUGINS_ROOT": str(tmp_path / "plugins"),
           "PYTHONPATH": str(plugin_site)}

    def run(*args, check=True):
        result = subprocess.run([str(TUTOR), *args], env=env, capture_output=True, text=True, check=False)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result
    run("plugins", "enable", "activation")
    return run


def save(tutor, *settings, check=True):
    args = ["config", "save"]
    for name, value in settings:
        args += ["--set", f"{name}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
    return tutor(*args, check=check)


def env_file(tmp_path, path):
    return (tmp_path / "root" / "env" / path).read_text(encoding="utf-8")


def activation_blocks(text):
    """The code the plugin's settings patches added: each block starts with its marker comment."""
    blocks, block = [], None
    for line in text.splitlines():
        if line.startswith("# activation-plugin"):
            block = [line]
            blocks.append(block)
        elif block is not None and line.strip():
            block.append(line)
        else:
            block = None
    return "\n".join("\n".join(block) for block in blocks)


def run_settings(code, **existing):
    """Execute the rendered settings code as the LMS would, in a module holding ``existing`` settings."""
    module = types.ModuleType("lms.envs.tutor.production_under_test")
    module.__dict__.update(existing)
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, module.__name__, "exec"), module.__dict__)  # noqa: S102  # pylint: disable=exec-used
    finally:
        del sys.modules[module.__name__]
    return module


def test_wheel_declares_the_tutor_entry_point_and_ships_patches_and_templates(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert {"tutoractivation/plugin.py", "tutoractivation/patches/openedx-dockerfile-post-python-requirements",
            "tutoractivation/templates/activation/k8s/tick.yml"} <= names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "[tutor.plugin.v1]\nactivation = tutoractivation.plugin" in archive.read(entry_points).decode()


def test_config_save_renders_the_package_the_settings_and_the_tick(tutor, tmp_path):
    assert "activation" in tutor("plugins", "list").stdout
    save(tutor, ("ACTIVATION_PIP_REQUIREMENT", "activation-plugin==0.1.0"),
         ("ACTIVATION_SETTINGS", {"ACTIVATION_MIN_CELL_SIZE": 10, "ACTIVATION_TICK_BATCH_SIZE": 200}),
         ("ACTIVATION_METRIC_SOURCES", SOURCES),
         ("ACTIVATION_METRIC_SOURCES_SECRETS", {"crm": {"auth": {"token": SECRET}}}))

    dockerfile = env_file(tmp_path, "build/openedx/Dockerfile")
    assert "$PIP_COMMAND install 'activation-plugin==0.1.0'" in dockerfile
    assert dockerfile.index("activation-plugin==0.1.0") < dockerfile.index("FROM python AS nodejs-requirements")

    other_step = {"fail_silently": False, "pipeline": ["other_plugin.filters.Step"]}
    for path in ("lms/production.py", "lms/development.py"):
        code = activation_blocks(env_file(tmp_path, f"apps/openedx/settings/{path}"))
        # Another Tutor plugin replaced the whole dict in its settings patch: our steps come back.
        settings = run_settings(code, OPEN_EDX_FILTERS_CONFIG={next(iter(filter_steps())): other_step})
        assert settings.ACTIVATION_MIN_CELL_SIZE == 10 and settings.ACTIVATION_TICK_BATCH_SIZE == 200
        assert settings.ACTIVATION_METRIC_SOURCES == {
            "crm": {**SOURCES["crm"], "auth": {"type": "bearer", "token": SECRET}}}
        for filter_type, step in filter_steps().items():
            assert step in settings.OPEN_EDX_FILTERS_CONFIG[filter_type]["pipeline"], path
        assert "other_plugin.filters.Step" in settings.OPEN_EDX_FILTERS_CONFIG[next(iter(filter_steps()))]["pipeline"]
    for path in ("cms/production.py", "cms/development.py"):
        settings = run_settings(activation_blocks(env_file(tmp_path, f"apps/openedx/settings/{path}")))
        assert settings.ACTIVATION_MIN_CELL_SIZE == 10
        assert not hasattr(settings, "ACTIVATION_METRIC_SOURCES")
        assert set(filter_steps()) <= set(settings.OPEN_EDX_FILTERS_CONFIG)

    compose = yaml.safe_load(env_file(tmp_path, "local/docker-compose.prod.yml"))["services"]["activation-tick"]
    lms = yaml.safe_load(env_file(tmp_path, "local/docker-compose.yml"))["services"]["lms"]
    assert compose["image"] == lms["image"]  # the openedx image the plugin's package is built into
    assert compose["environment"]["DJANGO_SETTINGS_MODULE"] == "lms.envs.tutor.production"
    assert "./manage.py lms activation_tick" in compose["command"][-1] and "sleep 900" in compose["command"][-1]
    assert "activation-tick" not in env_file(tmp_path, "local/docker-compose.yml")  # not in `tutor dev`

    assert "- plugins/activation/k8s/tick.yml" in env_file(tmp_path, "kustomization.yml").splitlines()
    cronjob, daily = [job for job in yaml.safe_load_all(env_file(tmp_path, "plugins/activation/k8s/tick.yml")) if job]
    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["schedule"] == "*/15 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c", "status=0; ./manage.py lms activation_tick || status=1; "
                                    "./manage.py lms activation_pull_metrics || status=1; exit $status"]
    # Issue 15: orphan upload files are swept by default, once a day.
    assert (daily["metadata"]["name"], daily["spec"]["schedule"]) == ("activation-daily", "17 3 * * *")
    [container] = daily["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c", "status=0; ./manage.py lms activation_sweep_files || status=1; "
                                    "exit $status"]


def test_the_compose_scheduler_runs_the_daily_commands_once_a_day(tutor, tmp_path):
    save(tutor)
    loop = yaml.safe_load(env_file(tmp_path, "local/docker-compose.prod.yml"))["services"]["activation-tick"]
    script = loop["command"][-1].replace("$$", "$")  # compose's escape of a literal $
    assert "./manage.py lms activation_sweep_files || status=1;" in script
    assert script.index("activation_tick") < script.index("86400") < script.index("activation_sweep_files")
    # What the container runs: three ticks in a row with the day check, the sweep only in the first.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "manage.py").write_text("#!/bin/sh\necho \"$2\" >> ran.txt\n")
    (fake / "manage.py").chmod(0o755)
    once = script.split("while true; do", 1)[1].rsplit("sleep", 1)[0]
    subprocess.run(["sh", "-c", "last_daily=0; " + once * 3], cwd=fake, check=True)
    assert (fake / "ran.txt").read_text().split().count("activation_sweep_files") == 1


def test_daily_commands_can_be_switched_off(tutor, tmp_path):
    save(tutor, ("ACTIVATION_DAILY_COMMANDS", []))
    assert "activation_sweep_files" not in env_file(tmp_path, "local/docker-compose.prod.yml")
    jobs = [job for job in yaml.safe_load_all(env_file(tmp_path, "plugins/activation/k8s/tick.yml")) if job]
    assert [job["metadata"]["name"] for job in jobs] == ["activation-tick"]


def test_secrets_reach_only_the_lms_settings(tutor, tmp_path):
    save(tutor, ("ACTIVATION_METRIC_SOURCES", SOURCES),
         ("ACTIVATION_METRIC_SOURCES_SECRETS", {"crm": {"auth": {"token": SECRET}}}))
    holding = sorted(str(path.relative_to(tmp_path / "root")) for path in (tmp_path / "root").rglob("*")
                     if path.is_file() and SECRET in path.read_text(encoding="utf-8", errors="ignore"))
    # config.yml is Tutor's own store of every value set with --set, secrets included.
    assert holding == ["config.yml", "env/apps/openedx/settings/lms/development.py",
                       "env/apps/openedx/settings/lms/production.py"]


def test_the_tick_scheduler_follows_its_config(tutor, tmp_path):
    save(tutor, ("ACTIVATION_TICK_INTERVAL_MINUTES", 5), ("ACTIVATION_TICK_COMMANDS", ["activation_tick", "other_job"]))
    compose = yaml.safe_load(env_file(tmp_path, "local/docker-compose.prod.yml"))["services"]["activation-tick"]
    command = compose["command"][-1]
    assert "./manage.py lms activation_tick || status=1; ./manage.py lms other_job || status=1;" in command
    assert "sleep 300" in command
    assert '"*/5 * * * *"' in env_file(tmp_path, "plugins/activation/k8s/tick.yml")

    save(tutor, ("ACTIVATION_RUN_TICK", False))
    assert "activation-tick" not in env_file(tmp_path, "local/docker-compose.prod.yml")
    assert "activation" not in env_file(tmp_path, "kustomization.yml")


@pytest.mark.parametrize("setting, value, message", [
    ("ACTIVATION_METRIC_SOURCES_SECRETS", {"hr": {"secret": SECRET}}, "ACTIVATION_METRIC_SOURCES lacks: hr"),
    ("ACTIVATION_SETTINGS", {"SECRET_KEY": "x"}, "'SECRET_KEY' is not an ACTIVATION_* setting name"),
    ("ACTIVATION_SETTINGS", {"ACTIVATION_METRIC_SOURCES": {}}, "set ACTIVATION_METRIC_SOURCES with the Tutor values"),
    ("ACTIVATION_TICK_INTERVAL_MINUTES", 90, "must be a whole number from 1 to 59"),
    ("ACTIVATION_TICK_COMMANDS", ["activation_tick; rm -rf /"], "must list management command names"),
])
def test_bad_values_fail_config_save_with_a_clear_error_that_shows_no_secret(tutor, setting, value, message):
    result = save(tutor, (setting, value), check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


# Issue 19: the Aspects parts. The real tutor-contrib-aspects pins another Tutor and click than
# ours, so a stand-in plugin named ``aspects`` plays its part: Aspects renders the
# ``superset-extra-assets`` patch into the assets its Superset image imports, and has the dbt target,
# the dashboards it offers instructors and embeds (its defaults, abridged), and its init task that
# runs its dbt project in its job container (priority 94), before its Superset init (95).
ASPECTS_STAND_IN = '''
from pathlib import Path
from tutor import hooks
hooks.Filters.CONFIG_DEFAULTS.add_items([
    ("DBT_PROFILE_TARGET_DATABASE", "reporting"), ("SUPERSET_ROLES_MAPPING", {"instructor": "instructor"}),
    ("ASPECTS_INSTRUCTOR_DASHBOARDS", [{"name": "Course Dashboard", "slug": "course-dashboard",
                                       "uuid": "c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "allow_translations": True}]),
    ("SUPERSET_EMBEDDABLE_DASHBOARDS", {"course-dashboard": "c0e64194-33d1-4d5a-8c10-4f51530c5ee9"}),
])
hooks.Filters.CLI_DO_INIT_TASKS.add_item(("aspects", "bash /app/aspects/scripts/dbt.sh True run"), priority=94)
hooks.Filters.CLI_DO_INIT_TASKS.add_item(("superset", "python /app/pythonpath/create_assets.py"), priority=95)
hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(Path(__file__).with_name("aspects_templates")))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_item(("aspects", "plugins"))
'''


def lms_settings_with_erb(tmp_path):
    """The rendered LMS settings run over event-routing-backends' own settings, as in the LMS."""
    from event_routing_backends.settings import common as erb_settings  # pylint: disable=import-outside-toplevel
    erb = types.SimpleNamespace(LMS_ROOT_URL="https://lms.example.com")
    erb_settings.plugin_settings(erb)
    code = activation_blocks(env_file(tmp_path, "apps/openedx/settings/lms/production.py"))
    return run_settings(code, **vars(erb))


INIT_TASKS = """
import json, sys
from tutor import config, env, hooks
hooks.Actions.CORE_READY.do()
hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])
values = config.load_full(sys.argv[1])
tasks = hooks.Filters.CLI_DO_INIT_TASKS.iterate()
print(json.dumps([[service, env.render_str(values, task)] for service, task in tasks]))
"""


def init_tasks(tmp_path, plugin_site):
    """``(service, script)`` of ``tutor local do init``, in order, rendered as Tutor runs them."""
    result = subprocess.run([sys.executable, "-c", INIT_TASKS, str(tmp_path / "root")], check=True, capture_output=True,
                            text=True, env={**os.environ, "TUTOR_PLUGINS_ROOT": str(tmp_path / "plugins"),
                                            "PYTHONPATH": str(plugin_site)})
    return [tuple(task) for task in json.loads(result.stdout)]


def with_aspects(tutor, tmp_path):
    plugins = tmp_path / "plugins"
    (plugins / "aspects_templates" / "aspects").mkdir(parents=True)
    (plugins / "aspects.py").write_text(ASPECTS_STAND_IN, encoding="utf-8")
    (plugins / "aspects_templates" / "aspects" / "assets.yaml").write_text('{{ patch("superset-extra-assets") }}\n',
                                                                           encoding="utf-8")
    tutor("plugins", "enable", "aspects")


def test_without_aspects_no_superset_assets_and_no_xapi_routing(tutor, tmp_path, plugin_site):
    save(tutor)
    assert not [script for _service, script in init_tasks(tmp_path, plugin_site) if "activation" in script]
    assert "superset" not in "".join(path.name for path in (tmp_path / "root" / "env").rglob("*"))
    assert "allow_xapi_events" not in env_file(tmp_path, "apps/openedx/settings/lms/production.py")
    from activation_plugin.xapi import XAPI_EVENTS  # pylint: disable=import-outside-toplevel
    settings = lms_settings_with_erb(tmp_path)
    assert not set(XAPI_EVENTS) & set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)


def test_with_aspects_the_dashboard_and_the_xapi_routing_render(tutor, tmp_path):
    with_aspects(tutor, tmp_path)
    save(tutor)
    assets = [asset for asset in yaml.safe_load_all(env_file(tmp_path, "plugins/aspects/assets.yaml")) if asset]
    datasets = {asset["uuid"]: asset for asset in assets if "table_name" in asset}
    charts = {asset["uuid"]: asset for asset in assets if "slice_name" in asset}
    dashboards = {asset["dashboard_title"]: asset for asset in assets if "dashboard_title" in asset}
    assert set(dashboards) == {"Activation", "Activation portfolio"}
    assert all(dashboard["_roles"] == ["instructor"] for dashboard in dashboards.values())
    assert {asset["sql"] for asset in datasets.values()} == {
        f"select * from reporting.{model}" for model in
        ("activation_rates", "activation_km", "activation_funnel", "activation_windows")}
    assert all(chart["dataset_uuid"] in datasets for chart in charts.values())
    placed = {item["meta"]["uuid"] for dashboard in dashboards.values() for item in dashboard["position"].values()
              if isinstance(item, dict) and item.get("type") == "CHART"}
    assert placed == set(charts) and len(charts) == 7
    assert all("_file_name" in asset for asset in assets)  # what Aspects' create_assets requires

    from activation_plugin.xapi import XAPI_EVENTS  # pylint: disable=import-outside-toplevel
    settings = lms_settings_with_erb(tmp_path)
    router = settings.EVENT_TRACKING_BACKENDS["event_transformer"]["OPTIONS"]
    assert set(XAPI_EVENTS) <= set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)
    assert set(XAPI_EVENTS) <= set(router["processors"][0]["OPTIONS"]["whitelist"])
    assert "allow_xapi_events" not in env_file(tmp_path, "apps/openedx/settings/cms/production.py")


def test_with_aspects_init_builds_the_dbt_models_in_aspects_job_after_its_dbt_run(tutor, tmp_path, plugin_site):
    with_aspects(tutor, tmp_path)
    save(tutor, ("ACTIVATION_PIP_REQUIREMENT", "activation-plugin==9.9.9"))
    tasks = init_tasks(tmp_path, plugin_site)
    [ours] = [index for index, (_service, script) in enumerate(tasks) if "activation-plugin" in script]
    service, script = tasks[ours]
    assert service == "aspects"
    assert tasks.index(("aspects", "bash /app/aspects/scripts/dbt.sh True run")) < ours
    # The release the LMS runs, its dbt package put in Aspects' dbt project, and only it built.
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert 'pip install --quiet --no-deps --target /tmp/activation-plugin "activation-plugin==9.9.9"' in lines
    assert lines[-1] == "dbt run --select path:models/activation_plugin"
    copied = {line.split()[-2].removeprefix("/tmp/activation-plugin/") for line in lines if line.startswith("cp ")}
    assert copied == {"activation_plugin/aspects/dbt/models/activation", "activation_plugin/aspects/dbt/macros"}
    shipped = Path(activation_plugin.__file__).resolve().parent / "aspects" / "dbt"  # what the wheel ships
    assert {path.name for path in shipped.iterdir() if path.is_dir()} == {"models", "macros"}
    assert [path.name for path in (shipped / "models").iterdir()] == ["activation"]
    subprocess.run(["sh", "-n", "-c", script], check=True)  # a script sh runs


def test_with_aspects_instructors_get_the_dashboard_next_to_aspects_own(tutor, tmp_path):
    with_aspects(tutor, tmp_path)
    save(tutor)
    offered = yaml.safe_load(tutor("config", "printvalue", "ASPECTS_INSTRUCTOR_DASHBOARDS").stdout)
    embeddable = yaml.safe_load(tutor("config", "printvalue", "SUPERSET_EMBEDDABLE_DASHBOARDS").stdout)
    assert [dashboard["slug"] for dashboard in offered] == ["course-dashboard", "activation"]
    assert embeddable == {"course-dashboard": "c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "activation": offered[1]["uuid"]}
    assert offered[1]["allow_translations"] is False  # Aspects translates its own dashboards only
    assets = [asset for asset in yaml.safe_load_all(env_file(tmp_path, "plugins/aspects/assets.yaml")) if asset]
    [dashboard] = [asset for asset in assets if asset.get("dashboard_title") == "Activation"]
    assert dashboard["slug"] == "activation"  # what Aspects' Superset init makes embeddable by slug
