"""Regenerate every published figure from the data and compare it with the paper.

Each row of ``published_figures`` carries an expression (see :mod:`compendium.analysis.expressions`).
Evaluating it runs the same analysis functions the chapters use; the published value is
only read afterwards, to compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from compendium.analysis.expressions import Call, parse_expression
from compendium.analysis.themes import code_counts
from compendium.contract.loading import Study


class _Measures:
    """The measures an expression may call, bound to one study."""

    def __init__(self, study: Study):
        self.study = study
        self._counts: pd.DataFrame | None = None

    def counts(self) -> pd.DataFrame:
        if self._counts is None:
            s = self.study
            self._counts = code_counts(s.codes, s.segments, s.codings)
        return self._counts

    def participants(self, activity: str, **filters) -> int:
        people = self.study.participants
        mask = people["activity_id"] == activity
        for column, wanted in filters.items():
            values = wanted if isinstance(wanted, tuple) else (wanted,)
            mask &= people[column].isin(values).fillna(False).astype(bool)
        return int(mask.sum())

    def groups(self, activity: str) -> int:
        return int((self.study.focus_groups["activity_id"] == activity).sum())

    def sites(self, activity: str) -> int:
        groups = self.study.focus_groups
        own = groups[groups["activity_id"] == activity]
        if own.empty:
            people = self.study.participants
            own = people[people["activity_id"] == activity]
        return int(own["site_id"].nunique())

    def sources(self, code_id: str) -> int:
        return int(self.counts().loc[code_id, "sources"])

    def references(self, code_id: str) -> int:
        return int(self.counts().loc[code_id, "references"])

    def themes(self, activity: str) -> int:
        codes = self.study.codes
        return int(((codes["activity_id"] == activity) & codes["parent_id"].isna()).sum())

    def programmes(self, concept_id: str | None = None) -> int:
        if concept_id is None:
            return len(self.study.programmes)
        links = self.study.programme_concepts
        return int((links["concept_id"] == concept_id).sum())

    def component_quantity(self, component_id: str) -> int:
        components = self.study.components.set_index("component_id")
        return int(components.at[component_id, "quantity"])

    def subcomponents(self, component_id: str) -> int:
        return int((self.study.components["parent_id"] == component_id).sum())

    def stages(self) -> int:
        return len(self.study.stages)

    def percent(self, numerator: float, denominator: float, rounding: str = "half_up") -> int:
        share = 100 * numerator / denominator
        if rounding == "floor":
            return math.floor(share)
        if rounding == "half_up":
            return math.floor(share + 0.5)
        raise ValueError(f"unknown rounding {rounding!r}; expected 'half_up' or 'floor'")


def evaluate(call: Call, measures: _Measures) -> float:
    """Return the value of a parsed expression, evaluating nested calls first."""

    def resolve(value: object) -> object:
        return evaluate(value, measures) if isinstance(value, Call) else value

    function: Callable = getattr(measures, call.name)
    args = [resolve(a) for a in call.args]
    kwargs = {k: resolve(v) for k, v in call.kwargs}
    return function(*args, **kwargs)


def measure(study: Study, expression: str) -> float:
    """Return the value of a measure expression (see :mod:`compendium.analysis.expressions`) on ``study``.

    Chapters compute the numbers they print this way, so a number in the prose is computed
    exactly as its reproduction check computes it.
    """
    return evaluate(parse_expression(expression), _Measures(study))


def reproduction_table(study: Study) -> pd.DataFrame:
    """Return one row per published figure: the paper's value, the regenerated one, and a match flag."""
    measures = _Measures(study)
    figures = study.published_figures
    regenerated = [evaluate(parse_expression(e), measures) for e in figures["expression"]]
    table = pd.DataFrame(
        {
            "figure_id": figures["figure_id"],
            "description": figures["description"],
            "location": figures["location"],
            "status": figures["status"],
            "published": figures["value"].astype(float),
            "regenerated": pd.Series(regenerated, index=figures.index, dtype=float),
        }
    )
    table["matches"] = table["published"] == table["regenerated"]
    return table


def mismatches(table: pd.DataFrame) -> list[str]:
    """Return a line per figure whose regenerated value differs from the paper's."""
    bad = table[~table["matches"]]
    return [
        f"{r.figure_id} ({r.description}, {r.location}): paper {r.published:g}, data {r.regenerated:g}"
        for r in bad.itertuples()
    ]
