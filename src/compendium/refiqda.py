"""REFI-QDA exchange (QDA-XML 1.0): codebooks both ways, and the whole coded project out.

A ``.qdc`` codebook opens in NVivo, ATLAS.ti, MAXQDA, QualCoder and other tools that support
the Rotterdam Exchange Format, so a student can take this study's codebook into their own
software and bring an edited one back. Every file written is checked against the published
schema first; the schemas ship with the package so that validation works offline.

Code ids and GUIDs
------------------
The package names a code by its dotted position within its analysis: ``A2-1.1.1`` is the
first child of the first child of main theme 1 of the analysis whose codes carry the prefix
``A2``. Exports give each code the GUID :func:`code_guid` derives from its id (a UUID 5, the
same on every run and machine). An import numbers codes by their position in the file, in
the same scheme, so export → import → export gives back the same bytes.

The package keeps no GUID column, so a code that moves gets a new id and, with it, a new
GUID; and GUIDs written by another tool are not kept (the code gets the package's GUID on
the next export). An import therefore refuses to move, drop or replace any code that another
table of the package refers to (codings, quotes, concepts, evidence): such a code must come
back at its id with the GUID this package gave it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import shutil
import stat
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from xml.parsers import expat

import pandas as pd
import xmlschema

from . import __version__, paths

NAMESPACE = "urn:QDA-XML:codebook:1.0"
SCHEMA_PATH = paths.RESOURCES_DIR / "refi-qda" / "Codebook.xsd"
# Stable GUIDs: the same code id always gets the same GUID, so re-exports diff cleanly.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://doi.org/10.1186/s13104-017-2900-6")
CODE_COLUMNS = [
    "code_id",
    "activity_id",
    "parent_id",
    "position",
    "name",
    "description",
    "valence",
    "name_status",
]
#: ``name_status`` of an imported code whose name the package did not have before: the
#: vocabulary's ``seen``/``seed``/``inferred`` all mean "read in the paper", which an
#: imported name is not.
IMPORTED_NAME_STATUS = "synthetic"
NAME_STATUSES = ("seen", "seed", "inferred", "synthetic")
NAMESPACE_IN_TAG = re.compile(r"\{(?:urn|https?):[^}]*\}")
# What a schema type means, for error messages that a person can act on.
TYPE_MEANINGS = {
    "GUIDType": "a GUID (hexadecimal digits grouped 8-4-4-4-12)",
    "RGBType": "a colour such as #1f77b4",
}


class CodebookError(ValueError):
    """A codebook that cannot be imported, with where in which file and what was expected.

    ``str(error)`` is one line: ``file:line:column: message``, or ``file: message`` when
    there is no position. Lines and columns count from 1.
    """

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        self.path, self.message, self.line, self.column = path, message, line, column
        where = path if line is None else f"{path}:{line}:{column}"
        super().__init__(f"{where}: {message}")


def code_guid(code_id: str) -> str:
    """Return the stable GUID of a code."""
    return str(uuid.uuid5(GUID_NAMESPACE, code_id))


def _append_codes(holder: ET.Element, own: pd.DataFrame, namespace: str) -> None:
    """Append ``own``'s codes beneath ``holder`` as nested ``Code`` elements, in position order."""
    own = own.sort_values("position", kind="stable")
    children: dict[str | None, list] = {}
    for code in own.itertuples():
        children.setdefault(code.parent_id if isinstance(code.parent_id, str) else None, []).append(
            code
        )

    def add(parent: ET.Element, parent_id: str | None) -> None:
        for code in children.get(parent_id, []):
            element = ET.SubElement(
                parent,
                f"{{{namespace}}}Code",
                guid=code_guid(code.code_id),
                name=code.name,
                isCodable="true",
            )
            ET.SubElement(element, f"{{{namespace}}}Description").text = code.description
            add(element, code.code_id)

    add(holder, None)


