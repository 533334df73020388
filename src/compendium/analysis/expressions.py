"""The expression language of ``published_figures.csv``: measure calls written as text.

An expression such as ``sources('A2-1.1.1')`` or
``percent(sources('A4-1'), participants('A4-INT', status='interviewed'), 'floor')`` is parsed
with :mod:`ast` into nested calls of the typed measures in :mod:`compendium.analysis.measures`.
The whitelist is derived from that module: only methods marked as measures may be called, with
literal arguments or other measure calls, so a data file can never run code.
"""

from __future__ import annotations

import ast
from typing import Any

from compendium.analysis.measures import Call, MeasureError, Measures, canonical, measure_names


def _parse(node: ast.AST) -> tuple[str, tuple, dict]:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise MeasureError("expected a call such as sources('A2-1')")
    name = node.func.id
    if name not in measure_names():
        raise MeasureError(
            f"unknown measure {name!r}; expected one of {', '.join(sorted(measure_names()))}"
        )
    if any(kw.arg is None for kw in node.keywords):
        raise MeasureError("**kwargs are not allowed")
    return (
        name,
        tuple(_value(a) for a in node.args),
        {kw.arg: _value(kw.value) for kw in node.keywords},
    )


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Call):
        return _parse(node)
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        return -node.operand.value
    raise MeasureError("arguments must be literals or measure calls")


def parse_expression(text: str) -> tuple[str, tuple, dict]:
    """Return ``(measure, args, kwargs)`` for an expression, nested calls parsed the same way.

    Raises
    ------
    MeasureError
        When the text is not a call of a known measure with literal arguments.
    """
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise MeasureError(f"not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise MeasureError("expression is nested too deeply") from None
    return _parse(tree.body)


def _canonical(parsed: tuple[str, tuple, dict]) -> Call:
    name, args, kwargs = parsed

    def resolve(value: Any) -> Any:
        return _canonical(value) if isinstance(value, tuple) else value

    return canonical(name, [resolve(a) for a in args], {k: resolve(v) for k, v in kwargs.items()})


def canonical_call(text: str) -> Call:
    """Return the canonical :class:`~compendium.analysis.measures.Call` an expression denotes."""
    return _canonical(parse_expression(text))


def evaluate(text: str, measures: Measures):
    """Return the value of an expression on a study's measures (a tagged Count or Quantity)."""

    def run(parsed: tuple[str, tuple, dict]):
        name, args, kwargs = parsed
        args = [run(a) if isinstance(a, tuple) else a for a in args]
        kwargs = {k: run(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        return getattr(measures, name)(*args, **kwargs)

    return run(parse_expression(text))


def expression_problem(text: str, measures: Measures) -> str | None:
    """Return why an expression cannot be evaluated on a study's measures, or None when it can."""
    try:
        evaluate(text, measures)
    except MeasureError as exc:
        return str(exc)
    return None


def code_count_target(call: Call) -> tuple[str, str] | None:
    """Return ``(kind, code_id)`` when ``call`` is a plain ``sources``/``references`` of one code."""
    if call.name in ("sources", "references") and len(call.kwargs) == 1:
        ((key, code_id),) = call.kwargs
        if key == "code" and isinstance(code_id, str):
            return call.name, code_id
    return None
