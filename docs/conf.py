"""Sphinx configuration for the activation-plugin documentation (``make docs``)."""
import json
import os
import re
import sys
from pathlib import Path

import django
from sphinx.util import logging

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The API reference imports the package, which needs configured Django settings: use the demo
# host's (SQLite, no services), as the tests do. Nothing here touches the database.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django.setup()

project = "activation-plugin"
author = "activation-plugin contributors"
copyright = "activation-plugin contributors"  # pylint: disable=redefined-builtin
release = re.search(
    r'^__version__ = "([^"]+)"', (ROOT / "activation_plugin" / "__init__.py").read_text(encoding="utf-8"), re.M,
).group(1)
version = release
logger = logging.getLogger(__name__)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
root_doc = "index"
language = "en"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_title = f"activation-plugin {release}"
html_theme_options = {
    "description": "Do learners apply what an Open edX course taught?",
    "fixed_sidebar": True,
}


def _escape_bars(app, what, name, obj, options, lines):  # pylint: disable=unused-argument
    """Docstrings write |x| for absolute values, which reStructuredText reads as a substitution."""
    if name.startswith("activation_plugin."):
        lines[:] = [re.sub(r"(?<!\\)\|", r"\\|", line) for line in lines]


def _check_settings_documented(app):
    """Fail the build (``-W``) when a setting in ``DEFAULTS`` is missing from the settings reference."""
    from activation_plugin.settings.common import DEFAULTS  # pylint: disable=import-outside-toplevel

    text = (Path(app.srcdir) / "references" / "settings.rst").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\.\. setting:: (\w+)\s+:Default: ``(.*?)``", text, re.M))
    for name in sorted(set(DEFAULTS) - set(documented)):
        logger.warning("setting %s is in settings/common.py DEFAULTS but not in references/settings.rst", name)
    for name in sorted(set(documented) - set(DEFAULTS)):
        logger.warning("references/settings.rst documents %s, which settings/common.py DEFAULTS lacks", name)
    for name in sorted(set(documented) & set(DEFAULTS)):
        value = DEFAULTS[name]
        expected = json.dumps(value) if isinstance(value, str) else repr(value)
        if documented[name] != expected:
            logger.warning("references/settings.rst gives %s the default %s, settings/common.py has %s",
                           name, documented[name], expected)


def setup(app):
    app.add_object_type("setting", "setting", indextemplate="pair: %s; setting")
    app.connect("autodoc-process-docstring", _escape_bars)
    app.connect("builder-inited", _check_settings_documented)