def codebook_xml(codes: pd.DataFrame, activity_id: str) -> bytes:
    """Return the codebook of one analysis as REFI-QDA XML (UTF-8 bytes).

    Parameters
    ----------
    codes
        The package's ``codes`` table.
    activity_id
        The analysis to export, e.g. ``"A2-INT"``.
    """
    own = codes[codes["activity_id"] == activity_id]
    if own.empty:
        raise ValueError(f"no codes belong to {activity_id!r}")
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}CodeBook", origin=f"compendium {__version__}")
    _append_codes(ET.SubElement(root, f"{{{NAMESPACE}}}Codes"), own, NAMESPACE)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


@functools.cache
def _schema(path: Path) -> xmlschema.XMLSchema:
    """Return a schema shipped with the package, built once per process."""
    return xmlschema.XMLSchema(str(path))


def codebook_problems(xml: bytes) -> list[str]:
    """Return the schema violations of a REFI-QDA codebook; empty when it is valid."""
    schema = _schema(SCHEMA_PATH)
    return [str(error.reason or error) for error in schema.iter_errors(xml.decode("utf-8"))]


# --------------------------------------------------------------------------- reading XML


def _clark(name: str) -> str:
    """Return an expat ``uri}local`` name in ElementTree's ``{uri}local`` form."""
    return "{" + name if "}" in name else name


