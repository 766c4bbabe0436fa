"""
The KPI connectors are an optional part whose only contract with the core is the api
(docs/references/kpi-connectors.rst): the core never imports them.
"""
import ast
from pathlib import Path

import activation_plugin

PACKAGE = Path(activation_plugin.__file__).resolve().parent
CORE = [PACKAGE / "models.py", *sorted((PACKAGE / "api").glob("*.py")), *sorted((PACKAGE / "figures").glob("*.py"))]


def imported(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_the_core_imports_nothing_from_the_connectors():
    offenders = [f"{path.relative_to(PACKAGE)}: {module}" for path in CORE for module, names in imported(path)
                 if module.startswith("activation_plugin.kpi") or (module == "activation_plugin" and "kpi" in names)]
    assert len(CORE) > 10 and offenders == []
