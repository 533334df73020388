"""Parse the small expressions that say how each published figure is regenerated.

An expression such as ``sources('A2-1.1.1')`` or
``percent(sources('A4-1'), participants('A4-INT', status='interviewed'), 'floor')`` is
parsed with :mod:`ast` into nested :class:`Call` objects. Only calls to known measures
with literal arguments are accepted, so a data file can never run arbitrary code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

MEASURES = frozenset(
    {
        "participants",
        "groups",
        "sites",
        "sources",
        "references",
        "themes",
        "programmes",
        "component_quantity",
        "subcomponents",
        "stages",
        "percent",
    }
)


class ExpressionError(ValueError):
    """An expression that is not a call to a known measure with literal arguments."""


@dataclass(frozen=True)
class Call:
    """One measure call: its name, positional arguments and keyword arguments."""

    name: str
    args: tuple
    kwargs: tuple[tuple[str, object], ...]

    def kwarg_dict(self) -> dict[str, object]:
        """Return the keyword arguments as a dict."""
        return dict(self.kwargs)


def parse_expression(text: str) -> Call:
    """Return the parsed :class:`Call` for an expression, or raise :class:`ExpressionError`."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg}") from None
    return _call(tree.body)


def _call(node: ast.AST) -> Call:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ExpressionError("expected a call such as sources('A2-1.1')")
    name = node.func.id
    if name not in MEASURES:
        raise ExpressionError(f"unknown measure {name!r}; expected one of {sorted(MEASURES)}")
    args = tuple(_value(a) for a in node.args)
    kwargs = tuple((kw.arg, _value(kw.value)) for kw in node.keywords if kw.arg is not None)
    if len(kwargs) != len(node.keywords):
        raise ExpressionError("**kwargs are not allowed")
    # Sorted, so that calls differing only in keyword order are equal (and hash alike).
    return Call(name, args, tuple(sorted(kwargs)))


def _value(node: ast.AST) -> object:
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.List):
        return tuple(_value(e) for e in node.elts)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ExpressionError("arguments must be literals or measure calls") from None


def code_count_target(call: Call) -> tuple[str, str] | None:
    """Return ``(kind, code_id)`` when ``call`` is a plain ``sources``/``references`` of one code."""
    if call.name in ("sources", "references") and len(call.args) == 1 and not call.kwargs:
        (code_id,) = call.args
        if isinstance(code_id, str):
            return call.name, code_id
    return None
