"""Validate a data package against the contract its study declares.

Checks run in three layers, and a layer runs only when the one before it passed, so one
broken file gives one clear message rather than a cascade:

1. **Files.** ``study.yaml`` is a valid descriptor (:mod:`compendium.contract.descriptor`);
   ``datapackage.json`` lists only resources the contract knows, each module complete, each
   Table Schema the one the study's declarations imply (:mod:`compendium.contract.schema`); no
   stray CSV, no symbolic link, every header as its schema says.
2. **Values.** Every cell against its field: type, required, allowed values, pattern, range;
   then primary and foreign keys. This layer is vectorised with pandas (a million segments
   take seconds, not minutes) and strict where Python is lenient, so that ``5_000``, ``٥`` or a
   twenty-digit integer is refused here rather than crashing a chapter later.
3. **Across tables.** Sample sizes against participants, group sizes, codes against their
   analysis, segments against their sources, the trace (every decision backed by a finding,
   every finding acted on or set aside with a reason), survey answers against their scale,
   the codes a stage breaks down, and every published figure's expression.

Every problem names the file, the line in it (the header is line 1, and a quoted newline
counts) and the column: ``data/participants.csv:12: column 'age_band': '99+' is not one of
18-24, 25-34, ...``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from compendium.contract.descriptor import DESCRIPTOR_FILE, Descriptor, check_descriptor
from compendium.contract.problems import InvalidPackage, Problem, display_path
from compendium.contract.schema import (
    PACKAGE_FILE,
    known_resources,
    module_of,
    modules,
    modules_present,
    package_descriptor,
    package_metadata,
)

__all__ = ["InvalidPackage", "Problem", "validate_package", "package_problems"]

#: Problems of one kind (file, column, check) listed before the rest are counted in one line.
PER_CHECK = 20
#: Greatest depth of nesting read from datapackage.json (a deeper file is refused, not recursed).
MAX_JSON_DEPTH = 64
INTEGER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
INT64_DIGITS = 18  # |n| < 10^18 always fits in a 64-bit integer


def validate_package(data_dir: Path) -> list[Problem]:
    """Return every problem found in the package at ``data_dir``; empty when it is valid."""
    problems, _ = package_problems(data_dir)
    return problems


def package_problems(data_dir: Path) -> tuple[list[Problem], dict[str, pd.DataFrame] | None]:
    """Return the package's problems and, when it is valid, its tables as text frames.

    The frames hold every cell as a string (empty for a missing value); loading
    (:mod:`compendium.contract.loading`) casts them to their declared types.
    """
    data_dir = Path(data_dir)
    files = _FileLayer(data_dir)
    problems = files.run()
    if problems:
        return sorted(problems), None
    values = _ValueLayer(data_dir, files.descriptor, files.package)
    problems = values.run()
    if problems:
        return sorted(problems), None
    problems = cross_table_problems(
        data_dir, files.descriptor, values.frames, files.package, values.rows
    )
    return sorted(problems), (None if problems else values.frames)


# --------------------------------------------------------------------------- layer 1: files


def _depth(text: str) -> int:
    """Return how deeply brackets nest in JSON text (strings are skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


#: Bytes read at a time when a whole file is scanned, so a large file never sits whole in memory.
CHUNK = 1 << 23


def _chunks(path: Path):
    """Yield a file's bytes in chunks of :data:`CHUNK`."""
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(CHUNK), b"")