def parsed_xml(data: bytes, path: str) -> tuple[ET.Element, dict[ET.Element, tuple[int, int]]]:
    """Return the element tree of an XML document and where each element starts in it.

    ElementTree keeps no positions, and xmlschema reports them only with lxml; expat (the
    parser under ElementTree) knows them, so the tree is built from its callbacks.

    Parameters
    ----------
    data
        The document's bytes.
    path
        The file name to put in error messages.

    Returns
    -------
    tuple
        The root element, and a mapping from each element to its (line, column), from 1.

    Raises
    ------
    CodebookError
        When the document is not well-formed XML, or declares a DOCTYPE (a REFI-QDA file
        has none, and refusing it rules out entity expansion).
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    positions: dict[ET.Element, tuple[int, int]] = {}

    def start(name: str, attributes: dict[str, str]) -> None:
        element = builder.start(_clark(name), {_clark(k): v for k, v in attributes.items()})
        positions[element] = (parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)

    def doctype(*_args) -> None:
        raise CodebookError(
            path,
            "expected no DOCTYPE declaration (REFI-QDA files have none)",
            parser.CurrentLineNumber,
            parser.CurrentColumnNumber + 1,
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise CodebookError(
            path,
            f"expected well-formed XML: {expat.ErrorString(exc.code)}",
            exc.lineno,
            exc.offset + 1,
        ) from None
    return builder.close(), positions


def schema_error(
    root: ET.Element, positions: Mapping[ET.Element, tuple[int, int]], schema_path: Path, path: str
) -> CodebookError | None:
    """Return the first violation of the schema at ``schema_path`` as an error; None if valid."""
    error = next(iter(_schema(schema_path).iter_errors(root)), None)
    if error is None:
        return None
    element = error.invalid_child if error.invalid_child is not None else error.elem
    line, column = positions.get(element, (None, None))
    reason = str(error.reason or error.message)
    validator_type = getattr(getattr(error.validator, "parent", None), "local_name", None)
    if validator_type in TYPE_MEANINGS:  # a pattern facet: name the type, not its regex
        reason = f"{reason.split(': value ')[0]} is not {TYPE_MEANINGS[validator_type]}"
    reason = NAMESPACE_IN_TAG.sub("", reason)  # "{urn:QDA-XML:codebook:1.0}Code" -> "Code"
    return CodebookError(
        path, f"expected XML valid against {schema_path.name}: {reason}", line, column
    )


# --------------------------------------------------------------------------- codebook import


def code_id_prefix(codes: pd.DataFrame, activity_id: str) -> str | None:
    """Return the prefix of an analysis's code ids (``"A2"`` for ``A2-1``, ``A2-1.1``, ...).

    Parameters
    ----------
    codes
        The package's ``codes`` table.
    activity_id
        The analysis.

    Returns
    -------
    str or None
        The activity id itself when the analysis has no codes yet; None when its main themes'
        ids do not all read ``<prefix>-<position>`` with one prefix.
    """
    themes = codes[(codes["activity_id"] == activity_id) & codes["parent_id"].isna()]
    if themes.empty:
        return activity_id
    prefixes = set()
    for code_id, position in zip(themes["code_id"], themes["position"], strict=True):
        prefix, _, number = str(code_id).rpartition("-")
        prefixes.add(prefix if prefix and number == str(position) else None)
    return prefixes.pop() if len(prefixes) == 1 else None


def codes_from_codebook(
    xml: bytes,
    activity_id: str,
    existing: pd.DataFrame,
    *,
    path: str = "<codebook>",
    prefix: str | None = None,
    referenced: Mapping[str, str] | None = None,
    name_status: str = IMPORTED_NAME_STATUS,
) -> pd.DataFrame:
    """Return the ``codes`` rows of one analysis read from a REFI-QDA codebook.

    The codebook is checked for well-formedness and against ``Codebook.xsd`` before anything
    else. Codes are numbered by position, depth first: the ``n``-th child of code ``P`` gets
    the id ``P.n`` and position ``n``; the ``n``-th top-level code gets ``<prefix>-n``.

    ``valence`` and ``name_status`` have no place in REFI-QDA. A code that comes back at its
    id with the GUID this package gave it keeps its ``valence``, and its ``name_status`` too
    if its name is unchanged. Any other code gets an empty ``valence``, and the ``name_status``
    passed in (default ``"synthetic"``: not a name read in the paper). ``isCodable``,
    colours and sets are not kept: every code in the package is codable.

    Parameters
    ----------
    xml
        The codebook file's bytes.
    activity_id
        The analysis the codes belong to.
    existing
        The package's current ``codes`` table (every analysis).
    path
        The file name to put in error messages.
    prefix
        The id prefix; by default the one the analysis's codes use now
        (:func:`code_id_prefix`).
    referenced
        Code ids that other tables refer to, each with the name of a table that does: these
        must come back at the same id with the same GUID.
    name_status
        ``name_status`` of codes whose name is new to the package.

    Returns
    -------
    pandas.DataFrame
        Columns as the ``codes`` table, in depth-first order; ``parent_id`` and ``valence``
        are missing (NA) where empty.

    Raises
    ------
    CodebookError
        One line naming the file, line and column, and what was expected.
    """
    root, positions = parsed_xml(xml, path)
    problem = schema_error(root, positions, SCHEMA_PATH, path)
    if problem:
        raise problem
    if name_status not in NAME_STATUSES:
        raise CodebookError(path, f"expected a name status among {', '.join(NAME_STATUSES)}")
    if prefix is None:
        prefix = code_id_prefix(existing, activity_id)
        if prefix is None:
            raise CodebookError(
                path, f"expected --prefix: the ids of {activity_id}'s main themes share none"
            )
    own = existing[existing["activity_id"] == activity_id].set_index("code_id")
    code_tag = f"{{{NAMESPACE}}}Code"
    rows: list[dict] = []
    seen_guids: dict[str, tuple[int, int]] = {}
    placed: dict[str, ET.Element] = {}

    def read(element: ET.Element, parent_id: str | None) -> None:
        for position, code in enumerate(element.iterfind(code_tag), start=1):
            line, column = positions[code]
            code_id = f"{prefix}-{position}" if parent_id is None else f"{parent_id}.{position}"
            guid = code.get("guid").strip("{}").lower()
            if guid in seen_guids:
                first = seen_guids[guid]
                raise CodebookError(
                    path,
                    f"expected a unique GUID: {guid} is used at line {first[0]} too",
                    line,
                    column,
                )
            seen_guids[guid] = (line, column)
            name = code.get("name")
            description = code.findtext(f"{{{NAMESPACE}}}Description")
            if not name.strip():
                raise CodebookError(path, "expected a code name that is not blank", line, column)
            if not description or not description.strip():
                raise CodebookError(
                    path,
                    f"expected a Description for code {name!r}: the codes table requires one",
                    line,
                    column,
                )
            same_code = code_id in own.index and guid == code_guid(code_id)
            kept = own.loc[code_id] if same_code else None
            rows.append(
                {
                    "code_id": code_id,
                    "activity_id": activity_id,
                    "parent_id": parent_id,
                    "position": position,
                    "name": name,
                    "description": description,
                    "valence": kept["valence"] if same_code and pd.notna(kept["valence"]) else None,
                    "name_status": kept["name_status"]
                    if same_code and kept["name"] == name
                    else name_status,
                }
            )
            placed[code_id] = code
            read(code, code_id)

    codes_element = root.find(f"{{{NAMESPACE}}}Codes")
    read(codes_element, None)
    for code_id, table in sorted((referenced or {}).items()):
        if code_id not in own.index:
            continue
        element = placed.get(code_id)
        if element is not None and element.get("guid").strip("{}").lower() == code_guid(code_id):
            continue
        line, column = positions[element if element is not None else codes_element]
        raise CodebookError(
            path,
            f"expected code {code_id} ({own.at[code_id, 'name']!r}, which {table} refers to) "
            f"here with GUID {code_guid(code_id)}: codes that other tables use cannot move or go",
            line,
            column,
        )
    return pd.DataFrame(rows, columns=CODE_COLUMNS)


def _cell(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def codes_csv_with(text: str, activity_id: str, rows: pd.DataFrame) -> str:
    """Return ``codes.csv`` text with one analysis's rows replaced by ``rows``.

    Every other record, the header included, is kept byte for byte (its quoting and line
    ending too); the new rows go where the analysis's first row was, or at the end when it
    had none, written as the synthetic generator writes CSV (``\\n``, minimal quoting).

    Parameters
    ----------
    text
        The current ``codes.csv``.
    activity_id
        The analysis whose rows are replaced.
    rows
        The new rows (:func:`codes_from_codebook`); columns missing from them are left empty.

    Returns
    -------
    str
        The new file's text.
    """
    consumed: list[str] = []

    def lines():
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    records: list[tuple[str, list[str]]] = []
    for fields in csv.reader(lines()):
        records.append(("".join(consumed), fields))
        consumed.clear()
    header = records[0][1]
    column = header.index("activity_id")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows.to_dict("records"):
        writer.writerow([_cell(row.get(name)) for name in header])
    new_rows = buffer.getvalue()
    out, inserted = [records[0][0]], False
    for raw, fields in records[1:]:
        if len(fields) > column and fields[column] == activity_id:
            if not inserted:
                out.append(new_rows)
                inserted = True
            continue
        out.append(raw)
    if not inserted:
        if not out[-1].endswith(("\n", "\r")):
            out[-1] += "\n"
        out.append(new_rows)
    return "".join(out)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new, never half.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the
    file is renamed over ``path`` (atomic on POSIX and Windows). An existing file's
    permissions are kept; a new file gets the usual ``0o666`` less the umask.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_csv(path: Path) -> pd.DataFrame:
    """Return a package table as strings, empty cells as NA (what the package's schema says)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")


def code_references(data_dir: Path) -> dict[str, str]:
    """Return every code id another table of the package refers to, with that table's file.

    The references are the foreign keys to ``codes`` that ``datapackage.json`` declares
    (codings, quotes, concept_codes), and rows of an evidence table (``evidence_type``,
    ``evidence_id``) whose type is ``code``.
    """
    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    referenced: dict[str, str] = {}
    for resource in descriptor["resources"]:
        if resource["name"] == "codes":
            continue
        columns = [
            fk["fields"]
            for fk in resource["schema"].get("foreignKeys", [])
            if fk["reference"]["resource"] == "codes"
        ]
        names = {f["name"] for f in resource["schema"]["fields"]}
        if not columns and not {"evidence_type", "evidence_id"} <= names:
            continue
        table = _read_csv(data_dir / resource["path"])
        values = [table[c] for c in columns]
        if {"evidence_type", "evidence_id"} <= names:
            values.append(table.loc[table["evidence_type"] == "code", "evidence_id"])
        for column in values:
            for code_id in column.dropna():
                referenced.setdefault(code_id, resource["path"])
    return referenced


def import_codebook(
    codebook: Path,
    activity_id: str,
    data_dir: Path,
    *,
    prefix: str | None = None,
    name_status: str = IMPORTED_NAME_STATUS,
) -> pd.DataFrame:
    """Read a REFI-QDA codebook into one analysis's rows of ``codes.csv``, atomically.

    Nothing is written unless the codebook is well-formed and schema-valid, the analysis is
    an interview or focus-group activity of the package, no code another table uses is moved
    or dropped (see :func:`codes_from_codebook`), and the package with the new rows still
    passes :func:`compendium.validation.validate_package`.

    Parameters
    ----------
    codebook
        The ``.qdc`` file.
    activity_id
        The analysis whose codes it replaces.
    data_dir
        The package directory.
    prefix, name_status
        As for :func:`codes_from_codebook`.

    Returns
    -------
    pandas.DataFrame
        The rows written.

    Raises
    ------
    CodebookError
        One line naming the file (and line and column, where there are some) and what was
        expected.
    """
    from .validation import validate_package

    shown, data_dir = str(codebook), Path(data_dir)
    try:
        xml = Path(codebook).read_bytes()
    except OSError as exc:
        raise CodebookError(
            shown, f"expected a readable REFI-QDA codebook: {exc.strerror}"
        ) from None
    codes_path, activities_path = data_dir / "codes.csv", data_dir / "activities.csv"
    for needed in (codes_path, activities_path, data_dir / "datapackage.json"):
        if not needed.is_file():
            raise CodebookError(
                str(needed), "expected this file of the data package; it is missing"
            )
    activities = _read_csv(activities_path)
    analysed = activities.loc[
        activities["method"].isin(["interview", "focus_group"]), "activity_id"
    ].tolist()
    if activity_id not in analysed:
        raise CodebookError(
            str(activities_path),
            f"expected an interview or focus-group activity ({', '.join(analysed)}), "
            f"not {activity_id!r}",
        )
    text = codes_path.read_bytes().decode("utf-8")
    rows = codes_from_codebook(
        xml,
        activity_id,
        _read_csv(codes_path).astype({"position": "int64"}),
        path=shown,
        prefix=prefix,
        referenced=code_references(data_dir),
        name_status=name_status,
    )
    new_text = codes_csv_with(text, activity_id, rows)
    # Stage the whole package with the new codes and validate it, so that nothing in the
    # data directory changes unless the result is a valid package.
    with tempfile.TemporaryDirectory(prefix=".import-codebook-") as staging:
        staged = Path(staging) / "data"
        shutil.copytree(data_dir, staged)
        (staged / "codes.csv").write_text(new_text, encoding="utf-8", newline="")
        after = validate_package(staged)
        if after:
            before = {
                (p.path.rsplit("/", 1)[-1], p.row, p.message) for p in validate_package(data_dir)
            }
            new = [p for p in after if (p.path.rsplit("/", 1)[-1], p.row, p.message) not in before]
            first = (new or after)[0]
            where = f"{data_dir / first.path.rsplit('/', 1)[-1]}:{first.row}"
            message = (
                "the package would become invalid" if new else "the package is invalid already"
            )
            raise CodebookError(
                shown, f"expected a valid package after import; {message}: {where}: {first.message}"
            )
    write_atomically(codes_path, new_text.encode("utf-8"))
    return rows
