"""A real, non-editable install: the wheel carries templates, static files, migrations, locale and entry points."""
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True)
    [built] = out.glob("activation_plugin-*.whl")
    return built


def test_wheel_contains_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "activation_plugin/templates/instructor_dashboard/activation.html",
        "activation_plugin/templates/activation_plugin/section.html",
        "activation_plugin/static/activation_plugin/activation.css",
        "activation_plugin/static/activation_plugin/activation-charts.js",
        "activation_plugin/static/activation_plugin/vendor/chart.js/chart.umd.min.js",
        "activation_plugin/static/activation_plugin/vendor/chart.js/chart.umd.min.js.map",
        "activation_plugin/static/activation_plugin/vendor/chart.js/LICENSE.md",
        "activation_plugin/migrations/0001_initial.py",
        "activation_plugin/locale/en/LC_MESSAGES/django.po",
        "activation_plugin/management/commands/activation_tick.py",
    ):
        assert required in names, required
    assert not any(name.startswith(("demo/", "tests/")) for name in names)


def test_wheel_declares_lms_and_studio_entry_points(wheel):
    archive = zipfile.ZipFile(wheel)
    [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    for group in ("[lms.djangoapp]", "[cms.djangoapp]"):
        assert f"{group}\nactivation_plugin = activation_plugin.apps:ActivationPluginConfig" in text
    metadata = archive.read(entry_points.replace("entry_points.txt", "METADATA")).decode()
    assert "Requires-Python: >=3.12" in metadata and "Requires-Dist: openedx-events" in metadata


def test_installed_wheel_is_discovered_by_edx_django_utils(wheel, tmp_path):
    """Install the wheel (not editable) into a fresh venv that sees the pinned Open edX packages."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # A plain path line: the test venv's packages become importable, its editable-install hook does not.
    [own_site] = (venv / "lib").glob("python3.*/site-packages")
    (own_site / "openedx-packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    probe = (
        "import activation_plugin, pathlib;"
        "from edx_django_utils.plugins.registry import get_plugin_app_configs as g;"
        "from importlib.metadata import entry_points as e;"
        "print(pathlib.Path(activation_plugin.__file__).parent.parent.name);"
        "print(sorted(ep.value for grp in ('lms.djangoapp','cms.djangoapp') for ep in e(group=grp)"
        " if ep.name == 'activation_plugin'))"
    )
    result = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    location, entry_points = result.stdout.splitlines()
    assert location == "site-packages"  # the installed copy, not the source tree
    assert entry_points == str(["activation_plugin.apps:ActivationPluginConfig"] * 2)