def undecodable_byte(path: Path) -> tuple[int, int] | None:
    """Return the line and value of the first byte that is not UTF-8 text, or None.

    Decoded incrementally, chunk by chunk: a decoded copy of a file of a million rows would
    cost hundreds of megabytes at the validator's peak. A leading byte-order mark is allowed.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    with open(path, "rb") as handle:
        if handle.read(3) != codecs.BOM_UTF8:
            handle.seek(0)
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes the decoder held back (part of one character, so no
                # newline) followed by this chunk.
                in_chunk = exc.start - (len(exc.object) - len(chunk))
                return newlines + chunk[: max(in_chunk, 0)].count(b"\n") + 1, exc.object[exc.start]
            newlines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # the file ends inside a character
        return newlines + 1, exc.object[exc.start]
    return None


def is_blank(path: Path) -> bool:
    """Return whether a UTF-8 file holds nothing but white space (read until it doesn't)."""
    with open(path, encoding="utf-8-sig") as handle:
        return all(not part.strip() for part in iter(lambda: handle.read(CHUNK), ""))


def first_record_text(path: Path) -> str:
    """Return the start of a UTF-8 file: enough lines to hold its first CSV record."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        text = ""
        for line in handle:
            text += line
            # A header quoting a newline spans lines; one complete record is all we need.
            if text.count('"') % 2 == 0:
                break
        return text


def read_header(text: str) -> list[str]:
    """Return the first record of CSV text: the column names as written."""
    return next(csv.reader(io.StringIO(text)), [])


def _schema_difference(mine: dict, expected: dict) -> str:
    """Return, in words, the first way a resource's Table Schema differs from the expected one."""
    ours = [f.get("name") for f in mine.get("fields", []) if isinstance(f, dict)]
    theirs = [f["name"] for f in expected["fields"]]
    if ours != theirs:
        missing = [n for n in theirs if n not in ours]
        extra = [n for n in ours if n not in theirs]
        if missing:
            return f"it lacks the field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        if extra:
            return f"it has the undeclared field{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
        return f"its fields are out of order; expected {', '.join(theirs)}"
    for field, want in zip(mine["fields"], expected["fields"], strict=True):
        if field != want:
            return f"field '{want['name']}' differs"
    return "its keys differ"


class _FileLayer:
    def __init__(self, data_dir: Path):
        self.dir = data_dir
        self.problems: list[Problem] = []
        self.descriptor: Descriptor | None = None
        self.package: dict | None = None

    def add(self, path: Path, message: str, line=None, field=None, position=None) -> None:
        self.problems.append(Problem(display_path(path), line, field, message, position))

    def run(self) -> list[Problem]:
        if Path(os.path.abspath(self.dir)).is_symlink():
            # Its files would be read from wherever the link points, a place no check of the
            # package's own folder covers.
            self.add(self.dir, "is a symbolic link; give the package folder itself")
            return self.problems
        if not self.dir.is_dir():
            self.add(
                self.dir,
                "is not a folder; expected a data package (study.yaml, datapackage.json, CSV files)",
            )
            return self.problems
        problems, self.descriptor = check_descriptor(self.dir / DESCRIPTOR_FILE)
        if problems:
            return problems
        self.package = self.read_package()
        if self.package is None:
            return self.problems
        resources = {r["name"] for r in self.package["resources"]}
        self.check_resources(resources)
        self.check_folder(resources)
        if not self.problems:
            for name in sorted(resources):
                self.check_header(name)
        return self.problems

    def read_package(self) -> dict | None:
        path = self.dir / PACKAGE_FILE
        if path.is_symlink():
            self.add(path, "is a symbolic link; the package must hold the file itself")
            return None
        if not path.is_file():
            self.add(
                path,
                "file is missing; expected the package descriptor (run `python -m compendium schema` on the folder)",
            )
            return None
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            self.add(path, f"is not UTF-8 text (byte {exc.start})")
            return None
        if _depth(text) > MAX_JSON_DEPTH:
            self.add(
                path, f"nests more than {MAX_JSON_DEPTH} levels deep; expected a package descriptor"
            )
            return None
        try:
            package = json.loads(text)
        except json.JSONDecodeError as exc:
            self.add(path, f"is not valid JSON: {exc.msg}", exc.lineno, None, exc.colno)
            return None
        if not isinstance(package, dict):
            self.add(
                path,
                f"expected a JSON object with a 'resources' list, got {type(package).__name__}",
                1,
                None,
                1,
            )
            return None
        resources = package.get("resources")
        if not isinstance(resources, list) or not resources:
            self.add(path, "expected a non-empty 'resources' list", None, "resources")
            return None
        for i, resource in enumerate(resources):
            if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
                self.add(
                    path, "expected an object with a 'name' and a 'path'", None, f"resources[{i}]"
                )
        return None if self.problems else package

    def check_resources(self, resources: set[str]) -> None:
        path = self.dir / PACKAGE_FILE
        known = known_resources()
        for name in sorted(resources - set(known)):
            self.add(
                path,
                f"unknown resource {name!r}; the contract knows {', '.join(known)}",
                None,
                "resources",
            )
        names = [r["name"] for r in self.package["resources"]]
        for name in sorted(n for n, count in Counter(names).items() if count > 1):
            self.add(path, f"resource {name!r} is listed twice", None, "resources")
        if self.problems:
            return
        present = modules_present(resources)
        for module in modules():
            if module.name not in present:
                continue
            missing = [r for r in module.resources if r not in resources]
            if missing:
                what = "the core" if module.name == "core" else f"the {module.label.lower()} module"
                self.add(
                    path,
                    f"{what} needs {', '.join(f'{r}.csv' for r in missing)} too",
                    None,
                    "resources",
                )
            if module.descriptor and not getattr(self.descriptor, module.descriptor):
                self.add(
                    self.dir / DESCRIPTOR_FILE,
                    f"the {module.label.lower()} module ({', '.join(module.resources)}) needs "
                    f"`{module.descriptor}` declared here",
                )
        if self.problems:
            return
        expected = package_descriptor(self.descriptor, resources, package_metadata(self.package))
        by_name = {r["name"]: r for r in expected["resources"]}
        for resource in self.package["resources"]:
            want = by_name[resource["name"]]
            if resource.get("path") != want["path"]:
                self.add(
                    path,
                    f"resource {resource['name']!r} must have path {want['path']!r}, not {resource.get('path')!r}",
                    None,
                    "resources",
                )
            elif resource.get("schema") != want["schema"]:
                self.add(
                    path,
                    f"resource {resource['name']!r} differs from what {DESCRIPTOR_FILE} declares "
                    f"({_schema_difference(resource.get('schema') or {}, want['schema'])}); "
                    "run `python -m compendium schema` on the folder to rewrite it",
                    None,
                    "resources",
                )

    def check_folder(self, resources: set[str]) -> None:
        for item in sorted(self.dir.iterdir()):
            if item.name.startswith("."):
                continue
            if item.suffix == ".csv" and item.stem not in resources:
                self.add(item, f"is not a resource of {PACKAGE_FILE}; remove it or list it there")
            elif item.is_symlink():
                self.add(item, "is a symbolic link; the package must hold its files itself")

    def check_header(self, name: str) -> None:
        path = self.dir / f"{name}.csv"
        expected = [f["name"] for f in self.expected_fields(name)]
        if path.is_symlink():
            return  # reported by check_folder
        if path.is_dir():
            self.add(path, "is a folder; expected a CSV file")
            return
        if not path.is_file():
            self.add(path, f"file is missing; expected columns {', '.join(expected)}")
            return
        bad = undecodable_byte(path)
        if bad is not None:
            line, byte = bad
            self.add(path, f"is not UTF-8: byte 0x{byte:02x} cannot be decoded", line)
            return
        if is_blank(path):
            self.add(path, f"file is empty; expected a header row: {', '.join(expected)}")
            return
        header = read_header(first_record_text(path))
        padded = [h for h in header if h != h.strip()]
        for h in padded:
            self.add(path, f"column name {h!r} has spaces around it; expected {h.strip()!r}", 1)
        header = [h.strip() for h in header]
        # Counted once: header.count() per column was quadratic (100,000 columns: 18 minutes).
        doubled = sorted(h for h, n in Counter(header).items() if n > 1)
        for h in doubled:
            self.add(path, "appears twice in the header", 1, h)
        missing = [h for h in expected if h not in header]
        for h in missing:
            self.add(path, "missing column; expected columns " + ", ".join(expected), 1, h)
        extra = [h for h in header if h not in expected]
        if extra:
            shown = ", ".join(repr(h) for h in extra[:5])
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            self.add(
                path,
                f"unexpected column{'s' if len(extra) > 1 else ''} {shown}{more}; expected columns {', '.join(expected)}",
                1,
            )
        if not (padded or doubled or missing or extra) and header != expected:
            self.add(path, "columns are out of order; expected " + ", ".join(expected), 1)

    def expected_fields(self, name: str) -> list[dict]:
        return next(r for r in self.package["resources"] if r["name"] == name)["schema"]["fields"]


# --------------------------------------------------------------------------- layer 2: values


def record_lines(text: str) -> np.ndarray:
    """Return the file line on which each data record of CSV text starts (header is line 1)."""
    starts = []
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    line = reader.line_num + 1
    for _ in reader:
        starts.append(line)
        line = reader.line_num + 1
    return np.asarray(starts, dtype=np.int64)


#: Rows pandas' reader takes at a time when Arrow's refuses a file (see :func:`read_text_frame`).
READ_ROWS = 1 << 17
#: pandas' string dtype, ``str``: Arrow-backed, as pyarrow is installed.
STR = pd.api.types.pandas_dtype("str")


def return_memory_promptly() -> None:
    """Have Arrow give the memory it frees back to the system at once, for the rest of the process.

    Arrow's default allocator (mimalloc) keeps freed pages for reuse, so each hash table the
    checks build and drop stays in the process: at 10^6 segments the validator's peak was
    some 150 MB above what it held at any time. jemalloc without decay returns them, at a
    cost too small to measure here. The command line calls this; a library leaves the
    process's allocator alone.
    """
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
        pass


def read_arrow_table(path: Path, types: dict, nulls: bool):
    """Return a CSV file read by Arrow's CSV reader, or None when it refuses the file.

    Arrow keeps each column's text in one buffer rather than a Python object per cell: at
    10^6 segments the tables take a fraction of the memory, and parsing is several times
    faster than pandas' reader. It refuses what it cannot read as the header says (a row of
    another width, a line of blanks, a repeated column name): callers then take pandas' path,
    whose verdict and messages are the contract's.

    Parameters
    ----------
    path
        The CSV file (UTF-8, a leading byte-order mark allowed).
    types
        The Arrow type of each column, by its name in the header as written.
    nulls
        Whether an empty cell is a missing value (typed reading) or the empty string (text).
    """
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    header = read_header(first_record_text(path))
    if len(set(header)) != len(header) or set(header) != set(types):
        return None
    try:
        return arrow_csv.read_csv(
            path,
            # One thread: the machines this runs on share few cores, and threads add memory.
            read_options=arrow_csv.ReadOptions(use_threads=False),
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                column_types=types,
                null_values=[""] if nulls else [],
                strings_can_be_null=nulls,
                quoted_strings_can_be_null=nulls,
                true_values=["true"],
                false_values=["false"],
            ),
        )
    except pa.ArrowInvalid:
        return None


