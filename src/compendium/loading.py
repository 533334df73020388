"""Load the data package into pandas, after validating it.

Chapters call :func:`load_study`; it refuses an invalid package with every problem listed,
so a malformed file can never become a table in the book.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import paths

PANDAS_DTYPES = {"string": "str", "integer": "Int64", "number": "Float64"}


def read_descriptor(data_dir: Path) -> dict:
    """Return the package's ``datapackage.json`` as a dict."""
    return json.loads((Path(data_dir) / "datapackage.json").read_text(encoding="utf-8"))


def read_table(path: Path, fields: list[dict]) -> pd.DataFrame:
    """Return one CSV resource as a DataFrame typed from its Table Schema fields."""
    dtypes = {f["name"]: PANDAS_DTYPES.get(f["type"], "str") for f in fields}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""], encoding="utf-8")
    for f in fields:
        if f["type"] == "boolean":
            frame[f["name"]] = (
                frame[f["name"]].map({"true": True, "false": False}).astype("boolean")
            )
    return frame


def read_tables(data_dir: Path, descriptor: dict) -> dict[str, pd.DataFrame]:
    """Return every resource named in ``descriptor`` as a typed DataFrame, without validating."""
    return {
        r["name"]: read_table(Path(data_dir) / r["path"], r["schema"]["fields"])
        for r in descriptor["resources"]
    }


@dataclass
class Study:
    """A validated data package: each resource is an attribute holding a DataFrame.

    The study remembers which resources were read, so that a chapter can say under each
    table or figure which data files it came from (see :mod:`compendium.provenance`).
    """

    data_dir: Path
    tables: dict[str, pd.DataFrame] = field(repr=False)
    read: set[str] = field(default_factory=set, repr=False)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            self.__dict__["read"].add(name)
            return tables[name]
        raise AttributeError(f"the data package has no resource {name!r}")

    def take_read(self) -> set[str]:
        """Return the resources read since the last call, and start a new record."""
        taken, self.read = self.read, set()
        return taken


def load_study(data_dir: Path | None = None) -> Study:
    """Validate the package in ``data_dir`` (default: :func:`paths.data_dir`) and load it.

    Raises
    ------
    compendium.validation.InvalidPackage
        When any problem is found; its message lists each as ``file:row: column: problem``.
    """
    from .validation import InvalidPackage, canonical_descriptor, validate_package

    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    problems = validate_package(data_dir)
    if problems:
        raise InvalidPackage(problems)
    return Study(data_dir, read_tables(data_dir, canonical_descriptor()))
