"""Theme counts the way NVivo counts them.

A code's *references* are the distinct segments coded at it or anywhere beneath it; its
*sources* are the distinct transcripts those segments come from (an interviewee, or a focus
group). A parent is therefore the union of its children, not their sum: a person who voiced
two views counts once, and a segment coded at two children is one reference of the parent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    ordered = np.sort(keys)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


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
    # Work on integer positions: string merges made this super-linear at 10^6 segments.
    code_index = pd.Index(codes["code_id"])
    parent = code_index.get_indexer(codes["parent_id"].fillna(""))  # -1 for a main theme
    segment = pd.Index(segments["segment_id"]).get_indexer(codings["segment_id"])
    source, _ = pd.factorize(segment_sources(segments))
    n_codes, n_sources = len(code_index), int(source.max(initial=-1)) + 1
    level = code_index.get_indexer(codings["code_id"])
    # Codings outside the codes or segments passed in (e.g. one analysis's codebook) don't count.
    inside = (level >= 0) & (segment >= 0)
    segment, level = segment[inside], level[inside]
    seg_parts, code_parts = [], []
    while len(level):  # climb one level of the tree per pass
        seg_parts.append(segment)
        code_parts.append(level)
        keep = parent[level] >= 0
        segment, level = segment[keep], parent[level][keep]
    seg_all = np.concatenate(seg_parts).astype(np.int64) if seg_parts else np.empty(0, np.int64)
    code_all = np.concatenate(code_parts).astype(np.int64) if code_parts else np.empty(0, np.int64)
    # A segment coded at two children is one reference of their parent: deduplicate pairs.
    pairs = _distinct(seg_all * n_codes + code_all)
    references = np.bincount(pairs % n_codes, minlength=n_codes)
    by_source = _distinct((pairs % n_codes) * max(n_sources, 1) + source[pairs // n_codes])
    sources = np.bincount(by_source // max(n_sources, 1), minlength=n_codes)
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
