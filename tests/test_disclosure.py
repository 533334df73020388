"""Small-cell suppression: the threshold's sources and what gets suppressed."""

from __future__ import annotations

import pandas as pd
import pytest

from compendium.analysis import disclosure
from compendium.analysis.disclosure import small_cell_threshold, suppress_small_counts


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"n": [0, 1, 2, 3, 10], "%": [0.0, 6.2, 12.5, 18.8, 62.5]})


def test_threshold_zero_shows_every_count(table):
    shown = suppress_small_counts(table, ["n"], ["%"], 0)
    assert shown["n"].tolist() == [0, 1, 2, 3, 10]
    assert shown["%"].tolist() == [0.0, 6.2, 12.5, 18.8, 62.5]


def test_counts_below_threshold_and_their_percentages_are_suppressed(table):
    shown = suppress_small_counts(table, ["n"], ["%"], 3)
    assert shown["n"].tolist() == [0, "<3", "<3", 3, 10]
    assert shown["%"].tolist() == [0.0, "<3", "<3", 18.8, 62.5]


def test_missing_counts_are_left_alone():
    table = pd.DataFrame({"n": pd.array([pd.NA, 1], dtype="Int64"), "%": [pd.NA, 50.0]})
    shown = suppress_small_counts(table, ["n"], ["%"], 5)
    assert pd.isna(shown["n"].iloc[0]) and shown["n"].iloc[1] == "<5"


def test_mismatched_columns_are_refused(table):
    with pytest.raises(ValueError, match="exactly one percentage column"):
        suppress_small_counts(table, ["n"], [], 3)


def test_threshold_comes_from_pyproject(tmp_path, monkeypatch):
    monkeypatch.delenv(disclosure.ENV_VAR, raising=False)
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.compendium]\nsmall_cell_threshold = 5\n", encoding="utf-8")
    assert small_cell_threshold(config) == 5


def test_project_configuration_is_zero(monkeypatch):
    monkeypatch.delenv(disclosure.ENV_VAR, raising=False)
    assert small_cell_threshold() == 0


def test_environment_overrides_pyproject(tmp_path, monkeypatch):
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.compendium]\nsmall_cell_threshold = 5\n", encoding="utf-8")
    monkeypatch.setenv(disclosure.ENV_VAR, "11")
    assert small_cell_threshold(config) == 11


def test_missing_configuration_means_zero(tmp_path, monkeypatch):
    monkeypatch.delenv(disclosure.ENV_VAR, raising=False)
    assert small_cell_threshold(tmp_path / "absent.toml") == 0


def test_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv(disclosure.ENV_VAR, "five")
    with pytest.raises(ValueError, match="COMPENDIUM_SMALL_CELL.*'five' is not a whole number"):
        small_cell_threshold()


def test_negative_configured_value_names_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(disclosure.ENV_VAR, raising=False)
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.compendium]\nsmall_cell_threshold = -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pyproject.toml: \[tool.compendium\].*must be 0 or more"):
        small_cell_threshold(config)
