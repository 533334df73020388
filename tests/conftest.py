"""Shared fixtures: a freshly generated package, and throwaway copies to break."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import jupytext
import nbclient
import pytest

from compendium import paths
from compendium.contract.loading import load_study


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A package generated with the book's seed, in a temporary directory."""
    from compendium.contract.synthesis import synthesize

    return synthesize(2017, tmp_path_factory.mktemp("generated") / "data")


@pytest.fixture(scope="session")
def study():
    """The committed package, validated and loaded."""
    return load_study(paths.DEFAULT_DATA_DIR)


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A writable copy of the committed package, for tests that break it."""
    target = tmp_path / "data"
    shutil.copytree(paths.DEFAULT_DATA_DIR, target)
    return target


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of a generated CSV (no quoted commas in the edited row's earlier cells)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[line - 1][rows[0].index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


@cache
def executed_chapter(name: str):
    """Return ``book/<name>.md`` executed in a fresh kernel, once per test process."""
    notebook = jupytext.read(paths.BOOK_DIR / f"{name}.md")
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(paths.BOOK_DIR)}},
    )
    client.execute()
    return notebook
