"""
The layers a maintainer relies on (README, "Layers and conventions"): ``api`` is the domain layer and the only writer;
views, receivers and tasks are thin and call its public names; ``kpi`` holds connectors that call
the api, which imports nothing from them. Read from the source, so a new import that breaks a
layer fails here.
"""
import ast
from collections import defaultdict
from pathlib import Path

import activation_plugin

PACKAGE = Path(activation_plugin.__file__).resolve().parent
VIEW_LAYERS = ("dashboard", "learner", "rest_api", "kpi", "views_common", "urls", "receivers", "tasks",
               "management", "templatetags")


def _module(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports():
    """``{module: {imported activation_plugin module or name}}``, function-level imports included."""
    found = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("activation_plugin"):
                found[_module(path)] |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found[_module(path)] |= {a.name for a in node.names if a.name.startswith("activation_plugin")}
    return found


def layer(module):
    return ".".join(module.split(".")[:2])


def test_no_two_layers_import_each_other():
    edges = defaultdict(set)
    for module, targets in imports().items():
        for target in targets:
            if layer(target) != layer(module):
                edges[layer(module)].add(layer(target))
    assert sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, ())) == []


def test_views_receivers_and_tasks_use_the_api_by_its_public_names():
    """``from activation_plugin import api`` and ``api.x``: never ``activation_plugin.api.<module>``."""
    found = []
    for module, targets in imports().items():
        if layer(module).split(".")[-1] in VIEW_LAYERS:
            found += [(module, target) for target in targets if target.startswith("activation_plugin.api.")]
    assert found == []


def test_no_view_imports_the_tasks():
    """Views hand background work to the api (``api.request_backfill``, ``api.page_figures``)."""
    views = ("dashboard", "learner", "rest_api", "kpi", "views_common", "urls")
    assert [(module, target) for module, targets in imports().items() if layer(module).split(".")[-1] in views
            for target in targets
            if target == "activation_plugin.tasks" or target.startswith("activation_plugin.tasks.")] == []
