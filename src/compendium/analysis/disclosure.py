"""Small-cell suppression for counts of people.

A count of one or two people in a demographic category can identify someone. Tables of
participant characteristics therefore pass through :func:`suppress_small_counts`, which
replaces every count from 1 up to (not including) the threshold, and its percentage, by
``"<threshold"``. The threshold is the study descriptor's ``disclosure: small_cell_threshold`` (``study.yaml``)
and can be overridden with the ``COMPENDIUM_SMALL_CELL`` environment variable. The synthetic package uses 0, which suppresses nothing, but the same code runs.
"""

from __future__ import annotations

import os

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


def cells_to_hide(counts: list, threshold: int, total_known: bool = True) -> set[int]:
    """Return the positions of a set of counts to hide so no hidden one can be worked out.

    Primary suppression hides every count from 1 to ``threshold - 1``. When the counts add up
    to a total the reader knows (a group's n), one hidden cell alone could be recovered by
    subtraction, so secondary suppression also hides the smallest other cell (a non-zero one
    if there is one).

    Parameters
    ----------
    counts
        Whole numbers (NA for cells that do not apply), e.g. one characteristic of one group.
    threshold
        The small-cell threshold; 0 or 1 hides nothing.
    total_known
        Whether the counts' sum is shown or known elsewhere.
    """
    values = [None if pd.isna(c) else int(c) for c in counts]
    hidden = {i for i, c in enumerate(values) if c is not None and is_small(c, threshold)}
    if total_known and len(hidden) == 1:
        others = [(c == 0, c, i) for i, c in enumerate(values) if c is not None and i not in hidden]
        if others:
            hidden.add(min(others)[2])
    return hidden


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
        lone hidden cell gets a secondary one (see :func:`cells_to_hide`). A numeric summary
        of a group smaller than the threshold is hidden too.

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
            if any(isinstance(v, str) for v in block):  # a numeric summary: median (range)
                if size < threshold:
                    result.loc[rows, count] = marker(threshold)
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


def mask_small_counts(counts, threshold: int):
    """Return counts for plotting with small cells set to NaN, so nothing draws them.

    ``counts`` is a Series or DataFrame; it is returned unchanged when no cell is small.
    """
    small = counts.map(lambda n: is_small(n, threshold))
    if not small.to_numpy().any():
        return counts
    return counts.astype(float).mask(small.astype(bool))
