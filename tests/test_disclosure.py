"""Disclosure control: small counts hidden, and no hidden count recoverable from the others."""

from __future__ import annotations

import pandas as pd
import pytest

from compendium import paths
from compendium.analysis.characteristics import characteristics_table
from compendium.analysis.disclosure import cells_to_hide, protect_series, small_cell_threshold
from compendium.contract.descriptor import read_descriptor


def test_threshold_comes_from_the_study_descriptor(monkeypatch):
    monkeypatch.delenv("COMPENDIUM_SMALL_CELL", raising=False)
    assert small_cell_threshold(read_descriptor(paths.DEFAULT_DATA_DIR)) == 0


def test_the_environment_overrides_the_descriptor(monkeypatch):
    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "5")
    assert small_cell_threshold(read_descriptor(paths.DEFAULT_DATA_DIR)) == 5


def test_a_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "five")
    with pytest.raises(
        ValueError,
        match="environment variable COMPENDIUM_SMALL_CELL: small-cell threshold 'five' is not a whole number",
    ):
        small_cell_threshold()


def test_small_counts_are_hidden_and_a_lone_one_gets_a_partner():
    # 1 hidden alone could be worked out as 20 - 12 - 7; the next smallest cell goes too.
    assert cells_to_hide([12, 7, 1], 5) == {1, 2}
    # two small cells already protect each other
    assert cells_to_hide([12, 3, 1], 5) == {1, 2}
    # a cell equal to the whole group, beside zeros, is hidden with a zero
    assert cells_to_hide([0, 4, 0], 5) == {0, 1}
    assert cells_to_hide([12, 7, 6], 5) == set()
    assert cells_to_hide([12, 1], 0) == set()


def test_a_breakdown_whose_total_is_not_known_needs_no_partner():
    assert cells_to_hide([12, 7, 1], 5, total_known=False) == {2}
    shown = protect_series(pd.Series([12, 7, 1], index=["a", "b", "c"]), 5)
    assert shown.tolist() == [12, "<5", "<5"]


def test_no_shown_count_is_small_and_no_hidden_one_can_be_recovered(study):
    descriptor = study.descriptor
    people = study.participants[study.participants["activity_id"] == "A3-FG"]
    table = characteristics_table(people, descriptor, threshold=5)
    counts = table[[c for c in table.columns if c[1] == "n"]]
    for column in counts.columns:
        for _, block in counts[column].groupby(level=0):
            shown = [v for v in block if not isinstance(v, str) and not pd.isna(v)]
            hidden = [v for v in block if v == "<5"]
            assert all(v == 0 or v >= 5 for v in shown)
            assert len(hidden) != 1  # one hidden cell alone would be the group's n minus the rest
