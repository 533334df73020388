"""Survey answers: how respondents answered each item, overall and by comparison group."""

from __future__ import annotations

import pandas as pd

from compendium.contract.descriptor import Descriptor


def item_responses(
    items: pd.DataFrame, responses: pd.DataFrame, descriptor: Descriptor
) -> pd.DataFrame:
    """Return, per item, how many respondents gave each value of its scale.

    Returns
    -------
    pandas.DataFrame
        Long form: ``item_id``, ``position``, ``text``, ``scale_id``, ``response`` (in scale
        order, then ``No answer``), ``respondents``; every scale value appears, with 0 where
        nobody chose it.
    """
    rows = []
    for item in items.sort_values("position").itertuples():
        scale = descriptor.scale(item.scale_id)
        answers = responses.loc[responses["item_id"] == item.item_id, "response"]
        counts = answers.value_counts()
        for value in list(scale.values) + ["No answer"]:
            n = int(answers.isna().sum()) if value == "No answer" else int(counts.get(value, 0))
            if value == "No answer" and n == 0:
                continue
            rows.append((item.item_id, item.position, item.text, item.scale_id, value, n))
    return pd.DataFrame(
        rows, columns=["item_id", "position", "text", "scale_id", "response", "respondents"]
    )


def responses_by(responses: pd.DataFrame, participants: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return the responses with each respondent's value of ``column`` (e.g. a comparison group)."""
    return responses.merge(
        participants[["participant_id", column]], on="participant_id", how="left"
    )
