"""Figure expressions: only known measures with literal arguments."""

import pytest

from compendium.analysis.expressions import ExpressionError, parse_expression


def test_nested_call_parses():
    call = parse_expression(
        "percent(sources('A4-1'), participants('A4-INT', status=['a', 'b']), 'floor')"
    )
    assert call.name == "percent"
    assert call.args[0].args == ("A4-1",)
    assert call.args[1].kwarg_dict() == {"status": ("a", "b")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown measure '__import__'"),
        ("sources(x)", "arguments must be literals"),
        ("sources('A'", "not a valid expression"),
        ("1 + 2", "expected a call"),
    ],
)
def test_rejects_anything_else(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text)


def test_keyword_order_does_not_matter():
    one = parse_expression("participants('A5-INT', status='interviewed', arm='intervention')")
    other = parse_expression("participants('A5-INT', arm='intervention', status='interviewed')")
    assert one == other
    assert hash(one) == hash(other)
