"""Regenerate every published figure from the records and compare it with the paper's value.

Each row of ``published_figures`` carries an expression such as ``sources('A2-1.1.1')``;
:func:`compendium.analysis.expressions.evaluate` turns it into calls of the typed measures
(:class:`compendium.analysis.measures.Measures`), the same code the chapters call. The paper's
value is read only afterwards, to compare.

What a match means depends on the package. On the records of a real study it is a replication
of the paper's arithmetic. On a synthetic package generated to hit the published values it is
not: a match then shows that the analysis code computes those values from the records, and a
mismatch is a regression in that code or in the records.
"""

from __future__ import annotations

import pandas as pd

from compendium.analysis.expressions import evaluate
from compendium.analysis.measures import MeasureError, Measures

COLUMNS = [
    "figure_id",
    "description",
    "location",
    "origin",
    "note",
    "expression",
    "published",
    "regenerated",
    "matches",
    "problem",
]


def reproduction_table(published_figures: pd.DataFrame, measures: Measures) -> pd.DataFrame:
    """Return one row per published figure: the paper's value, the regenerated one, a match flag.

    Parameters
    ----------
    published_figures
        The package's ``published_figures`` table.
    measures
        The study's measures; every expression is evaluated on them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`. ``regenerated`` is missing, ``matches`` False and ``problem``
        says why when an expression cannot be evaluated on the package (the validator refuses
        such a package, so this guards a package checked by an older contract).
    """
    regenerated, problems = [], []
    for expression in published_figures["expression"]:
        try:
            regenerated.append(float(evaluate(expression, measures)))
            problems.append(pd.NA)
        except MeasureError as exc:
            regenerated.append(float("nan"))
            problems.append(str(exc))
    table = pd.DataFrame(
        {
            "figure_id": published_figures["figure_id"].to_numpy(),
            "description": published_figures["description"].to_numpy(),
            "location": published_figures["location"].to_numpy(),
            "origin": published_figures["origin"].to_numpy(),
            "note": published_figures["note"].to_numpy(),
            "expression": published_figures["expression"].to_numpy(),
            "published": published_figures["value"].astype(float).to_numpy(),
            "regenerated": regenerated,
            "problem": pd.array(problems, dtype="str"),
        }
    )
    table["matches"] = table["published"].eq(table["regenerated"]).fillna(False).astype(bool)
    return table[COLUMNS]


def mismatches(table: pd.DataFrame) -> list[str]:
    """Return one line per figure whose regenerated value differs from the paper's.

    Each line names the figure, what it counts, where the paper prints it, and both values
    (or why the value could not be regenerated).
    """
    lines = []
    for r in table[~table["matches"]].itertuples():
        got = (
            f"cannot be computed: {r.problem}" if pd.notna(r.problem) else f"data {r.regenerated:g}"
        )
        lines.append(f"{r.figure_id} ({r.description}, {r.location}): paper {r.published:g}, {got}")
    return lines


def summary(table: pd.DataFrame) -> str:
    """Return ``"N of M listed figures reproduced"`` for a reproduction table.

    The figures are those ``published_figures.csv`` lists; a few of them may be reconstructed
    rather than printed, which the table's ``origin`` says.
    """
    return f"{int(table['matches'].sum())} of {len(table)} listed figures reproduced"


#: The package files each measure reads (``activities.csv`` checks an activity id exists).
MEASURE_FILES = {
    "participants": ("participants.csv", "attendance.csv", "activities.csv"),
    "groups": ("focus_groups.csv", "activities.csv"),
    "sites": ("focus_groups.csv", "participants.csv", "activities.csv"),
    "sources": ("codes.csv", "segments.csv", "codings.csv"),
    "references": ("codes.csv", "segments.csv", "codings.csv"),
    "themes": ("codes.csv", "activities.csv"),
    "programmes": ("programmes.csv", "programme_concepts.csv", "concepts.csv"),
    "component_quantity": ("components.csv",),
    "subcomponents": ("components.csv",),
    "stages": ("study.yaml",),
    "percent": (),
}


def files_read(expressions, present: set[str]) -> set[str]:
    """Return the package files that evaluating ``expressions`` reads, among those ``present``.

    The measures cache what they compute, so a record of reads taken while evaluating would
    miss a table an earlier cell already counted; the files are therefore named by measure.
    """
    from compendium.analysis.expressions import parse_expression

    def names(parsed) -> set[str]:
        name, args, kwargs = parsed
        found = {name}
        for value in [*args, *kwargs.values()]:
            if isinstance(value, tuple):
                found |= names(value)
        return found

    used: set[str] = set()
    for expression in expressions:
        try:
            called = names(parse_expression(expression))
        except MeasureError:
            continue
        for name in called:
            used.update(MEASURE_FILES.get(name, ()))
    return used & set(present)
