"""Theme counts the way NVivo counts them.

A code's *references* are the distinct segments coded at it or anywhere beneath it; its
*sources* are the distinct transcripts those segments come from (an interviewee, or a focus
group). A parent is therefore the union of its children, not their sum: a person who voiced
two views counts once, and a segment coded at two children is one reference of the parent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from compendium.contract.validation import key_rows


def ancestor_pairs(codes: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (code_id, ancestor_id), each code being its own ancestor too."""
    parent = dict(zip(codes["code_id"], codes["parent_id"], strict=True))
    rows = []
    for code_id in codes["code_id"]:
        node = code_id
        while isinstance(node, str):
            rows.append((code_id, node))
            node = parent.get(node)
    return pd.DataFrame(rows, columns=["code_id", "ancestor_id"])


def segment_sources(segments: pd.DataFrame) -> pd.Series:
    """Return each segment's source: its focus group if it has one, else its interviewee."""
    return segments["group_id"].fillna(segments["participant_id"]).rename("source_id")


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Return the distinct values of an integer array, sorted."""
    # Sort-based: numpy 2.4's np.unique measured 30-100x slower than np.sort on 3e6 int64 here.
    # Stable (timsort) because the keys arrive as a few already-sorted runs (one per level of
    # the code tree), which timsort merges in near-linear time; quicksort ignores the runs.
    ordered = np.sort(keys, kind="stable")
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


#: Largest codes x sources grid counted with a table of flags (one byte a cell) rather than by
#: sorting: 64 MB, far above a qualitative study's few hundred codes and thousand sources.
FLAG_CELLS = 1 << 26


def _distinct_per_row(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int):
    """Return, for each row number below ``n_rows``, how many distinct columns it pairs with."""
    if n_rows * n_columns <= FLAG_CELLS:
        # Setting flags is linear; sorting millions of pairs is not.
        seen = np.zeros(n_rows * n_columns, dtype=bool)
        seen[rows * n_columns + columns] = True
        return seen.reshape(n_rows, n_columns).sum(axis=1)
    width = max(n_columns, 1)
    return np.bincount(_distinct(rows * width + columns) // width, minlength=n_rows)


def code_counts(codes: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Return sources and references for every code, aggregated NVivo-style over descendants.

    Parameters
    ----------
    codes, segments, codings
        The ``codes``, ``segments`` and ``codings`` tables of the data package.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``code_id`` in codebook order, with integer columns ``sources`` and
        ``references``; codes with no coding under them have zeros.
    """
    # Work on integer positions: string merges made this super-linear at 10^6 segments. Ids
    # are looked up in Arrow's hash tables (key_rows, pd.factorize on Arrow-backed strings):
    # no Python object is made for any of them.
    code_index = pd.Index(codes["code_id"])
    parent = key_rows(codes["code_id"], codes["parent_id"]).astype(np.int64)  # -1: main theme
    level = key_rows(codes["code_id"], codings["code_id"])
    # Codings outside the codes passed in (e.g. one analysis's codebook) don't count; dropping
    # them before any segment id is looked up keeps one analysis's call from paying for all.
    coded = np.flatnonzero(level >= 0)
    level = level[coded]
    segment = key_rows(segments["segment_id"], codings["segment_id"].iloc[coded]).astype(np.int64)
    inside = segment >= 0  # codings of segments outside those passed in don't count either
    segment, level = segment[inside], level[inside]
    # Each segment's source: its group, else its speaker (neither: -1, no source).
    source_of_segment, _ = pd.factorize(segments["group_id"].fillna(segments["participant_id"]))
    source_of_segment = source_of_segment.astype(np.int64)
    n_sources = int(source_of_segment.max(initial=-1)) + 1
    # In segment order (a package's codings usually are already, so this costs little), each
    # level of the climb below yields one sorted run of pairs, which _distinct merges cheaply.
    order = np.argsort(segment, kind="stable")
    row, level = order.astype(np.int64), level[order].astype(np.int64)
    # Pairs (coding row, code) packed in one integer with the code in the low bits, so that
    # unpacking is a mask and a shift rather than a division.
    bits = max(len(code_index) - 1, 1).bit_length()
    row_parts, code_parts = [], []
    while len(level):  # climb one level of the tree per pass
        row_parts.append(row)
        code_parts.append(level)
        keep = parent[level] >= 0
        row, level = row[keep], parent[level][keep]
    rows = np.concatenate(row_parts) if row_parts else np.empty(0, np.int64)
    code_all = np.concatenate(code_parts) if code_parts else np.empty(0, np.int64)
    # A segment coded at two children is one reference of their parent: deduplicate pairs of
    # (segment, code). Keyed by segment position so that two codings of one segment coincide.
    pairs = _distinct((segment[rows].astype(np.int64) << bits) | code_all)
    pair_code = pairs & ((1 << bits) - 1)
    references = np.bincount(pair_code, minlength=len(code_index))
    pair_source = source_of_segment[pairs >> bits]
    named = pair_source >= 0  # a segment with neither speaker nor group has no source
    sources = _distinct_per_row(pair_code[named], pair_source[named], len(code_index), n_sources)
    counts = pd.DataFrame({"sources": sources, "references": references}, index=code_index)
    counts = counts.astype("int64")
    counts.index.name = "code_id"
    return counts


