"""Load the data package into pandas, after validating it.

Chapters call :func:`load_study`; it refuses an invalid package with every problem listed,
so a malformed file can never become a table in the book.

Validation (Frictionless plus the cross-table checks) costs about a second, and every chapter
loads the same package. A package that passed is therefore remembered by its fingerprint
(:func:`package_fingerprint`): the SHA-256 of every file in the package, the canonical schema,
the package version and the validating code. Loading an unchanged package skips the second
pass without even importing Frictionless; any changed byte means a new fingerprint and a full
validation. Only successes are remembered, so a broken package is re-checked, and refused,
every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from compendium import __version__, paths

if TYPE_CHECKING:  # pandas is imported when a table is read: fingerprints need only hashlib
    import pandas as pd

PANDAS_DTYPES = {"string": "str", "integer": "Int64", "number": "Float64"}


#: Where fingerprints of packages that passed validation are kept (one empty file each).
VALIDATED_DIR = paths.BUILD_DIR / ".compendium" / "validated"
#: How many fingerprints to keep; older ones are pruned when a new one is written.
VALIDATED_KEEP = 64
#: The modules whose code decides validity: a change to any of them revalidates.
VALIDATING_MODULES = ("contract/validation.py", "analysis/expressions.py", "contract/loading.py")
CANONICAL_SCHEMA = paths.RESOURCES_DIR / "datapackage.json"


def canonical_descriptor() -> dict:
    """Return the compendium's own ``datapackage.json``: the schema every package must meet."""
    return json.loads(CANONICAL_SCHEMA.read_text(encoding="utf-8"))


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_digests(data_dir: Path) -> dict[str, str]:
    """Return the SHA-256 of every file in a package directory, by file name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return {}
    return {p.name: file_sha256(p) for p in sorted(data_dir.iterdir()) if p.is_file()}


def package_fingerprint(data_dir: Path, digests: dict[str, str] | None = None) -> str:
    """Return the SHA-256 that identifies a package's validation result.

    It covers the name and bytes of every file in ``data_dir``, the canonical schema, the
    package version and the source of the validating modules, so it changes whenever the
    verdict of :func:`compendium.contract.validation.validate_package` could.

    Parameters
    ----------
    data_dir
        The package directory.
    digests
        The package files' digests (:func:`file_digests`), when the caller has them already.

    Returns
    -------
    str
        A hex digest.
    """
    digest = hashlib.sha256(f"compendium {__version__}\n".encode())
    package_dir = paths.PACKAGE_DIR
    inputs = [("schema", file_sha256(CANONICAL_SCHEMA))]
    inputs += [(f"code/{name}", file_sha256(package_dir / name)) for name in VALIDATING_MODULES]
    data = file_digests(data_dir) if digests is None else digests
    inputs += [(f"data/{name}", hexdigest) for name, hexdigest in sorted(data.items())]
    for label, hexdigest in inputs:
        digest.update(f"{label}\0".encode())
        digest.update(bytes.fromhex(hexdigest))
    return digest.hexdigest()


def is_known_valid(fingerprint: str, cache_dir: Path | None = None) -> bool:
    """Return True when a package with this fingerprint has passed validation before."""
    return ((cache_dir or VALIDATED_DIR) / fingerprint).is_file()


def remember_valid(fingerprint: str, cache_dir: Path | None = None) -> None:
    """Record that the package with ``fingerprint`` passed validation.

    The record is written atomically; a cache directory that cannot be written (a read-only
    checkout) only means the next load validates again.
    """
    cache_dir = cache_dir or VALIDATED_DIR
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        os.close(handle)
        os.replace(temporary, cache_dir / fingerprint)
        kept = sorted(
            (p for p in cache_dir.iterdir() if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for stale in kept[:-VALIDATED_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


def ensure_valid(data_dir: Path, fingerprint: str | None = None) -> str:
    """Validate the package in ``data_dir`` unless its fingerprint already passed.

    ``fingerprint`` is the package's :func:`package_fingerprint`, when the caller has it.

    Returns
    -------
    str
        The package fingerprint.

    Raises
    ------
    compendium.contract.validation.InvalidPackage
        When any problem is found; its message lists each as ``file:row: column: problem``.
    """
    fingerprint = fingerprint or package_fingerprint(data_dir)
    if is_known_valid(fingerprint):
        return fingerprint
    from compendium.contract.validation import (  # imports Frictionless
        InvalidPackage,
        validate_package,
    )

    problems = validate_package(data_dir)
    if problems:
        raise InvalidPackage(problems)
    remember_valid(fingerprint)
    return fingerprint


def read_descriptor(data_dir: Path) -> dict:
    """Return the package's ``datapackage.json`` as a dict."""
    return json.loads((Path(data_dir) / "datapackage.json").read_text(encoding="utf-8"))


def read_table(path: Path, fields: list[dict]) -> pd.DataFrame:
    """Return one CSV resource as a DataFrame typed from its Table Schema fields."""
    import pandas as pd

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


#: Every (package directory, resource) read from any Study in this process: what a chapter
#: depended on, for the data-aware execution cache (:func:`compendium.presentation.provenance.kernel_inputs`).
READ_IN_PROCESS: set[tuple[str, str]] = set()


@dataclass
class Study:
    """A validated data package: each resource is an attribute holding a DataFrame.

    The study remembers which resources were read, so that a chapter can say under each
    table or figure which data files it came from (see :mod:`compendium.presentation.provenance`).
    """

    data_dir: Path
    tables: dict[str, pd.DataFrame] = field(repr=False)
    read: set[str] = field(default_factory=set, repr=False)
    digests: dict[str, str] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            self.__dict__["read"].add(name)
            READ_IN_PROCESS.add((str(Path(self.__dict__["data_dir"]).resolve()), name))
            return tables[name]
        raise AttributeError(f"the data package has no resource {name!r}")

    def file_digest(self, filename: str) -> str:
        """Return the SHA-256 of one package file: as hashed at load, else hashed once now."""
        if filename not in self.digests:
            self.digests[filename] = file_sha256(self.data_dir / filename)
        return self.digests[filename]

    def take_read(self) -> set[str]:
        """Return the resources read since the last call, and start a new record."""
        taken, self.read = self.read, set()
        return taken


def load_study(data_dir: Path | None = None) -> Study:
    """Validate the package in ``data_dir`` (default: :func:`paths.data_dir`) and load it.

    A package whose fingerprint already passed validation is not validated again (see the
    module docstring); any change to it is.

    Raises
    ------
    compendium.contract.validation.InvalidPackage
        When any problem is found; its message lists each as ``file:row: column: problem``.
    """
    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    # Hashed once: the digests both key the validation cache and label provenance lines.
    digests = file_digests(data_dir)
    ensure_valid(data_dir, package_fingerprint(data_dir, digests))
    return Study(data_dir, read_tables(data_dir, canonical_descriptor()), digests=digests)
