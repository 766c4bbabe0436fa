"""Sphinx configuration for the activation-plugin documentation (``make docs``)."""
import os
import re
import sys
from pathlib import Path

import django

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