def read_text_frame(path: Path) -> pd.DataFrame:
    """Return a CSV file as a frame of strings, empty cells as ``""`` (no type guessing).

    Read by Arrow (:func:`read_arrow_table`); a file Arrow refuses is read by pandas, chunk by
    chunk, so that a short row, a long row or a line of blanks meets the same verdict as ever.

    Raises
    ------
    pandas.errors.ParserError
        When a row has more or fewer fields than the header.
    """
    import pyarrow as pa

    header = read_header(first_record_text(path))
    # Large strings (64-bit offsets) are what pandas keeps: read as such, nothing is copied.
    table = read_arrow_table(path, dict.fromkeys(header, pa.large_string()), nulls=False)
    if table is not None:
        frame = table.to_pandas(types_mapper={pa.large_string(): STR}.get)
        return frame.rename(columns=str.strip)
    import warnings

    with warnings.catch_warnings():
        # A row longer than the header is an error, not a row with an index or a cut row.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            reader = pd.read_csv(
                path,
                dtype=object,
                keep_default_na=False,
                na_filter=False,
                encoding="utf-8-sig",
                index_col=False,
                chunksize=READ_ROWS,
            )
            with reader:
                # Each chunk's cells become Arrow-backed strings before the next is read, so
                # the peak holds one chunk of Python strings, not the table's.
                parts: dict[str, list[pd.Series]] = {}
                for chunk in reader:
                    for column in chunk.columns:
                        parts.setdefault(column, []).append(chunk[column].astype(STR))
        except pd.errors.ParserWarning as warning:
            raise pd.errors.ParserError(str(warning)) from None
    frame = pd.DataFrame(
        {column: pd.concat(chunks, ignore_index=True) for column, chunks in parts.items()}
    )
    if not _rows_as_wide_as_header(path, len(frame.columns)):
        raise pd.errors.ParserError("a row has fewer fields than the header")
    return frame.rename(columns=str.strip)


def _rows_as_wide_as_header(path: Path, width: int) -> bool:
    """Return whether no record has fewer fields than the header (pandas pads short rows).

    Without quotes in the file, every line must hold ``width - 1`` commas, counted with numpy
    chunk by chunk (a cumulative count over every byte of a large file measured over 500 MB);
    with quotes, the records are read with the csv module.
    """
    if any(b'"' in chunk for chunk in _chunks(path)):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return all(len(record) >= width for record in csv.reader(handle) if record)
    commas_before_end, ends = [], []
    offset = commas = 0
    for chunk in _chunks(path):
        data = np.frombuffer(chunk, dtype=np.uint8)
        newlines = np.flatnonzero(data == ord("\n"))
        comma_at = np.flatnonzero(data == ord(","))
        commas_before_end.append(commas + np.searchsorted(comma_at, newlines))
        ends.append(offset + newlines)
        offset += len(data)
        commas += len(comma_at)
        last = data[-1]
    if offset and last != ord("\n"):  # a last line without a newline ends at the file's end
        commas_before_end.append(np.array([commas]))
        ends.append(np.array([offset]))
    ends = np.concatenate(ends) if ends else np.empty(0, np.int64)
    counted = np.concatenate(commas_before_end) if commas_before_end else np.empty(0, np.int64)
    per_line = np.diff(np.concatenate(([0], counted)))
    lengths = np.diff(np.concatenate(([-1], ends)))
    non_empty = lengths > 1
    return bool((per_line[non_empty] >= width - 1).all())


def ragged_row(path: Path) -> Problem:
    """Return the problem of the first record whose number of fields differs from the header's."""
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    width = len(next(reader))
    start = reader.line_num + 1
    for record in reader:
        if len(record) != width:
            return Problem(
                display_path(path),
                start,
                None,
                f"has {len(record)} field{'s' if len(record) != 1 else ''} where the header has "
                f"{width}; quote any cell that holds a comma",
            )
        start = reader.line_num + 1
    return Problem(display_path(path), None, None, "cannot be read as CSV")


