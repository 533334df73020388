"""Load a data package into pandas, after validating it against its study's contract.

Chapters call :func:`load_study`; it refuses an invalid package with every problem listed,
so a malformed file can never become a table in the book. Values are cast to their declared
types only after validation passed, so pandas never sees a value the schema refused.

Validation costs a second or two, and every chapter loads the same package. A package that
passed is therefore remembered by its fingerprint (:func:`package_fingerprint`): the SHA-256 of
every file in the package, of the contract's resources and of the validating code. Loading an
unchanged package skips the check; any changed byte means a new fingerprint and a full
validation. Only successes are remembered, so a broken package is re-checked, and refused,
every time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from compendium import __version__, paths
from compendium.contract.descriptor import DESCRIPTOR_FILE, Descriptor, read_descriptor
from compendium.contract.schema import PACKAGE_FILE, read_package_json

if TYPE_CHECKING:  # pandas is imported when a table is read: fingerprints need only hashlib
    import pandas as pd

PANDAS_DTYPES = {"string": "str", "integer": "Int64", "number": "Float64", "boolean": "boolean"}

#: Where fingerprints of packages that passed validation are kept (one empty file each).
VALIDATED_DIR = paths.BUILD_DIR / ".compendium" / "validated"
#: How many fingerprints to keep; older ones are pruned when a new one is written.
VALIDATED_KEEP = 64
#: The files whose content decides validity: a change to any of them revalidates.
VALIDATING_FILES = (
    "contract/validation.py",
    "contract/descriptor.py",
    "contract/schema.py",
    "contract/loading.py",
    "analysis/expressions.py",
    "analysis/measures.py",
    "resources/contract/tables.yaml",
    "resources/contract/study.schema.yaml",
    "resources/frameworks.yaml",
)
#: Bytes read at a time when hashing, so a large file never sits whole in memory.
HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def package_files(data_dir: Path) -> list[Path]:
    """Return the files that make up a package: the descriptors and the CSV files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    return sorted(
        p
        for p in data_dir.iterdir()
        if p.name in (DESCRIPTOR_FILE, PACKAGE_FILE) or p.suffix == ".csv"
    )


def file_digests(data_dir: Path) -> dict[str, str]:
    """Return the SHA-256 of every package file (regular files only), by file name."""
    return {
        p.name: file_sha256(p)
        for p in package_files(data_dir)
        if p.is_file() and not p.is_symlink()
    }


def package_fingerprint(data_dir: Path, digests: dict[str, str] | None = None) -> str:
    """Return the SHA-256 that identifies a package's validation result.

    It covers the name and bytes of every package file, the contract's resources, the
    package version and the validating code, so it changes whenever the verdict of
    :func:`compendium.contract.validation.validate_package` could.
    """
    digest = hashlib.sha256(f"compendium {__version__}\n".encode())
    inputs = [(f"code/{name}", file_sha256(paths.PACKAGE_DIR / name)) for name in VALIDATING_FILES]
    data = file_digests(data_dir) if digests is None else digests
    inputs += [(f"data/{name}", hexdigest) for name, hexdigest in sorted(data.items())]
    links = sorted(p.name for p in package_files(data_dir) if p.is_symlink())
    inputs += [(f"link/{name}", "00") for name in links]
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
    """Validate the package in ``data_dir`` unless its fingerprint already passed; return it.

    Raises
    ------
    compendium.contract.problems.InvalidPackage
        When any problem is found.
    """
    from compendium.contract.problems import InvalidPackage

    fingerprint = fingerprint or package_fingerprint(data_dir)
    if is_known_valid(fingerprint):
        return fingerprint
    from compendium.contract.validation import validate_package

    problems = validate_package(data_dir)
    if problems:
        raise InvalidPackage(problems)
    remember_valid(fingerprint)
    return fingerprint


def cast_table(frame: pd.DataFrame, fields: list[dict]) -> pd.DataFrame:
    """Return a validated text frame with each column cast to its declared type.

    Empty cells become missing values (``pd.NA``); integers are ``Int64``, numbers
    ``Float64``, booleans ``boolean`` and strings ``str``.
    """
    import pandas as pd

    columns = {}
    for f in fields:
        values = frame[f["name"]]
        empty = values == ""
        kind = f["type"]
        if kind == "boolean":
            cast = values.map({"true": True, "false": False, "": pd.NA}).astype("boolean")
        elif kind in ("integer", "number"):
            cast = pd.to_numeric(values.mask(empty)).astype(PANDAS_DTYPES[kind])
        else:
            cast = values.mask(empty).astype("str")
        columns[f["name"]] = cast
    return pd.DataFrame(columns, index=frame.index)


def read_typed_table(path: Path, fields: list[dict]) -> pd.DataFrame:
    """Return a CSV file already known to be valid, each column of its declared type.

    Arrow's CSV reader parses and types the columns itself (empty cells missing), and
    pandas takes its columns as they are: what :func:`cast_table` makes of the text, at a
    fraction of the time and memory for a large table. A file Arrow refuses is read as text
    and cast.
    """
    import pandas as pd
    import pyarrow as pa

    from compendium.contract.validation import read_arrow_table, read_text_frame

    arrow = {
        "string": pa.large_string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
    }
    table = read_arrow_table(path, {f["name"]: arrow[f["type"]] for f in fields}, nulls=True)
    if table is None:
        return cast_table(read_text_frame(path), fields)
    dtypes = {arrow[kind]: pd.api.types.pandas_dtype(PANDAS_DTYPES[kind]) for kind in arrow}
    return table.to_pandas(types_mapper=dtypes.get)[[f["name"] for f in fields]]


