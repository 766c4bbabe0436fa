"""
JSON from outside (REST bodies, webhook deliveries, KPI API pages), decoded with a bound on
nesting. Python's decoder recurses once per level: 100,000 nested brackets raise RecursionError,
which no caller expected, and the code that walks decoded data recurses too. Nothing the plugin
accepts is nested more than a few levels, so anything deeper is refused as malformed.
"""
import json

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON nests deeper than ``MAX_DEPTH``: refused like any malformed JSON."""


def loads(text):
    """
    ``json.loads``, refusing documents nested deeper than ``MAX_DEPTH``.

    Raises:
        ValueError: malformed JSON, or ``TooDeep``.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise TooDeep(f"The JSON is nested more than {MAX_DEPTH} levels deep.") from None
    _check_depth(data)
    return data


def _check_depth(data):
    """Walks the decoded value without recursion, so a deep one cannot overflow the stack here."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise TooDeep(f"The JSON is nested more than {MAX_DEPTH} levels deep.")
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