def key_rows(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """Return the row of ``keys`` (all distinct) holding each of ``values``; -1 where none does.

    What ``pd.Index(keys).get_indexer(values)`` gives, found by Arrow without a Python object
    per id (an Index makes one of every key first, some 100 MB at 10^6 segments). Keys in
    strictly ascending order, as generated ids usually are, are binary-searched
    (``search_sorted``), which needs no hash table; any others are looked up in one
    (``index_in``). A missing value matches nothing.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    haystack, needles = _arrow(keys), _arrow(values)
    ascending = haystack.null_count == 0 and len(haystack) > 1
    if ascending and pc.all(pc.less(haystack[:-1], haystack[1:])).as_py():
        found = pc.search_sorted(haystack, needles).fill_null(0).to_numpy().astype(np.int64)
        found = np.minimum(found, len(haystack) - 1)
        # Where a value would go, the key there is it, or the value is no key at all.
        hit = pc.equal(haystack.take(pa.array(found)), needles).fill_null(False).to_numpy()
        return np.where(hit, found, -1).astype(np.int32)
    found = pc.index_in(needles, value_set=haystack)
    # 32 bits: layer 2 keeps these for every foreign key, and no table has 2^31 rows.
    return found.fill_null(-1).to_numpy().astype(np.int32, copy=False)


def at_rows(values: np.ndarray, rows: np.ndarray, missing) -> np.ndarray:
    """Return ``values[rows]``, ``missing`` where a row is -1 (what :func:`key_rows` gives for none)."""
    if not len(values):
        return np.full(len(rows), missing)
    return np.where(rows >= 0, values[rows], missing)


def _arrow(values: pd.Series):
    """Return a column as an Arrow chunked array: its own chunks when Arrow holds it (no copy)."""
    import pyarrow as pa

    if values.dtype == STR:  # Arrow's protocol: the extension array's own chunked array
        return values.array.__arrow_array__()
    return pa.chunked_array([pa.array(values, from_pandas=True)])


def duplicated_rows(
    frame: pd.DataFrame, key: list[str], codes: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Return which rows repeat an earlier row's ``key`` (``DataFrame.duplicated``, faster).

    Each column becomes integer codes (``codes[column]`` when given: for a foreign key, the
    rows it points at; else factorised, by Arrow for its strings), the columns' codes are
    combined and ranked by one stable sort, and in each run of equal keys every row after
    the first is a repeat. Sorting integers holds a few arrays of them; hashing a million
    composite keys held several times more.
    """
    codes = codes or {}
    if len(key) == 1 and key[0] not in codes and frame[key[0]].is_unique:
        return np.zeros(len(frame), dtype=bool)  # a key as it should be, found by Arrow
    combined = np.zeros(len(frame), dtype=np.int64)
    for column in key:
        own = codes[column] if column in codes else pd.factorize(frame[column])[0]
        # + 1: a missing value (-1) is one more value, as duplicated() counts it.
        combined = combined * (int(own.max(initial=-1)) + 2) + own + 1
        order = np.argsort(combined, kind="stable")
        ordered = combined[order]
        first = np.ones(len(ordered), dtype=bool)
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        del ordered
        # Dense ranks keep the next product small.
        combined[order] = np.cumsum(first, dtype=np.int64) - 1
    doubled = np.empty(len(frame), dtype=bool)
    if len(frame):
        doubled[order] = ~first  # stable: a run's first row is the earliest one
    return doubled


class _ValueLayer:
    def __init__(self, data_dir: Path, descriptor: Descriptor, package: dict):
        self.dir = data_dir
        self.descriptor = descriptor
        self.resources = {r["name"]: r for r in package["resources"]}
        self.frames: dict[str, pd.DataFrame] = {}
        self.lines: dict[str, np.ndarray] = {}
        self.problems: list[Problem] = []
        #: Rows each foreign key's values point at, by (table, key, table, column): see
        #: :meth:`_CrossTable.rows_of`, which reuses them.
        self.rows: dict[tuple, np.ndarray] = {}
        #: Whether a column's values are distinct, by (table, column).
        self.distinct: dict[tuple[str, str], bool] = {}

    def run(self) -> list[Problem]:
        for name in self.resources:
            path = self.dir / f"{name}.csv"
            try:
                self.frames[name] = read_text_frame(path)
            except pd.errors.ParserError:
                self.problems.append(ragged_row(path))
        if self.problems:
            return self.problems
        for name, resource in self.resources.items():
            self.check_fields(name, resource["schema"]["fields"])
        if self.problems:
            return self.problems
        # Foreign keys first: they let a table share its targets' strings (see check_keys).
        for name, resource in self.resources.items():
            self.check_keys(name, resource["schema"], foreign=True)
        for name, resource in self.resources.items():
            self.check_keys(name, resource["schema"], foreign=False)
        return self.problems

    def is_unique(self, name: str, column: str) -> bool:
        """Return whether a column's values are all distinct (found once: a hash of them all)."""
        if (name, column) not in self.distinct:
            import pyarrow.compute as pc

            # Counted, not listed: Series.is_unique copies every distinct value out first.
            values = self.frames[name][column]
            distinct = pc.count_distinct(_arrow(values), mode="all").as_py()
            self.distinct[(name, column)] = distinct == len(values)
        return self.distinct[(name, column)]

    def line_of(self, name: str, rows: np.ndarray) -> np.ndarray:
        if name not in self.lines:
            text = (self.dir / f"{name}.csv").read_text(encoding="utf-8-sig")
            simple = text.count("\n") - (not text.endswith("\n")) == len(self.frames[name])
            self.lines[name] = (
                np.arange(len(self.frames[name]), dtype=np.int64) + 2
                if simple and '"' not in text
                else record_lines(text)
            )
        return self.lines[name][rows]

    def report(self, name: str, column: str | None, bad: pd.Series, message) -> None:
        """Add one problem per row flagged in ``bad`` (capped), ``message(value)`` saying what."""
        rows = np.flatnonzero(bad.to_numpy())
        if not len(rows):
            return
        path = display_path(self.dir / f"{name}.csv")
        shown = rows[:PER_CHECK]
        values = self.frames[name][column].iloc[shown].tolist() if column else [None] * len(shown)
        for line, value in zip(self.line_of(name, shown), values, strict=True):
            self.problems.append(Problem(path, int(line), column, message(value)))
        if len(rows) > PER_CHECK:
            first = int(self.line_of(name, rows[PER_CHECK : PER_CHECK + 1])[0])
            self.problems.append(
                Problem(
                    path,
                    first,
                    column,
                    f"... and {len(rows) - PER_CHECK} more rows with the same problem",
                )
            )

    def check_fields(self, name: str, fields: list[dict]) -> None:
        frame = self.frames[name]
        for field in fields:
            column, kind = field["name"], field["type"]
            values = frame[column]
            constraints = field.get("constraints", {})
            empty = values == ""
            if constraints.get("required"):
                self.report(
                    name, column, empty, lambda _: "a value is required but the cell is empty"
                )
            given = ~empty
            if kind == "integer":
                valid = values.str.fullmatch(INTEGER.pattern) & (
                    values.str.lstrip("-").str.len() <= INT64_DIGITS
                )
            elif kind == "number":
                valid = values.str.fullmatch(NUMBER.pattern)
            elif kind == "boolean":
                valid = values.isin(["true", "false"])
            else:
                valid = pd.Series(True, index=values.index)
            wrong_type = given & ~valid
            self.report(name, column, wrong_type, lambda v, k=kind: f"{v!r} is not a valid {k}")
            ok = given & valid
            if "enum" in constraints:
                allowed = constraints["enum"]
                listing = ", ".join(map(str, allowed)) if allowed else "(none declared)"
                self.report(
                    name,
                    column,
                    ok & ~values.isin(allowed),
                    lambda v, a=listing: f"{v!r} is not one of {a}",
                )
            if "pattern" in constraints:
                pattern = constraints["pattern"]
                self.report(
                    name,
                    column,
                    ok & ~values.str.fullmatch(pattern),
                    lambda v: f"{v!r} is not a valid id: use letters, digits, '.', '_' and '-'",
                )
            if kind in ("integer", "number") and (
                "minimum" in constraints or "maximum" in constraints
            ):
                numbers = pd.to_numeric(values.where(ok), errors="coerce")
                if "minimum" in constraints:
                    low = constraints["minimum"]
                    self.report(
                        name,
                        column,
                        ok & (numbers < low),
                        lambda v, m=low: f"{v!r} is below the minimum {m:g}",
                    )
                if "maximum" in constraints:
                    high = constraints["maximum"]
                    self.report(
                        name,
                        column,
                        ok & (numbers > high),
                        lambda v, m=high: f"{v!r} is above the maximum {m:g}",
                    )

    def check_keys(self, name: str, schema: dict, foreign: bool) -> None:
        """Check a table's foreign keys (``foreign``), or else its primary key."""
        frame = self.frames[name]
        if foreign:
            self.check_foreign_keys(name, schema)
            return
        key = schema["primaryKey"]
        if len(key) == 1 and self.is_unique(name, key[0]):
            return
        # A key column that is a foreign key pointing at every row's target has its codes
        # already: the target rows (see check_foreign_keys).
        codes = {
            column: rows
            for (_, _, source, column), rows in self.rows.items()
            if source == name and column in key and len(rows) and rows.min() >= 0
        }
        doubled = pd.Series(duplicated_rows(frame, key, codes), index=frame.index)
        if doubled.any():
            first_line = dict(
                zip(
                    map(tuple, frame.loc[~doubled, key].to_numpy()),
                    self.line_of(name, np.flatnonzero(~doubled.to_numpy())),
                    strict=True,
                )
            )
            values = frame[key].to_numpy()
            rows = np.flatnonzero(doubled.to_numpy())
            path = display_path(self.dir / f"{name}.csv")
            for row, line in zip(
                rows[:PER_CHECK], self.line_of(name, rows[:PER_CHECK]), strict=True
            ):
                shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, values[row], strict=True))
                self.problems.append(
                    Problem(
                        path,
                        int(line),
                        key[0],
                        f"duplicate key ({shown}); first on line {first_line[tuple(values[row])]}",
                    )
                )
            if len(rows) > PER_CHECK:
                self.problems.append(
                    Problem(
                        path, None, key[0], f"... and {len(rows) - PER_CHECK} more duplicate keys"
                    )
                )

    def check_foreign_keys(self, name: str, schema: dict) -> None:
        frame = self.frames[name]
        for fk in schema.get("foreignKeys", []):
            target = fk["reference"]["resource"] or name
            column, target_column = fk["fields"], fk["reference"]["fields"]
            values = frame[column]
            known = self.frames[target][target_column]
            if self.is_unique(target, target_column):  # as a primary key is, unless reported
                rows = key_rows(known, values)
                self.rows[(target, target_column, name, column)] = rows
                dangling = (values != "") & (rows < 0)
            else:
                dangling = (values != "") & ~values.isin(known)
            self.report(
                name,
                column,
                dangling,
                lambda v, t=target, c=target_column: f"{v!r} does not match any {c} in {t}.csv",
            )


