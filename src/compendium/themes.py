"""Theme counts the way NVivo counts them.

A code's *references* are the distinct segments coded at it or anywhere beneath it; its
*sources* are the distinct transcripts those segments come from (an interviewee, or a focus
group). A parent is therefore the union of its children, not their sum: a person who voiced
two views counts once, and a segment coded at two children is one reference of the parent.
"""

from __future__ import annotations

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
    source = pd.Series(
        segment_sources(segments).to_numpy(), index=segments["segment_id"].to_numpy()
    )
    expanded = codings.merge(ancestor_pairs(codes), on="code_id")[["segment_id", "ancestor_id"]]
    expanded = expanded.drop_duplicates()
    expanded["source_id"] = source.reindex(expanded["segment_id"].to_numpy()).to_numpy()
    grouped = expanded.groupby("ancestor_id", sort=False)
    counts = pd.DataFrame({"sources": grouped["source_id"].nunique(), "references": grouped.size()})
    counts = counts.reindex(codes["code_id"].to_numpy(), fill_value=0).astype("int64")
    counts.index.name = "code_id"
    return counts
