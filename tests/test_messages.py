"""
Every message the plugin's errors carry can reach a person (a page, an email preview, a REST
client's user), so every one is translated: a new error raised with a bare string fails here.
Operator-facing text (management commands, settings checks, KPI connectors' logs) and the pure
statistics' programming errors are not ``ActivationError``s and stay in English.
"""
import ast
from pathlib import Path

import activation_plugin
from activation_plugin import errors

PACKAGE = Path(activation_plugin.__file__).resolve().parent
TRANSLATING = {"_", "gettext", "gettext_lazy", "ngettext", "pgettext", "npgettext"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _error_classes(modules):
    """The names of ``ActivationError`` and of every class of the package deriving from one."""
    names = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.ActivationError)}
    classes = [node for _path, tree in modules for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for node in classes:
            bases = {getattr(base, "id", getattr(base, "attr", None)) for base in node.bases}
            if node.name not in names and bases & names:
                names.add(node.name)
                grew = True
    return names


def _is_bare_text(node):
    """A literal, an f-string, or a literal's ``.format()``: text no catalogue will ever translate."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_bare_text(node.func.value)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def untranslated_raises():
    modules = list(_modules())
    error_names = _error_classes(modules)
    found = []
    for path, tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", None))
                if name in error_names and _is_bare_text(node.exc.args[0]):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node.exc.args[0])[:70]}")
    return found


def test_every_error_message_is_translated():
    assert untranslated_raises() == []


def test_the_check_finds_a_bare_message(tmp_path, monkeypatch):
    """Not vacuous: a module raising an untranslated error is caught."""
    fake = tmp_path / "activation_plugin"
    fake.mkdir()
    (fake / "bad.py").write_text('from activation_plugin.errors import ActivationRequestError\n'
                                 'class Mine(ActivationRequestError):\n    pass\n'
                                 'def f(x):\n    raise Mine(f"{x} is wrong")\n'
                                 'def g():\n    raise ActivationRequestError(_("Fine {x}").format(x=1))\n')
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert untranslated_raises() == ["bad.py:5: f'{x} is wrong'"]
