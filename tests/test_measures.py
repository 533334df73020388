"""Typed measures: the one definition of every count, and the expression language built on it."""

from __future__ import annotations

import pytest

from compendium.analysis.expressions import canonical_call, evaluate, parse_expression
from compendium.analysis.measures import MeasureError, Measures, measure_names


@pytest.fixture(scope="module")
def measures(study):
    return Measures(study)


def test_every_published_figure_is_regenerated_from_the_records(study, measures):
    figures = study.published_figures
    values = [evaluate(e, measures) for e in figures["expression"]]
    assert len(values) == 66
    assert [float(v) for v in values] == [float(v) for v in figures["value"]]
    # and each knows which figure it reproduces
    assert [v.figure_id for v in values] == list(figures["figure_id"])


def test_the_expression_whitelist_is_the_typed_api():
    assert measure_names() == {
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


def test_calls_that_mean_the_same_are_equal():
    assert canonical_call("participants('A2-INT', status='interviewed')") == canonical_call(
        "participants(status='interviewed', activity='A2-INT')"
    )
    assert canonical_call("percent(sources('A4-1'), participants('A4-INT'))") == canonical_call(
        "percent(sources(code='A4-1'), participants(activity='A4-INT'), 'half_up')"
    )


def test_a_typed_call_is_the_published_figure(measures):
    count = measures.participants(activity="A2-INT", status="interviewed")
    assert (int(count), count.figure_id, count.origin, count.people) == (
        40,
        "PF02",
        "reconstructed",
        40,
    )


def test_the_same_people_counted_another_way_are_the_published_count(measures):
    # The paper's DS8 counts interviewees who attended all ten sessions (PF39); counting those
    # who described their attendance that way selects the same people.
    count = measures.participants(activity="A5-INT", attendance_pattern="attended all ten sessions")
    assert (int(count), count.figure_id, count.origin) == (7, "PF39", "published")
    synthetic = measures.participants(
        activity="A5-INT", attendance_pattern="attended some sessions, then stopped"
    )
    assert (int(synthetic), synthetic.figure_id, synthetic.origin) == (4, None, None)


def test_a_percentage_of_people_remembers_how_many_people_it_rests_on(measures):
    share = measures.percent(
        measures.sources("A4-1"),
        measures.participants(activity="A4-INT", status="interviewed"),
        "floor",
    )
    assert (int(share), share.figure_id, share.people) == (55, "PF23", 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "__import__('os')",
            "unknown measure '__import__'; expected one of component_quantity, groups, participants, percent, programmes, references, sites, sources, stages, subcomponents, themes",
        ),
        ("sources(x)", "arguments must be literals or measure calls"),
        ("sources('A2-1') + 1", "expected a call such as sources('A2-1')"),
        ("sources(**{'code': 'A2-1'})", "**kwargs are not allowed"),
        ("sources(", "not a valid expression: '(' was never closed"),
        ("sources('A2-1', 'A2-2')", "sources: too many positional arguments"),
    ],
)
def test_anything_but_a_measure_call_is_refused(text, message):
    with pytest.raises(MeasureError) as raised:
        canonical_call(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.sources("A9-1"), "no code 'A9-1' in codes.csv"),
        (lambda m: m.participants(activity="A9"), "no activity 'A9' in activities.csv"),
        (lambda m: m.percent(1, 0), "percent: the denominator is 0"),
        (
            lambda m: m.percent(1, 2, "sideways"),
            "percent: unknown rounding 'sideways'; expected 'half_up' or 'floor'",
        ),
        (
            lambda m: m.component_quantity("K01"),
            "component 'K01' has no quantity in components.csv",
        ),
        (lambda m: m.programmes("nothing"), "no concept 'nothing' in concepts.csv"),
    ],
)
def test_a_question_the_data_cannot_answer_says_why(measures, call, message):
    with pytest.raises(MeasureError) as raised:
        call(measures)
    assert str(raised.value) == message


def test_parse_keeps_nesting():
    name, args, kwargs = parse_expression(
        "percent(sources('A4-1'), participants('A4-INT', status='interviewed'), 'floor')"
    )
    assert name == "percent"
    assert args[0] == ("sources", ("A4-1",), {})
    assert args[1] == ("participants", ("A4-INT",), {"status": "interviewed"})
    assert args[2] == "floor" and kwargs == {}
