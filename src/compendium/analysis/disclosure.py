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


def suppress_small_counts(
    table: pd.DataFrame, count_columns: list, percent_columns: list, threshold: int
) -> pd.DataFrame:
    """Return ``table`` with small counts, and their percentages, replaced by ``"<threshold"``.

    Parameters
    ----------
    table : pandas.DataFrame
        Counts and percentages; ``count_columns[i]`` pairs with ``percent_columns[i]``.
    count_columns, percent_columns : list
        Column labels of the counts and of the matching percentages.
    threshold : int
        Counts from 1 to ``threshold - 1`` are suppressed; 0 or 1 suppresses nothing.

    Returns
    -------
    pandas.DataFrame
        A copy whose suppressed cells hold the marker; other cells are unchanged.
    """
    if len(count_columns) != len(percent_columns):
        raise ValueError("each count column needs exactly one percentage column")
    result = table.astype(object)
    marker = f"<{threshold}"
    for count, percent in zip(count_columns, percent_columns, strict=True):
        small = table[count].map(lambda n: is_small(n, threshold)).astype(bool)
        result.loc[small, count] = marker
        result.loc[small, percent] = marker
    return result


def mask_small_counts(counts, threshold: int):
    """Return counts for plotting with small cells set to NaN, so nothing draws them.

    ``counts`` is a Series or DataFrame; it is returned unchanged when no cell is small.
    """
    small = counts.map(lambda n: is_small(n, threshold))
    if not small.to_numpy().any():
        return counts
    return counts.astype(float).mask(small.astype(bool))
