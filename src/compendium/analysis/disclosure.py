"""Small-cell suppression for counts of people: one path, primary and secondary.

A count of one or two people in a demographic category can identify someone. Every count of
people the book publishes passes through :func:`suppress` (tables directly; prose, figures
and downloads through the helpers built on it): each count from 1 up to (not including) the
threshold is hidden (primary suppression), and then further cells are hidden until no hidden
count can be worked out from what is shown (secondary suppression). Every hidden cell shows
the same marker, ``"<threshold"``, so a reader cannot tell a primary cell from a secondary one.

"Worked out" is judged as an attacker would: knowing every shown cell and every relation
between cells (a group's categories add up to its n, a table's rows add up to its "All" row,
a theme's people are at most its passages), the attacker bounds each hidden cell by linear
programming; a hidden cell whose lowest and highest possible values coincide is recovered,
and the smallest shown cell beside it is hidden too, until none is.

The threshold is the study descriptor's ``disclosure: small_cell_threshold`` (``study.yaml``)
and can be overridden with the ``COMPENDIUM_SMALL_CELL`` environment variable. The synthetic
package uses 0, which suppresses nothing, but the same code runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

ENV_VAR = "COMPENDIUM_SMALL_CELL"


def _as_threshold(value: object, where: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: small-cell threshold {value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{where}: small-cell threshold {number} must be 0 or more")
    return number


def small_cell_threshold(descriptor=None) -> int:
    """Return the small-cell threshold in force.

    Parameters
    ----------
    descriptor : compendium.contract.descriptor.Descriptor, optional
        The study descriptor, whose ``disclosure: small_cell_threshold`` sets the threshold.

    Returns
    -------
    int
        ``$COMPENDIUM_SMALL_CELL`` if set, else the descriptor's value, else 0.

    Raises
    ------
    ValueError
        When the environment variable is not a non-negative whole number.
    """
    override = os.environ.get(ENV_VAR)
    if override not in (None, ""):
        return _as_threshold(override, f"environment variable {ENV_VAR}")
    return 0 if descriptor is None else int(descriptor.small_cell_threshold)


def is_small(count: object, threshold: int) -> bool:
    """Return whether ``count`` is a disclosive small cell: ``0 < count < threshold``."""
    return not pd.isna(count) and 0 < count < threshold


def marker(threshold: int) -> str:
    """Return what a suppressed cell shows, e.g. ``"<5"``."""
    return f"<{threshold}"


@dataclass(frozen=True)
class Sum:
    """Cells ``parts`` add up to cell ``total``, or to the number ``known`` the reader has.

    A group's categories adding up to its n: ``Sum(parts, known=n)``; a row adding up to its
    "All" margin: ``Sum(parts, total=index_of_margin)``.
    """

    parts: tuple[int, ...]
    total: int | None = None
    known: int | None = None


@dataclass(frozen=True)
class AtMost:
    """Cell ``cell`` is at most the sum of cells ``bound`` (e.g. people coded at a theme are
    at most its coded passages; a child theme's people at most its parent's)."""

    cell: int
    bound: tuple[int, ...]


def _as_numbers(values: Sequence) -> list[int | None]:
    return [None if v is None or pd.isna(v) else int(v) for v in values]


def recovered(
    values: Sequence, hidden: set[int], sums: Sequence[Sum] = (), bounds: Sequence[AtMost] = ()
) -> set[int]:
    """Return the hidden cells an attacker can work out exactly from the shown ones.

    The attacker knows every shown value, every relation in ``sums`` and ``bounds``, and that
    counts are whole numbers of at least 0 (at least 1 when no hidden cell is 0, since the
    book shows zeros). Each hidden cell is minimised and maximised by linear programming
    (the relations are sums of cells, whose extreme points are whole numbers); a cell whose
    minimum and maximum agree is recovered.
    """
    from scipy.optimize import linprog

    numbers = _as_numbers(values)
    order = sorted(hidden)
    if not order:
        return set()
    column = {cell: i for i, cell in enumerate(order)}
    lowest = 1 if all(numbers[c] for c in order) else 0
    a_eq, b_eq, a_ub, b_ub = [], [], [], []

    def side(cells, sign, row) -> float:
        constant = 0.0
        for cell in cells:
            if cell in column:
                row[column[cell]] += sign
            else:
                constant += sign * (numbers[cell] or 0)
        return constant

    for relation in sums:
        row = np.zeros(len(order))
        constant = side(relation.parts, 1, row)
        if relation.total is not None:
            constant += side([relation.total], -1, row)
        else:
            constant -= relation.known
        if row.any():
            a_eq.append(row)
            b_eq.append(-constant)
    for relation in bounds:
        row = np.zeros(len(order))
        constant = side([relation.cell], 1, row) + side(relation.bound, -1, row)
        if row.any():
            a_ub.append(row)
            b_ub.append(-constant)
    found = set()
    for cell in order:
        ends = []
        for sign in (1, -1):
            objective = np.zeros(len(order))
            objective[column[cell]] = sign
            result = linprog(
                objective,
                A_ub=np.array(a_ub) if a_ub else None,
                b_ub=np.array(b_ub) if b_ub else None,
                A_eq=np.array(a_eq) if a_eq else None,
                b_eq=np.array(b_eq) if b_eq else None,
                bounds=[(lowest, None)] * len(order),
                method="highs",
            )
            ends.append(sign * result.fun if result.status == 0 else None)
        low, high = ends
        if low is not None and high is not None and high - low < 0.5:
            found.add(cell)
    return found


def suppress(
    values: Sequence,
    threshold: int,
    sums: Sequence[Sum] = (),
    bounds: Sequence[AtMost] = (),
    people: Sequence[bool] | None = None,
) -> set[int]:
    """Return the positions of the cells to hide: small counts of people, and their partners.

    Parameters
    ----------
    values
        The cells, whole numbers (NA for a cell that does not apply, never hidden).
    threshold
        The small-cell threshold; 0 or 1 hides nothing.
    sums, bounds
        What relates the cells (see :class:`Sum`, :class:`AtMost`).
    people
        Which cells count people (the others, e.g. coded passages, are hidden only to protect
        a count of people); all of them by default.

    Returns
    -------
    set of int
        Every count of people from 1 to ``threshold - 1``, and the fewest further cells,
        chosen smallest first and non-zero first, that leave none of them recoverable.
    """
    numbers = _as_numbers(values)
    if threshold <= 1:
        return set()
    is_people = [True] * len(numbers) if people is None else list(people)
    hidden = {
        i
        for i, n in enumerate(numbers)
        if n is not None and is_people[i] and is_small(n, threshold)
    }
    neighbours: dict[int, set[int]] = {i: set() for i in range(len(numbers))}
    for relation in sums:
        cells = set(relation.parts) | ({relation.total} if relation.total is not None else set())
        for cell in cells:
            neighbours[cell] |= cells
    for relation in bounds:
        cells = {relation.cell, *relation.bound}
        for cell in cells:
            neighbours[cell] |= cells
    while hidden:
        exposed = recovered(numbers, hidden, sums, bounds)
        if not exposed:
            break
        candidates = {
            c
            for cell in exposed
            for c in neighbours[cell]
            if c not in hidden and numbers[c] is not None
        }
        if not candidates:
            break  # every related cell is hidden already: nothing more can protect it
        hidden.add(min(candidates, key=lambda c: (numbers[c] == 0, numbers[c], c)))
    return hidden


def cells_to_hide(counts: list, threshold: int, total_known: bool = True) -> set[int]:
    """Return the positions of one breakdown's counts to hide (see :func:`suppress`).

    Parameters
    ----------
    counts
        Whole numbers (NA for cells that do not apply), e.g. one characteristic of one group.
    threshold
        The small-cell threshold; 0 or 1 hides nothing.
    total_known
        Whether the counts' sum is shown or known elsewhere (a group's n).
    """
    numbers = _as_numbers(counts)
    parts = tuple(i for i, n in enumerate(numbers) if n is not None)
    total = sum(numbers[i] for i in parts)
    sums = [Sum(parts, known=total)] if total_known else []
    return suppress(numbers, threshold, sums)


def coded_counts_to_hide(
    sources: Sequence, references: Sequence, threshold: int, parents: Sequence | None = None
) -> tuple[set[int], set[int]]:
    """Return which sources and which references of a list of codes to hide.

    Sources (people coded at a code) are counts of people; references (coded passages) are
    not, but bound them: a code's people are at most its passages, so one passage pins one
    person. Where ``parents`` gives each code's parent's position (None for a main theme),
    a child's people are at most its parent's, and a parent's at most its children's added
    up (a parent counts each person once).

    Returns
    -------
    tuple of set
        Positions of the sources to hide, and of the references to hide.
    """
    n = len(sources)
    values = [*sources, *references]
    bounds = [AtMost(i, (n + i,)) for i in range(n)]
    if parents is not None:
        children: dict[int, list[int]] = {}
        for child, parent in enumerate(parents):
            if parent is not None:
                bounds.append(AtMost(child, (parent,)))
                children.setdefault(parent, []).append(child)
        bounds += [AtMost(parent, tuple(kids)) for parent, kids in children.items()]
    hidden = suppress(values, threshold, bounds=bounds, people=[True] * n + [False] * n)
    return {i for i in hidden if i < n}, {i - n for i in hidden if i >= n}


def crosstab_cells_to_hide(
    table: pd.DataFrame, threshold: int, margins: str = "All"
) -> pd.DataFrame:
    """Return a boolean frame: which cells of a crosstab with margins to hide.

    ``table`` is ``pd.crosstab(..., margins=True, margins_name=margins)``: every row adds up
    to its ``margins`` column, every column to its ``margins`` row, margins included; margins
    are cells like any other (a small margin is hidden, and protected in turn).
    """
    rows, cols = list(table.index), list(table.columns)
    position = {(r, c): i * len(cols) + j for i, r in enumerate(rows) for j, c in enumerate(cols)}
    values = [table.at[r, c] for r in rows for c in cols]
    inner_rows = [r for r in rows if r != margins]
    inner_cols = [c for c in cols if c != margins]
    sums = [
        Sum(tuple(position[r, c] for c in inner_cols), total=position[r, margins]) for r in rows
    ] + [Sum(tuple(position[r, c] for r in inner_rows), total=position[margins, c]) for c in cols]
    hidden = suppress(values, threshold, sums)
    mask = [[position[r, c] in hidden for c in cols] for r in rows]
    return pd.DataFrame(mask, index=table.index, columns=table.columns)


def protect_counts(table: pd.DataFrame, threshold: int, group_sizes: list[int]) -> pd.DataFrame:
    """Return a characteristics table with small and recoverable counts replaced by the marker.

    Parameters
    ----------
    table
        Rows indexed by (characteristic, category); columns (group, ``n``) and (group, ``%``)
        in pairs, as :func:`compendium.analysis.characteristics.characteristics_table` makes.
    threshold
        The small-cell threshold.
    group_sizes
        Each group's n, in column order; a characteristic's categories add up to it, so a
        lone hidden cell gets a secondary one (see :func:`cells_to_hide`). A group smaller
        than the threshold shows no count or summary at all.

    Returns
    -------
    pandas.DataFrame
        A copy (object dtype) whose hidden cells, and their percentages, hold the marker.
    """
    result = table.astype(object)
    if threshold <= 1:
        return result
    pairs = list(zip(table.columns[0::2], table.columns[1::2], strict=True))
    for (count, percent), size in zip(pairs, group_sizes, strict=True):
        for characteristic in dict.fromkeys(table.index.get_level_values(0)):
            block = table.loc[characteristic, count]
            rows = [(characteristic, category) for category in block.index]
            if is_small(size, threshold):
                for row in rows:
                    if not pd.isna(table.at[row, count]):
                        result.loc[row, count] = marker(threshold)
                        if not pd.isna(table.at[row, percent]):
                            result.loc[row, percent] = marker(threshold)
                continue
            if any(isinstance(v, str) for v in block):  # a numeric summary: median (range)
                continue
            for i in cells_to_hide(list(block), threshold):
                result.loc[rows[i], count] = marker(threshold)
                result.loc[rows[i], percent] = marker(threshold)
    return result


def protect_series(counts: pd.Series, threshold: int, total_known: bool = True) -> pd.Series:
    """Return a breakdown of counts (e.g. attendance patterns) with hidden cells as the marker."""
    result = counts.astype(object).copy()
    for i in cells_to_hide(list(counts), threshold, total_known):
        result.iloc[i] = marker(threshold)
    return result


def shown_count(count: object, threshold: int) -> str:
    """Return a single count of people as published: the number, or the marker when small."""
    return marker(threshold) if is_small(count, threshold) else str(int(count))


def mask_small_counts(counts, threshold: int, hidden=None):
    """Return counts for plotting with hidden cells set to NaN, so nothing draws them.

    ``counts`` is a Series or DataFrame; ``hidden`` (a boolean mask of the same shape)
    names the cells to leave out, by default the small ones. It is returned unchanged when
    no cell is hidden.
    """
    small = counts.map(lambda n: is_small(n, threshold)) if hidden is None else hidden
    if not np.asarray(small, dtype=bool).any():
        return counts
    return counts.astype(float).mask(np.asarray(small, dtype=bool))