# --------------------------------------------------------------------------- layer 3: tables


def unsupported_decisions(decisions: pd.DataFrame, trace: pd.DataFrame) -> list[str]:
    """Return the ids of decisions that no finding in ``trace`` supports."""
    supported = set(trace["decision_id"])
    return [d for d in decisions["decision_id"] if d not in supported]


def unaccounted_findings(findings: pd.DataFrame, trace: pd.DataFrame) -> list[str]:
    """Return the ids of findings that are neither acted on nor set aside with a reason.

    A finding is accounted for when it informs at least one decision in ``trace`` and is
    marked ``acted_on``, or when it informs none, is marked not acted on, and gives a
    ``reason``.
    """
    linked = set(trace["finding_id"])
    bad = []
    for f in findings.itertuples():
        acted = _flag(f.acted_on)
        in_trace = f.finding_id in linked
        has_reason = isinstance(f.reason, str) and f.reason.strip() != ""
        if not ((acted and in_trace) or (not acted and not in_trace and has_reason)):
            bad.append(f.finding_id)
    return bad


def findings_without_evidence(findings: pd.DataFrame, finding_evidence: pd.DataFrame) -> list[str]:
    """Return the ids of findings that cite no evidence (code, quote, concept or figure)."""
    cited = set(finding_evidence["finding_id"])
    return [f for f in findings["finding_id"] if f not in cited]


def _flag(value: object) -> bool:
    """Return a boolean cell as a bool, from the text a file holds or a typed frame's value."""
    return str(value).strip().lower() == "true"


#: The table (and key) each kind of finding evidence names, and the module that holds it.
EVIDENCE_TABLES = {
    "code": ("codes", "code_id"),
    "quote": ("quotes", "quote_id"),
    "concept": ("concepts", "concept_id"),
    "figure": ("published_figures", "figure_id"),
}


def cross_table_problems(
    data_dir: Path,
    descriptor: Descriptor,
    tables: dict[str, pd.DataFrame],
    package: dict,
    rows: dict[tuple, np.ndarray] | None = None,
) -> list[Problem]:
    """Return the problems that only show when tables (and the descriptor) are read together.

    ``tables`` are the package's text frames (layer 2 passed); ``package`` its descriptor;
    ``rows`` the rows layer 2 found each foreign key pointing at, if it kept them.
    """
    checker = _CrossTable(Path(data_dir), descriptor, tables, package, rows)
    for check in checker.checks():
        check()
    return checker.problems


