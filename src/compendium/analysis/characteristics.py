"""Who took part: counts of people by the characteristics a study declares.

A characteristics table counts people in every category of each declared participant
attribute (``study.yaml``: ``attributes``), in the declared order, split into groups by a
column (their role, or the study's comparison group), with percentages of each group and a
"Missing" row where a value was not recorded. An attribute recorded only for some roles is
"not recorded" (NA) for the others. Numeric attributes are summarised by their median and
range. Counts pass through :mod:`compendium.analysis.disclosure` before they are shown.
"""

from __future__ import annotations

import pandas as pd

from compendium.analysis.disclosure import protect_counts, shown_count
from compendium.contract.descriptor import Attribute, Descriptor

MISSING = "Missing"


def group_order(descriptor: Descriptor, by: str, present: list) -> list:
    """Return the groups of column ``by`` in the order the study declares them."""
    if by == "role":
        declared = [r.id for r in descriptor.roles]
    elif by == "arm" and descriptor.trial:
        declared = [a.id for a in descriptor.trial.arms]
    else:
        attribute = next((a for a in descriptor.attributes if a.name == by), None)
        declared = (
            list(attribute.values) if attribute and attribute.values else sorted(present, key=str)
        )
    return [g for g in declared if g in present]


def group_label(descriptor: Descriptor, by: str, group) -> str:
    """Return a group's display label, e.g. the declared label of a role."""
    if by == "role":
        return descriptor.role(group).label
    if by == "arm" and descriptor.trial:
        return next(a.label for a in descriptor.trial.arms if a.id == group)
    return str(group)


def _category_block(values: pd.Series, attribute: Attribute, groups, by_values) -> pd.DataFrame:
    categories = list(attribute.values) if attribute.values else ["true", "false"]
    frame = pd.DataFrame(index=categories + [MISSING])
    for group in groups:
        own = values[by_values == group]
        if own.isna().all():
            frame[group] = pd.NA
            continue
        shown = own.map(lambda v: str(v).lower()) if attribute.type == "boolean" else own
        counts = shown.value_counts().reindex(categories, fill_value=0)
        frame[group] = list(counts) + [int(own.isna().sum())]
    return frame


def characteristics_table(
    people: pd.DataFrame, descriptor: Descriptor, by: str = "role", threshold: int = 0
) -> pd.DataFrame:
    """Return counts and percentages of each declared characteristic, per group of ``by``.

    Parameters
    ----------
    people
        Rows of ``participants`` (the people to describe).
    descriptor
        The study descriptor: which attributes exist, their categories and order.
    by
        The column that splits the table's columns: ``role`` (default) or another attribute.
    threshold
        Small-cell threshold (see :mod:`compendium.analysis.disclosure`).

    Returns
    -------
    pandas.DataFrame
        Rows indexed by (characteristic, category): categories in declared order, plus a
        ``Missing`` row where any value of an applicable group is missing; a numeric
        attribute has one row, "median (range)". Columns are (group with its n, ``n``) and
        (group, ``%``). A characteristic not recorded for a group is NA there; one recorded
        for nobody, and the ``by`` attribute itself, are left out. Small counts, and any
        count from which one could be worked out, are replaced by ``"<threshold"``.
    """
    groups = group_order(descriptor, by, list(people[by].dropna().unique()))
    by_values = people[by]
    blocks = []
    for attribute in descriptor.attributes:
        if attribute.name == by or people[attribute.name].isna().all():
            continue
        values = people[attribute.name]
        if attribute.type in ("integer", "number"):
            row = {}
            for group in groups:
                own = values[by_values == group].dropna()
                row[group] = (
                    pd.NA if own.empty else f"{own.median():g} ({own.min():g}–{own.max():g})"
                )
            frame = pd.DataFrame(row, index=["median (range)"])
        else:
            frame = _category_block(values, attribute, groups, by_values)
            applicable = [g for g in groups if frame[g].notna().any()]
            if not (frame.loc[MISSING, applicable].fillna(0) > 0).any():
                frame = frame.drop(index=MISSING)
        frame.index = pd.MultiIndex.from_product(
            [[attribute.label], frame.index], names=["Characteristic", "Category"]
        )
        blocks.append(frame)
    if not blocks:
        return pd.DataFrame()
    table = pd.concat(blocks)
    sizes = by_values.value_counts()
    columns = {}
    for group in groups:
        # A group smaller than the threshold is itself a small count of people.
        label = f"{group_label(descriptor, by, group)} (n = {shown_count(sizes[group], threshold)})"
        cells = table[group]
        numeric = pd.to_numeric(
            cells.where(cells.map(lambda v: not isinstance(v, str))), errors="coerce"
        )
        columns[(label, "n")] = cells.where(
            cells.map(lambda v: isinstance(v, str)), numeric.astype("Int64")
        )
        columns[(label, "%")] = (100 * numeric / int(sizes[group])).astype("Float64").round(1)
    shown = pd.DataFrame(columns)
    shown.columns = pd.MultiIndex.from_tuples(shown.columns, names=["Group", ""])
    return protect_counts(shown, threshold, group_sizes=[int(sizes[g]) for g in groups])
