"""The evidence review: which reviewed programmes hold which intervention concepts."""

from __future__ import annotations

import pandas as pd


def programme_concept_matrix(
    programmes: pd.DataFrame, concepts: pd.DataFrame, links: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per programme (label, facilitator) and one boolean column per concept."""
    concepts = concepts.sort_values("position")
    wide = (
        links.assign(present=True)
        .pivot_table(
            index="programme_id",
            columns="concept_id",
            values="present",
            aggfunc="any",
            fill_value=False,
        )
        .reindex(index=programmes["programme_id"], columns=concepts["concept_id"], fill_value=False)
        .astype(bool)
    )
    wide.columns = concepts["name"].tolist()
    front = programmes.set_index("programme_id")[["label", "facilitator"]].rename(
        columns={"label": "programme"}
    )
    return front.join(wide).reset_index(drop=True)


def concept_programme_counts(
    programmes: pd.DataFrame, concepts: pd.DataFrame, links: pd.DataFrame
) -> pd.DataFrame:
    """Return, per concept in order, how many reviewed programmes hold it, of how many."""
    counts = links.groupby("concept_id").size()
    ordered = concepts.sort_values("position")
    return pd.DataFrame(
        {
            "concept_id": ordered["concept_id"].to_numpy(),
            "concept": ordered["name"].to_numpy(),
            "programmes": counts.reindex(ordered["concept_id"], fill_value=0).to_numpy(),
            "of": len(programmes),
        }
    )