class _CrossTable:
    def __init__(
        self,
        data_dir: Path,
        descriptor: Descriptor,
        tables: dict[str, pd.DataFrame],
        package: dict,
        rows: dict[tuple, np.ndarray] | None = None,
    ):
        self.dir = data_dir
        self.d = descriptor
        self.t = tables
        self.package = package
        self.problems: list[Problem] = []
        self.lines: dict[str, np.ndarray] = {}
        self.rows = dict(rows or {})

    def has(self, *names: str) -> bool:
        return all(n in self.t for n in names)

    def checks(self) -> Iterable:
        yield from (self.activities, self.participants, self.codes, self.segments, self.breakdowns)
        if self.has("focus_groups"):
            yield self.group_sizes
        if self.has("quotes"):
            yield self.quotes
        if self.has("findings"):
            yield from (self.findings, self.decisions, self.evidence)
        if self.has("survey_items"):
            yield self.survey
        if self.has("double_codings"):
            yield self.double_codings
        if self.has("published_figures"):
            yield self.expressions

    def add(self, table: str, index: int | None, column: str | None, message: str) -> None:
        if index is None:
            line = None
        else:
            if table not in self.lines:
                text = (self.dir / f"{table}.csv").read_text(encoding="utf-8-sig")
                self.lines[table] = record_lines(text)
            line = int(self.lines[table][index])
        self.problems.append(
            Problem(display_path(self.dir / f"{table}.csv"), line, column, message)
        )

    def add_descriptor(self, message: str) -> None:
        self.problems.append(Problem(display_path(self.dir / DESCRIPTOR_FILE), None, None, message))

    # core ------------------------------------------------------------------

    def activities(self) -> None:
        stages = {s.id: s for s in self.d.stages}
        people, took_part = self.t["participants"], set(self.d.took_part)
        for i, a in self.t["activities"].iterrows():
            stage = stages[a["stage_id"]]
            if a["method"] not in stage.methods:
                self.add(
                    "activities",
                    i,
                    "method",
                    f"{a['method']!r} is not a method stage {stage.id} declares in {DESCRIPTOR_FILE} ({', '.join(stage.methods)})",
                )
            if (a["reported_n"] == "") != (a["n_origin"] == ""):
                self.add(
                    "activities", i, "n_origin", "give an origin exactly when reported_n is given"
                )
            if a["reported_n"] == "":
                continue
            reported = int(a["reported_n"])
            own = people[people["activity_id"] == a["activity_id"]]
            if a["unit"] == "groups":
                if not self.has("focus_groups"):
                    self.add(
                        "activities",
                        i,
                        "unit",
                        "counts groups, but the package has no focus_groups.csv",
                    )
                    continue
                got, what = (
                    int((self.t["focus_groups"]["activity_id"] == a["activity_id"]).sum()),
                    "groups in focus_groups.csv",
                )
            elif a["unit"] == "programmes":
                if not self.has("programmes"):
                    self.add(
                        "activities",
                        i,
                        "unit",
                        "counts programmes, but the package has no programmes.csv",
                    )
                    continue
                got, what = len(self.t["programmes"]), "programmes in programmes.csv"
            elif a["unit"] == "studies":
                continue  # studies reviewed are not records of the package
            else:
                got, what = (
                    int(own["status"].isin(took_part).sum()),
                    "participants who took part in participants.csv",
                )
            if got != reported:
                self.add(
                    "activities",
                    i,
                    "reported_n",
                    f"{a['activity_id']} reports {reported} {a['unit']} but there are {got} {what}",
                )

    def participants(self) -> None:
        people = self.t["participants"]
        for attribute in self.d.attributes:
            if attribute.roles is None:
                continue
            wrong = (people[attribute.name] != "") & ~people["role"].isin(attribute.roles)
            for i in people.index[wrong][:PER_CHECK]:
                self.add(
                    "participants",
                    i,
                    attribute.name,
                    f"{DESCRIPTOR_FILE} records {attribute.name} only for {', '.join(attribute.roles)}, not {people.at[i, 'role']}",
                )
        if not self.has("focus_groups"):
            for i in people.index[people["group_id"] != ""][:PER_CHECK]:
                self.add(
                    "participants",
                    i,
                    "group_id",
                    "names a group, but the package has no focus_groups.csv",
                )
        if self.has("attendance"):
            trial = self.t["attendance"].merge(
                people[["participant_id", "activity_id"]], on="participant_id"
            )
            arms = trial.loc[trial["arm"] != "", "activity_id"].unique()
            if len(arms) > 1:
                self.add(
                    "attendance",
                    None,
                    "arm",
                    f"arms are given for more than one activity ({', '.join(sorted(arms))}); a package holds one trial",
                )

    def codes(self) -> None:
        codes = self.t["codes"]
        method = self.t["activities"].set_index("activity_id")["method"]
        kinds = {m.id: m.kind for m in self.d.methods}
        activity = dict(zip(codes["code_id"], codes["activity_id"], strict=True))
        parent = dict(zip(codes["code_id"], codes["parent_id"], strict=True))
        for i, c in codes.iterrows():
            if kinds[method[c["activity_id"]]] == "review":
                self.add(
                    "codes",
                    i,
                    "activity_id",
                    f"{c['activity_id']} is an evidence review; only interviews, groups, think-aloud and survey answers are coded",
                )
            if c["parent_id"] and activity[c["parent_id"]] != c["activity_id"]:
                self.add(
                    "codes",
                    i,
                    "parent_id",
                    f"parent {c['parent_id']} belongs to {activity[c['parent_id']]}, not {c['activity_id']}",
                )
            seen, node = set(), c["code_id"]
            while node:
                if node in seen:
                    self.add(
                        "codes",
                        i,
                        "parent_id",
                        f"{c['code_id']} is its own ancestor (the parents form a loop)",
                    )
                    break
                seen.add(node)
                node = parent.get(node, "")

    def rows_of(self, table: str, key: str, source: str, column: str) -> np.ndarray:
        """Return the row of ``table`` whose ``key`` equals each of ``source``'s ``column``.

        -1 where none does. Looked up once (layer 2 looks up every foreign key) and
        remembered: at 10^6 segments one lookup of string ids costs about half a second.
        """
        name = (table, key, source, column)
        if name not in self.rows:
            self.rows[name] = key_rows(self.t[table][key], self.t[source][column])
        return self.rows[name]

    def segment_activity_rows(self) -> np.ndarray:
        """Return each segment's activity as a row of activities.csv (-1 for none).

        Its group's activity, else its speaker's; integers, as strings for 10^6 segments cost
        some 50 MB.
        """
        activity_ids = self.t["activities"]["activity_id"]
        people = self.t["participants"]
        speaker = self.rows_of("participants", "participant_id", "segments", "participant_id")
        person_activity = key_rows(activity_ids, people["activity_id"])
        rows = at_rows(person_activity, speaker, -1)
        if self.has("focus_groups"):
            groups = self.t["focus_groups"]
            group = self.rows_of("focus_groups", "group_id", "segments", "group_id")
            group_activity = key_rows(activity_ids, groups["activity_id"])
            rows = np.where(group >= 0, at_rows(group_activity, group, -1), rows)
        return rows

    def segment_activity(self) -> pd.Series:
        """Return each segment's activity: its group's, else its speaker's."""
        activity_ids = self.t["activities"]["activity_id"]
        taken = activity_ids.array.take(self.segment_activity_rows(), allow_fill=True)
        return pd.Series(taken, index=self.t["segments"].index)

    @staticmethod
    def named(ids: pd.Series, row: int) -> str:
        """Return the id at ``row`` of ``ids`` as a message shows it ("nan" for no row)."""
        return str(ids.iloc[row]) if row >= 0 else str(np.nan)

    def segments(self) -> None:
        seg = self.t["segments"]
        people = self.t["participants"]
        activities = self.t["activities"]
        speaker = self.rows_of("participants", "participant_id", "segments", "participant_id")
        group_method = {m.id: m.group_sources for m in self.d.methods}
        activity = self.segment_activity_rows()
        activity_by_group = activities["method"].map(group_method).fillna(False).to_numpy(bool)
        by_group = at_rows(activity_by_group, activity, False)
        person = (seg["participant_id"] != "").to_numpy()
        group = (seg["group_id"] != "").to_numpy()
        for i in seg.index[~person & ~group][:PER_CHECK]:
            self.add(
                "segments", i, "participant_id", "segment names neither a participant nor a group"
            )
        for i in seg.index[by_group & ~group & person][:PER_CHECK]:
            self.add("segments", i, "group_id", "a segment from a group method must name its group")
        for i in np.flatnonzero(~by_group & group)[:PER_CHECK]:
            self.add(
                "segments",
                seg.index[i],
                "group_id",
                f"{self.named(activities['activity_id'], activity[i])} is not a group method; leave group_id empty",
            )
        analysed = people["status"].isin(set(self.d.analysed)).to_numpy()
        speaker_analysed = at_rows(analysed, speaker, False)
        individual = person & ~group
        for i in np.flatnonzero(individual & ~speaker_analysed)[:PER_CHECK]:
            self.add(
                "segments",
                seg.index[i],
                "participant_id",
                f"{seg['participant_id'].iloc[i]} has status {self.named(people['status'], speaker[i])}; only analysed participants' transcripts are coded",
            )
        if self.has("focus_groups"):
            groups = self.t["focus_groups"]
            # Compared as rows of focus_groups.csv (layer 2 found every named group there).
            member_of = key_rows(groups["group_id"], people["group_id"])
            speaker_group = at_rows(member_of, speaker, -2)
            named_group = self.rows_of("focus_groups", "group_id", "segments", "group_id")
            for i in np.flatnonzero(person & group & (speaker_group != named_group))[:PER_CHECK]:
                self.add(
                    "segments",
                    seg.index[i],
                    "participant_id",
                    f"speaker {seg['participant_id'].iloc[i]} is not a member of {seg['group_id'].iloc[i]}",
                )
        codings = self.t["codings"]
        coded_segment = self.rows_of("segments", "segment_id", "codings", "segment_id")
        # Layer 2 checked every coding's segment exists, so each row counts a real segment.
        uncoded = np.bincount(coded_segment[coded_segment >= 0], minlength=len(seg)) == 0
        for i in seg.index[uncoded][:PER_CHECK]:
            self.add(
                "segments",
                i,
                "segment_id",
                f"{seg.at[i, 'segment_id']} has no coding in codings.csv",
            )
        code = self.rows_of("codes", "code_id", "codings", "code_id")
        code_activity = key_rows(activities["activity_id"], self.t["codes"]["activity_id"])
        code_activity = at_rows(code_activity, code, -1)
        source_activity = at_rows(activity, coded_segment, -1)
        ids = activities["activity_id"]
        for i in np.flatnonzero(code_activity != source_activity)[:PER_CHECK]:
            self.add(
                "codings",
                codings.index[i],
                "code_id",
                f"code {codings['code_id'].iloc[i]} belongs to {self.named(ids, code_activity[i])} but segment {codings['segment_id'].iloc[i]} comes from {self.named(ids, source_activity[i])}",
            )

    def breakdowns(self) -> None:
        codes = set(self.t["codes"]["code_id"])
        activities = set(self.t["activities"]["activity_id"])
        for stage in self.d.stages:
            for breakdown in stage.breakdowns:
                if breakdown.code not in codes:
                    self.add_descriptor(
                        f"stage {stage.id} breaks down code {breakdown.code!r}, which is not in codes.csv"
                    )
                denominator = dict(breakdown.percent_of or ())
                if denominator and denominator["activity"] not in activities:
                    self.add_descriptor(
                        f"stage {stage.id} takes percentages of activity {denominator['activity']!r}, which is not in activities.csv"
                    )

    # modules ---------------------------------------------------------------

    def group_sizes(self) -> None:
        people, groups = self.t["participants"], self.t["focus_groups"]
        members = people[people["group_id"] != ""].groupby("group_id").size()
        # Column-wise: row by row took seconds at 10^4 groups.
        got = groups["group_id"].map(members).fillna(0).astype("int64")
        size = pd.to_numeric(groups["size"]).astype("int64")
        for i in groups.index[(got != size).to_numpy()]:
            self.add(
                "focus_groups",
                i,
                "size",
                f"{groups.at[i, 'group_id']} has size {groups.at[i, 'size']} but {got[i]} participants name it",
            )
        # Compared column-wise: row by row took seconds at 10^5 participants.
        named = people[people["group_id"] != ""]
        owner = named["group_id"].map(groups.set_index("group_id")["activity_id"])
        for i in named.index[(owner != named["activity_id"]).to_numpy()]:
            self.add(
                "participants",
                i,
                "group_id",
                f"group {people.at[i, 'group_id']} belongs to {owner[i]}, not {people.at[i, 'activity_id']}",
            )

    def quotes(self) -> None:
        people = self.t["participants"].set_index("participant_id")
        codes = self.t["codes"].set_index("code_id")
        for i, q in self.t["quotes"].iterrows():
            if q["participant_id"]:
                person = people.loc[q["participant_id"]]
                if person["label"] != q["label"]:
                    self.add(
                        "quotes",
                        i,
                        "participant_id",
                        f"{q['participant_id']} is labelled {person['label']}, not {q['label'] or '(no label)'}",
                    )
                if person["activity_id"] != q["activity_id"]:
                    self.add(
                        "quotes",
                        i,
                        "participant_id",
                        f"{q['participant_id']} took part in {person['activity_id']}, not {q['activity_id']}",
                    )
            if q["code_id"] and codes.at[q["code_id"], "activity_id"] != q["activity_id"]:
                self.add(
                    "quotes",
                    i,
                    "code_id",
                    f"code {q['code_id']} does not belong to {q['activity_id']}",
                )
            if q["concept_id"] and not self.has("concepts"):
                self.add(
                    "quotes",
                    i,
                    "concept_id",
                    "names a concept, but the package has no concepts.csv (evidence review module)",
                )
            if not q["label"] and not q["label_note"]:
                self.add(
                    "quotes",
                    i,
                    "label_note",
                    "a quote without a speaker label needs a note saying why",
                )

    def findings(self) -> None:
        findings, trace = self.t["findings"], self.t["trace"]
        linked = set(trace["finding_id"])
        for fid in unaccounted_findings(findings, trace):
            i = findings.index[findings["finding_id"] == fid][0]
            acted = _flag(findings.at[i, "acted_on"])
            if acted and fid not in linked:
                self.add(
                    "findings",
                    i,
                    "acted_on",
                    f"{fid} is marked acted on but informs no decision in trace.csv",
                )
            elif not acted and fid in linked:
                self.add(
                    "findings",
                    i,
                    "acted_on",
                    f"{fid} is marked not acted on but trace.csv links it to a decision",
                )
            else:
                self.add("findings", i, "reason", f"{fid} is not acted on, so it needs a reason")
        for fid in findings_without_evidence(findings, self.t["finding_evidence"]):
            i = findings.index[findings["finding_id"] == fid][0]
            self.add(
                "findings", i, "finding_id", f"{fid} cites no evidence in finding_evidence.csv"
            )
        self.table_membership("findings", findings, ("stage_summary",))

    def table_membership(self, name: str, rows: pd.DataFrame, kinds: tuple[str, ...]) -> None:
        declared = {t.id: t.kind for t in self.d.tables}
        for i, row in rows.iterrows():
            table = row["in_table"]
            if table and declared[table] not in kinds:
                self.add(
                    name,
                    i,
                    "in_table",
                    f"{table} is a {declared[table].replace('_', ' ')} table, which holds no {name}",
                )

    def decisions(self) -> None:
        decisions = self.t["decisions"]
        level = dict(zip(decisions["decision_id"], decisions["level"], strict=True))
        unsupported = set(unsupported_decisions(decisions, self.t["trace"]))
        for i, d in decisions.iterrows():
            if d["decision_id"] in unsupported:
                self.add(
                    "decisions",
                    i,
                    "decision_id",
                    f"{d['decision_id']} has no supporting finding in trace.csv",
                )
            if d["level"] == "specification" and (
                not d["parent_id"] or level[d["parent_id"]] != "summary"
            ):
                self.add(
                    "decisions",
                    i,
                    "parent_id",
                    f"{d['decision_id']} is a specification, so it must refine a summary decision",
                )
            if d["component_id"] and not self.has("components"):
                self.add(
                    "decisions",
                    i,
                    "component_id",
                    "names a component, but the package has no components.csv (intervention module)",
                )
        summary = decisions[decisions["level"] == "summary"]
        specification = decisions[decisions["level"] == "specification"]
        self.table_membership("decisions", summary, ("stage_summary",))
        self.table_membership("decisions", specification, ("specifications",))

    def evidence(self) -> None:
        for i, e in self.t["finding_evidence"].iterrows():
            table, key = EVIDENCE_TABLES[e["evidence_type"]]
            if table not in self.t:
                module = module_of(table)
                self.add(
                    "finding_evidence",
                    i,
                    "evidence_type",
                    f"cites a {e['evidence_type']}, but the package has no {table}.csv ({module.label.lower()} module)",
                )
            elif e["evidence_id"] not in set(self.t[table][key]):
                self.add(
                    "finding_evidence",
                    i,
                    "evidence_id",
                    f"{e['evidence_id']!r} does not match any {key} in {table}.csv",
                )

    def survey(self) -> None:
        items = self.t["survey_items"]
        method = self.t["activities"].set_index("activity_id")["method"]
        kinds = {m.id: m.kind for m in self.d.methods}
        for i, item in items.iterrows():
            if kinds[method[item["activity_id"]]] != "survey":
                self.add(
                    "survey_items",
                    i,
                    "activity_id",
                    f"{item['activity_id']} is not a survey activity",
                )
        answers = self.t["survey_responses"]
        people = self.t["participants"].set_index("participant_id")["activity_id"]
        item_activity = items.set_index("item_id")["activity_id"]
        wrong = answers["participant_id"].map(people) != answers["item_id"].map(item_activity)
        for i in answers.index[wrong][:PER_CHECK]:
            self.add(
                "survey_responses",
                i,
                "item_id",
                f"{answers.at[i, 'participant_id']} did not take part in the survey that asks {answers.at[i, 'item_id']}",
            )
        scale = answers["item_id"].map(items.set_index("item_id")["scale_id"])
        values = {s.id: set(s.values) for s in self.d.scales}
        off = [
            bool(r) and r not in values[s] for r, s in zip(answers["response"], scale, strict=True)
        ]
        for i in answers.index[np.asarray(off, dtype=bool)][:PER_CHECK]:
            s = self.d.scale(scale[i])
            self.add(
                "survey_responses",
                i,
                "response",
                f"{answers.at[i, 'response']!r} is not a value of scale {s.id} ({', '.join(s.values)})",
            )

    def double_codings(self) -> None:
        second = self.t["double_codings"]
        seg = self.t["segments"].set_index("segment_id")
        same = second["coder_id"] == second["segment_id"].map(seg["coder_id"])
        for i in second.index[same][:PER_CHECK]:
            self.add(
                "double_codings",
                i,
                "coder_id",
                f"{second.at[i, 'coder_id']} coded {second.at[i, 'segment_id']} first; a second coding needs another coder",
            )
        activity = pd.Series(
            self.segment_activity().to_numpy(), index=self.t["segments"]["segment_id"]
        )
        code_activity = second["code_id"].map(self.t["codes"].set_index("code_id")["activity_id"])
        wrong = code_activity != second["segment_id"].map(activity)
        for i in second.index[wrong][:PER_CHECK]:
            self.add(
                "double_codings",
                i,
                "code_id",
                f"code {second.at[i, 'code_id']} does not belong to the analysis of {second.at[i, 'segment_id']}",
            )

    def expressions(self) -> None:
        # The expression language is the analysis layer's typed measures; import it only here.
        from compendium.analysis.expressions import expression_problem
        from compendium.analysis.measures import Measures
        from compendium.contract.loading import Study, cast_table

        fields = {r["name"]: r["schema"]["fields"] for r in self.package["resources"]}
        typed = {name: cast_table(frame, fields[name]) for name, frame in self.t.items()}
        # One set of measures for every expression: the code counts are made once, not per figure.
        measures = Measures(Study(self.dir, self.d, typed, tracked=False))
        for i, f in self.t["published_figures"].iterrows():
            message = expression_problem(f["expression"], measures)
            if message:
                self.add("published_figures", i, "expression", message)
