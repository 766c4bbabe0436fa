"""
What operators install: the sdist and the wheel carry every file of the package, declare every
library it imports, build without warnings, and install (not editable) where the LMS finds them.

``ACTIVATION_DIST`` names a folder that already holds the sdist and wheel CI built and installed:
the tests then inspect those very files instead of building their own.
"""
import ast
import configparser
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# The checkout the artifacts come from; CI runs the installed suite from a copy without the package.
SOURCE = Path(os.environ.get("ACTIVATION_SOURCE_ROOT", ROOT))
# The build writes build/ and the egg-info into the source tree: one worker at a time (make test's xdist).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("source_tree_build")]

# Modules only the LMS has, imported lazily by platform.py alone (never from PyPI).
EDX_PLATFORM_MODULES = {"common", "lms", "openedx", "xmodule", "cms"}


def build_env():
    """An operator's environment: bytecode compilation on, as pip leaves it."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and wheel, built the way CI and operators build them, with the build's output."""
    given = os.environ.get("ACTIVATION_DIST")
    if given:
        return Path(given), None
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(SOURCE)],
        capture_output=True, text=True, env=build_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(dist):
    [built] = dist[0].glob("activation_plugin-*.whl")
    return built


@pytest.fixture(scope="module")
def sdist(dist):
    [built] = dist[0].glob("activation_plugin-*.tar.gz")
    return built


def source_files():
    """Every file of the package in the checkout: tracked by git, or on disk without it."""
    listed = subprocess.run(["git", "ls-files", "activation_plugin"], cwd=SOURCE, capture_output=True, text=True,
                            check=False)
    if listed.returncode == 0 and listed.stdout.strip():
        return sorted(listed.stdout.split())
    return sorted(str(path.relative_to(SOURCE)) for path in (SOURCE / "activation_plugin").rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)


def test_the_source_tree_is_listed():
    files = source_files()
    assert "activation_plugin/kpi/__init__.py" in files  # the module whose absence stopped the LMS
    assert "activation_plugin/templates/activation_plugin/edx_ace/followup/email/body.txt" in files
    assert len(files) > 100


def test_wheel_carries_every_file_of_the_package(wheel):
    inside = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in source_files() if name not in inside]
    assert not missing, f"missing from the wheel: {missing}"
    assert not [name for name in inside if name.endswith((".pyc", ".pyo")) or "__pycache__" in name]
    assert not any(name.startswith(("demo/", "tests/", "benchmarks/")) for name in inside)


def test_the_wheel_carries_no_test_code(wheel):
    """Factories and the KPI test server lived in activation_plugin/test_utils and shipped to every LMS (issue 30)."""
    inside = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in inside if {"test_utils", "tests", "testing"} & set(name.split("/")[:-1])
                or name.rsplit("/", 1)[-1].startswith(("test_", "conftest"))]


def test_sdist_carries_every_file_of_the_package(sdist):
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    prefix = names[0].split("/")[0] + "/"
    inside = {name.removeprefix(prefix) for name in names}
    missing = [name for name in source_files() if name not in inside]
    assert not missing, f"missing from the sdist: {missing}"
    for required in ("LICENSE.txt", "README.md", "setup.py", "pyproject.toml", "requirements/base.in",
                     "requirements/constraints.txt"):
        assert required in inside, required


def test_the_build_prints_no_warning(dist):
    _, output = dist
    if output is None:
        pytest.skip("ACTIVATION_DIST: CI's build step checked its own output")
    warnings = [line for line in output.splitlines() if re.search(r"warning|deprecat|would be ignored", line, re.I)]
    assert not warnings, "\n".join(warnings)