def read_typed_tables(data_dir: Path, package: dict) -> dict[str, pd.DataFrame]:
    """Return every resource of a package already known to be valid, typed by its schema."""
    return {
        r["name"]: read_typed_table(Path(data_dir) / r["path"], r["schema"]["fields"])
        for r in package["resources"]
    }


#: Every (package directory, file) read from any Study in this process: what a chapter
#: depended on, for the data-aware execution cache (:func:`compendium.presentation.provenance.kernel_inputs`).
READ_IN_PROCESS: set[tuple[str, str]] = set()


@dataclass
class Study:
    """A validated data package: each resource is an attribute holding a DataFrame.

    ``study.descriptor`` is the study descriptor; ``study.stages`` is a table made from it.
    The study remembers which files were read, so that a chapter can say under each table or
    figure which data files it came from (see :mod:`compendium.presentation.provenance`).
    """

    data_dir: Path
    descriptor: Descriptor
    tables: dict[str, pd.DataFrame] = field(repr=False)
    read: set[str] = field(default_factory=set, repr=False)
    digests: dict[str, str] = field(default_factory=dict, repr=False)
    #: Whether reads count as this process's inputs (False for the validator's own look).
    tracked: bool = field(default=True, repr=False)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            self.note_read(f"{name}.csv")
            return tables[name]
        if name == "stages" and "descriptor" in self.__dict__:
            self.note_read(DESCRIPTOR_FILE)
            return stage_table(self.__dict__["descriptor"])
        if name.startswith("_") or "tables" not in self.__dict__:
            raise AttributeError(name)
        from compendium.contract.schema import module_of

        module = module_of(name)
        if module is not None:
            raise AttributeError(
                f"the data package has no {name}.csv: it belongs to the optional "
                f"{module.label.lower()} module, which this package does not include"
            )
        raise AttributeError(f"the data package has no resource {name!r}")

    def note_read(self, filename: str) -> None:
        """Record that ``filename`` of the package was read."""
        self.__dict__["read"].add(filename)
        if self.__dict__.get("tracked", True):
            READ_IN_PROCESS.add((str(Path(self.__dict__["data_dir"]).resolve()), filename))

    def has(self, *resources: str) -> bool:
        """Return whether the package holds every one of ``resources``."""
        return all(r in self.tables for r in resources)

    @property
    def synthetic(self) -> bool:
        """True when the package says it was generated (``x-synthetic`` in datapackage.json)."""
        return bool(self.__dict__.get("metadata", {}).get("x-synthetic"))

    def file_digest(self, filename: str) -> str:
        """Return the SHA-256 of one package file: as hashed at load, else hashed once now."""
        if filename not in self.digests:
            self.digests[filename] = file_sha256(self.data_dir / filename)
        return self.digests[filename]

    def take_read(self) -> set[str]:
        """Return the files read since the last call, and start a new record."""
        taken, self.read = self.read, set()
        return taken


def stage_table(descriptor: Descriptor) -> pd.DataFrame:
    """Return the study's stages as a table: id, position, name, phase, methods, chapter."""
    import pandas as pd

    framework = descriptor.framework
    return pd.DataFrame(
        {
            "stage_id": [s.id for s in descriptor.stages],
            "position": [s.position for s in descriptor.stages],
            "name": [s.name for s in descriptor.stages],
            "phase": [s.phase for s in descriptor.stages],
            "phase_label": [framework.phase_label(s.phase) for s in descriptor.stages],
            "methods": [
                ", ".join(descriptor.method(m).label for m in s.methods) for s in descriptor.stages
            ],
            "summary": [s.summary for s in descriptor.stages],
            "chapter": [s.chapter for s in descriptor.stages],
            "template": [s.template for s in descriptor.stages],
        }
    )


def load_study(data_dir: Path | None = None) -> Study:
    """Validate the package in ``data_dir`` (default: :func:`paths.data_dir`) and load it.

    A package whose fingerprint already passed validation is not validated again (see the
    module docstring); any change to it is.

    Raises
    ------
    compendium.contract.problems.InvalidPackage
        When any problem is found; its message lists each as ``file:line: column: problem``.
    """
    from compendium.contract.problems import InvalidPackage

    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    # Hashed once: the digests both key the validation cache and label provenance lines.
    digests = file_digests(data_dir)
    fingerprint = package_fingerprint(data_dir, digests)
    if is_known_valid(fingerprint):
        descriptor = read_descriptor(data_dir)
        package = read_package_json(data_dir)
        tables = read_typed_tables(data_dir, package)
    else:
        from compendium.contract.validation import package_problems

        problems, frames = package_problems(data_dir)
        if problems:
            raise InvalidPackage(problems)
        # The text frames go before the typed tables are read: one copy at a time.
        del frames
        descriptor = read_descriptor(data_dir)
        package = read_package_json(data_dir)
        tables = read_typed_tables(data_dir, package)
        remember_valid(fingerprint)
    study = Study(data_dir, descriptor, tables, digests=digests)
    study.__dict__["metadata"] = {k: v for k, v in package.items() if k != "resources"}
    return study
