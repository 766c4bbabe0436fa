"""The chart library is vendored, pinned and licensed, and survives the LMS's collectstatic."""
import hashlib
from pathlib import Path

from django.core.management import call_command

import activation_plugin

VENDOR = Path(activation_plugin.__file__).resolve().parent / "static/activation_plugin/vendor/chart.js"
# `make vendor` prints this after re-vendoring; change both together.
CHARTJS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


def test_chartjs_is_the_pinned_release_with_its_licence():
    bundle = (VENDOR / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == CHARTJS_SHA256
    assert b"Chart.js v4.6.1" in bundle[:200]
    assert "MIT License" in (VENDOR / "LICENSE.md").read_text()


def test_collectstatic_with_the_manifest_storage_the_lms_uses(settings, tmp_path):
    """ManifestStaticFilesStorage rewrites sourceMappingURL references and fails if a map is missing."""
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    hashed = list((tmp_path / "activation_plugin/vendor/chart.js").glob("chart.umd.min.*.js"))
    assert hashed, "the bundle was not collected"
    assert "sourceMappingURL=chart.umd.min." in hashed[0].read_text()[-200:]