def test_twine_accepts_both_artifacts(dist):
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist[0].iterdir()))],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def wheel_metadata(wheel):
    archive = zipfile.ZipFile(wheel)
    [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    return archive.read(metadata).decode()


def third_party_imports():
    """Top-level modules the package imports, anywhere in its code (lazy imports included)."""
    found = set()
    for path in (SOURCE / "activation_plugin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"activation_plugin"} - EDX_PLATFORM_MODULES


def test_every_library_imported_at_run_time_is_declared(wheel):
    """``crum`` (filter steps) and ``edx_ace`` (message types) were imported without being declared."""
    declared = {canonicalize_name(Requirement(line.split(":", 1)[1].strip()).name)
                for line in wheel_metadata(wheel).splitlines() if line.startswith("Requires-Dist:")}
    distributions = packages_distributions()
    undeclared = {}
    for module in sorted(third_party_imports()):
        names = {canonicalize_name(name) for name in distributions.get(module, [])}
        assert names, f"{module} is imported but no installed distribution provides it"
        if not names & declared:
            undeclared[module] = sorted(names)
    assert not undeclared, f"imported but not in install_requires: {undeclared}"


def test_metadata_names_the_same_pythons_and_license_everywhere(wheel):
    metadata = wheel_metadata(wheel)
    assert "License-Expression: AGPL-3.0-or-later" in metadata
    assert "License-File: LICENSE.txt" in metadata
    requires = re.search(r"^Requires-Python: >=3\.(\d+)$", metadata, re.M)
    lowest = int(requires.group(1))
    classified = sorted(int(minor) for minor in re.findall(r"^Classifier: Programming Language :: Python :: 3\.(\d+)$",
                                                           metadata, re.M))
    assert classified and classified[0] == lowest
    tox = configparser.ConfigParser()
    tox.read(SOURCE / "tox.ini")
    tox_pythons = sorted({int(minor) for minor in re.findall(r"py3(\d+)", tox["tox"]["envlist"])})
    assert tox_pythons == classified, "tox.ini and the classifiers must name the same Pythons"
    install_doc = (SOURCE / "docs" / "quickstarts" / "install.rst").read_text(encoding="utf-8")
    assert f"Python 3.{lowest} or later" in install_doc


def test_wheel_declares_lms_and_studio_entry_points(wheel):
    archive = zipfile.ZipFile(wheel)
    [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    for group in ("[lms.djangoapp]", "[cms.djangoapp]"):
        assert f"{group}\nactivation_plugin = activation_plugin.apps:ActivationPluginConfig" in text


def test_the_suite_runs_against_the_installed_package_when_asked():
    """CI's installed-wheel jobs set ACTIVATION_EXPECT_INSTALLED; the conftest refuses the checkout then."""
    import activation_plugin  # pylint: disable=import-outside-toplevel
    location = Path(activation_plugin.__file__).resolve()
    if os.environ.get("ACTIVATION_EXPECT_INSTALLED"):
        assert location.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
        assert not location.is_relative_to(SOURCE.resolve() / "activation_plugin")
    else:
        pytest.skip(f"editable run: activation_plugin comes from {location.parent}")


# Starts Django the way the LMS does (apps found through the entry points, the plugin's settings
# applied, receivers connected), then imports every module the wheel installed.
LMS_LIKE_START = """
import importlib, pathlib, pkgutil
import django
from django.conf import settings
from edx_django_utils.plugins import get_plugin_apps, connect_plugin_receivers
from importlib.metadata import entry_points
settings.configure(
    INSTALLED_APPS=["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.sessions", "django.contrib.messages",
                    *get_plugin_apps("lms.djangoapp")],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SECRET_KEY="probe", ROOT_URLCONF="activation_plugin.urls",
    ACTIVATION_PLATFORM_BACKEND="activation_plugin.platform.StandaloneBackend",
)
from activation_plugin.settings.common import plugin_settings
plugin_settings(settings)
django.setup()
connect_plugin_receivers("lms.djangoapp")
import activation_plugin
for module in pkgutil.walk_packages(activation_plugin.__path__, "activation_plugin."):
    importlib.import_module(module.name)
print(pathlib.Path(activation_plugin.__file__).parent.parent.name)
print(sorted(ep.value for group in ("lms.djangoapp", "cms.djangoapp") for ep in entry_points(group=group)
             if ep.name == "activation_plugin"))
"""


def test_installed_wheel_is_discovered_by_edx_django_utils(wheel, tmp_path):
    """Install the wheel (not editable) into a fresh venv that sees the pinned Open edX packages."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # A plain path line: the test venv's packages become importable, its editable-install hook does not.
    [own_site] = (venv / "lib").glob("python3.*/site-packages")
    shared = [path for path in sys.path if path.endswith("site-packages")]
    (own_site / "openedx-packages.pth").write_text("\n".join(shared) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    result = subprocess.run([python, "-c", LMS_LIKE_START], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": ""}, check=False)
    assert result.returncode == 0, result.stderr
    location, entry_points = result.stdout.splitlines()
    assert location == "site-packages"  # the installed copy, not the source tree
    assert entry_points == str(["activation_plugin.apps:ActivationPluginConfig"] * 2)