def code_depth(codes: pd.DataFrame) -> pd.Series:
    """Return each code's depth, indexed by ``code_id``: 0 for a main theme, 1 beneath it, ..."""
    return ancestor_pairs(codes).groupby("code_id", sort=False).size().sub(1).rename("depth")


def main_theme_of(codes: pd.DataFrame) -> pd.Series:
    """Return, indexed by ``code_id``, the main theme (the top ancestor) each code sits under."""
    pairs = ancestor_pairs(codes)
    top = set(codes.loc[codes["parent_id"].isna(), "code_id"])
    pairs = pairs[pairs["ancestor_id"].isin(top)]
    return pairs.set_index("code_id")["ancestor_id"].rename("main_theme")


def analysis_codes(codes: pd.DataFrame, activity_id: str) -> pd.DataFrame:
    """Return one analysis' codebook in codebook order (depth first, by position)."""
    own = codes[codes["activity_id"] == activity_id]
    children: dict[object, list] = {}
    for row in own.sort_values("position").itertuples():
        parent = row.parent_id if isinstance(row.parent_id, str) else None
        children.setdefault(parent, []).append(row.Index)
    order: list = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        index = stack.pop()
        order.append(index)
        stack.extend(reversed(children.get(own.at[index, "code_id"], [])))
    return own.loc[order]


def theme_summary(
    codes: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, activity_id: str
) -> pd.DataFrame:
    """Return an analysis' codes in codebook order with their depth and NVivo counts.

    Returns
    -------
    pandas.DataFrame
        Columns ``code_id``, ``parent_id``, ``depth``, ``name``, ``name_wording``,
        ``sources``, ``references``; one row per code of the analysis.
    """
    own = analysis_codes(codes, activity_id)
    counts = code_counts(own, segments, codings)
    depth = code_depth(own)
    summary = own[["code_id", "parent_id", "name", "name_wording"]].join(depth, on="code_id")
    summary = summary.join(counts, on="code_id")
    return summary[
        ["code_id", "parent_id", "depth", "name", "name_wording", "sources", "references"]
    ].reset_index(drop=True)


def sources_by(
    codes: pd.DataFrame, segments: pd.DataFrame, codings: pd.DataFrame, source_groups: pd.Series
) -> pd.DataFrame:
    """Return each code's sources within each group of sources (e.g. by comparison group).

    Parameters
    ----------
    codes, segments, codings
        The tables (``codes`` may be one analysis' codebook).
    source_groups
        The group of each source, indexed by source id (a participant or group id); sources
        outside it are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``code_id`` (the order of ``codes``), one column of sources per group, in
        the order the groups first appear in ``source_groups`` unless it is categorical.
    """
    groups = source_groups.dropna()
    order = (
        list(groups.cat.categories)
        if isinstance(groups.dtype, pd.CategoricalDtype)
        else list(dict.fromkeys(groups))
    )
    columns = {}
    source = segment_sources(segments)
    for group in order:
        members = set(groups.index[groups == group])
        own = segments[source.isin(members).to_numpy()]
        counts = code_counts(codes, own, codings[codings["segment_id"].isin(own["segment_id"])])
        columns[group] = counts["sources"]
    table = pd.DataFrame(columns, index=pd.Index(codes["code_id"], name="code_id"))
    return table.fillna(0).astype("int64")
