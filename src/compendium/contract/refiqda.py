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

The coded project
-----------------
:func:`export_project` writes the package as a REFI-QDA project (``.qdpx``: a zip holding
``project.qde`` and a ``sources/`` folder): the codebooks under one top-level code per
analysis, the coders as users, one text source per interviewee or focus group (its coded
excerpts, joined) and one coded selection per segment. The same package always gives the
same bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import re
import shutil
import stat
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from pathlib import Path
from xml.parsers import expat

import pandas as pd

from compendium import __version__, paths
from compendium.analysis.themes import segment_sources
from compendium.contract.writing import write_atomically

NAMESPACE = "urn:QDA-XML:codebook:1.0"
SCHEMA_PATH = paths.RESOURCES_DIR / "refi-qda" / "Codebook.xsd"
PROJECT_NAMESPACE = "urn:QDA-XML:project:1.0"
PROJECT_SCHEMA_PATH = paths.RESOURCES_DIR / "refi-qda" / "Project.xsd"
#: What joins a source's excerpts into its text: a blank line, as between paragraphs.
EXCERPT_SEPARATOR = "\n\n"
#: The optional table of second codings: a second coder's codes for double-coded segments.
DOUBLE_CODINGS_COLUMNS = ["segment_id", "coder_id", "code_id"]
# Stable GUIDs: the same code id always gets the same GUID, so re-exports diff cleanly.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "compendium:refi-qda")
CODE_COLUMNS = [
    "code_id",
    "activity_id",
    "parent_id",
    "position",
    "name",
    "description",
    "valence",
    "name_wording",
]
#: ``name_wording`` of an imported code whose name the package did not have before: nothing
#: says the paper prints it, so it claims nothing (``--name-wording`` says otherwise).
IMPORTED_NAME_WORDING = "synthetic"
NAME_WORDINGS = ("verbatim", "paraphrase", "reconstruction", "synthetic")
NAMESPACE_IN_TAG = re.compile(r"\{(?:urn|https?):[^}]*\}")
# What a schema type means, for error messages that a person can act on.
TYPE_MEANINGS = {
    "GUIDType": "a GUID (hexadecimal digits grouped 8-4-4-4-12)",
    "RGBType": "a colour such as #1f77b4",
}


class ExchangeError(ValueError):
    """A file that cannot be read or written, with where in it and what was expected.

    ``str(error)`` is one line: ``file:line:column: message``, ``file:line: message`` or
    ``file: message``, as far as the position is known. Lines and columns count from 1.
    """

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        self.path, self.message, self.line, self.column = path, message, line, column
        where = ":".join(str(part) for part in (path, line, column) if part is not None)
        super().__init__(f"{where}: {message}")


class CodebookError(ExchangeError):
    """A codebook that cannot be imported."""


def code_guid(code_id: str) -> str:
    """Return the stable GUID of a code."""
    return str(uuid.uuid5(GUID_NAMESPACE, code_id))


def entity_guid(kind: str, key: str) -> str:
    """Return the stable GUID of a project entity other than a code.

    Each kind (``"user"``, ``"analysis"``, ``"source"``, ``"selection"``, ``"coding"``) has
    its own UUID 5 namespace below the package's, so no key of one kind can give the GUID
    of another kind, or of a code.
    """
    return str(uuid.uuid5(uuid.uuid5(GUID_NAMESPACE, kind), key))


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
def _schema(path: Path):
    """Return a schema shipped with the package, built once per process."""
    # Imported here: the command line loads this module for every command, and xmlschema
    # (with elementpath) costs a quarter of a second and some 15 MB that only exchange needs.
    import xmlschema

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
    name_wording: str = IMPORTED_NAME_WORDING,
) -> pd.DataFrame:
    """Return the ``codes`` rows of one analysis read from a REFI-QDA codebook.

    The codebook is checked for well-formedness and against ``Codebook.xsd`` before anything
    else. Codes are numbered by position, depth first: the ``n``-th child of code ``P`` gets
    the id ``P.n`` and position ``n``; the ``n``-th top-level code gets ``<prefix>-n``.

    ``valence`` and ``name_wording`` have no place in REFI-QDA. A code that comes back at its
    id with the GUID this package gave it keeps its ``valence``, and its ``name_wording`` too
    if its name is unchanged. Any other code gets an empty ``valence``, and the ``name_wording``
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
    name_wording
        ``name_wording`` of codes whose name is new to the package.

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
    if name_wording not in NAME_WORDINGS:
        raise CodebookError(path, f"expected a name status among {', '.join(NAME_WORDINGS)}")
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
                    "name_wording": kept["name_wording"]
                    if same_code and kept["name"] == name
                    else name_wording,
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


def _read_csv(path: Path) -> pd.DataFrame:
    """Return a package table as strings, empty cells as NA (what the package's schema says)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")


def valid_study(data_dir: Path):
    """Return the package at ``data_dir`` loaded through its validation.

    Raises
    ------
    ExchangeError
        Naming the first problem's file and line, when the package is invalid.
    """
    from compendium.contract.loading import load_study
    from compendium.contract.problems import InvalidPackage

    try:
        return load_study(Path(data_dir))
    except InvalidPackage as exc:
        first, others = exc.problems[0], len(exc.problems) - 1
        more = f" (and {others} more: see `python -m compendium validate`)" if others else ""
        column = f"column '{first.field}': " if first.field else ""
        raise ExchangeError(
            first.path, f"expected a valid data package: {column}{first.message}{more}", first.line
        ) from None


def code_references(tables: Mapping[str, pd.DataFrame], descriptor: dict) -> dict[str, str]:
    """Return every code id another table of a package refers to, with that table's file.

    Parameters
    ----------
    tables
        The package's tables by resource name.
    descriptor
        Its ``datapackage.json``.

    Returns
    -------
    dict
        Code id to the file of the first table that refers to it. The references are the
        foreign keys to ``codes`` the descriptor declares (codings, quotes, concept_codes),
        and rows of an evidence table (columns ``evidence_type`` and ``evidence_id``) whose
        type is ``code``.
    """
    referenced: dict[str, str] = {}
    for resource in descriptor["resources"]:
        table = tables.get(resource["name"])
        if resource["name"] == "codes" or table is None:
            continue
        values = [
            table[fk["fields"]]
            for fk in resource["schema"].get("foreignKeys", [])
            if fk["reference"]["resource"] == "codes"
        ]
        if {"evidence_type", "evidence_id"} <= set(table.columns):
            values.append(table.loc[table["evidence_type"] == "code", "evidence_id"])
        for column in values:
            for code_id in column.dropna():
                referenced.setdefault(code_id, resource["path"])
    return referenced


def _package_problems_with(data_dir: Path, codes_text: str) -> list:
    """Return the validation problems of the package with ``codes_text`` as its codes.csv."""
    from compendium.contract.validation import validate_package

    with tempfile.TemporaryDirectory(prefix=".import-codebook-") as staging:
        staged = Path(staging) / "data"
        shutil.copytree(data_dir, staged)
        (staged / "codes.csv").write_text(codes_text, encoding="utf-8", newline="")
        return validate_package(staged)


def import_codebook(
    codebook: Path,
    activity_id: str,
    data_dir: Path,
    *,
    prefix: str | None = None,
    name_wording: str = IMPORTED_NAME_WORDING,
) -> pd.DataFrame:
    """Read a REFI-QDA codebook into one analysis's rows of ``codes.csv``, atomically.

    Nothing is written unless the package is valid, the codebook is well-formed and
    schema-valid, the analysis is a coded activity of the package (of any method but an
    evidence review), no code another table uses is moved or dropped (see
    :func:`codes_from_codebook`), and the package with the new rows still passes
    :func:`compendium.validation.validate_package`.

    Parameters
    ----------
    codebook
        The ``.qdc`` file.
    activity_id
        The analysis whose codes it replaces.
    data_dir
        The package directory.
    prefix, name_wording
        As for :func:`codes_from_codebook`.

    Returns
    -------
    pandas.DataFrame
        The rows written.

    Raises
    ------
    ExchangeError
        One line naming the file (and line and column, where there are some) and what was
        expected: a :class:`CodebookError` for the codebook, an :class:`ExchangeError`
        naming a package file for the package.
    """
    shown, data_dir = str(codebook), Path(data_dir)
    try:
        xml = Path(codebook).read_bytes()
    except OSError as exc:
        raise CodebookError(
            shown, f"expected a readable REFI-QDA codebook: {exc.strerror}"
        ) from None
    study = valid_study(data_dir)
    activities = study.activities
    # Any activity whose method is coded (every kind but an evidence review), whatever the
    # study names its methods: the kinds come from study.yaml, as the validator's do.
    kinds = {m.id: m.kind for m in study.descriptor.methods}
    analysed = activities.loc[activities["method"].map(kinds).ne("review"), "activity_id"].tolist()
    if activity_id not in analysed:
        raise ExchangeError(
            str(data_dir / "activities.csv"),
            f"expected an activity whose data are coded ({', '.join(analysed)}), "
            f"not {activity_id!r}",
        )
    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    rows = codes_from_codebook(
        xml,
        activity_id,
        study.codes,
        path=shown,
        prefix=prefix,
        referenced=code_references(study.tables, descriptor),
        name_wording=name_wording,
    )
    codes_path = data_dir / "codes.csv"
    new_text = codes_csv_with(codes_path.read_bytes().decode("utf-8"), activity_id, rows)
    # Validate the whole package with the new codes in a staging copy, so that the data
    # directory changes only if the result is a valid package.
    problems = _package_problems_with(data_dir, new_text)
    if problems:
        # The staging copy's path means nothing to the reader: name the file only.
        first = dataclasses.replace(problems[0], path=Path(problems[0].path).name)
        raise CodebookError(
            shown, f"expected codes that keep the package valid; with them, {first}"
        )
    try:
        write_atomically(codes_path, new_text.encode("utf-8"))
    except OSError as exc:
        raise ExchangeError(str(codes_path), f"expected a writable file: {exc.strerror}") from None
    return rows


# --------------------------------------------------------------------------- project export


def segment_spans(segments: pd.DataFrame) -> pd.DataFrame:
    """Return where each segment's excerpt sits in the text of its source.

    A source (an interviewee, or a focus group: :func:`compendium.themes.segment_sources`)
    has as its text its segments' excerpts in table order, joined by
    :data:`EXCERPT_SEPARATOR`; :func:`source_texts` builds it.

    Parameters
    ----------
    segments
        The package's ``segments`` table.

    Returns
    -------
    pandas.DataFrame
        One row per segment, in table order: ``segment_id``, ``source_id``, and ``start`` and
        ``end``, the excerpt's first character and the one after its last (counted in
        Unicode code points from 0, so ``text[start:end]`` is the excerpt).

    Notes
    -----
    A tool that counts UTF-16 code units instead would place a selection differently after
    a character outside the Basic Multilingual Plane (an emoji, say); the synthetic
    excerpts have none.
    """
    source = segment_sources(segments).to_numpy()
    length = segments["excerpt"].str.len().astype("int64").to_numpy()
    step = pd.Series(length + len(EXCERPT_SEPARATOR))
    # Each excerpt starts after the excerpts and separators before it in the same source.
    start = step.groupby(source).cumsum().to_numpy() - step.to_numpy()
    return pd.DataFrame(
        {
            "segment_id": segments["segment_id"].to_numpy(),
            "source_id": source,
            "start": start,
            "end": start + length,
        }
    )


def source_texts(segments: pd.DataFrame) -> dict[str, str]:
    """Return each source's plain text: its excerpts in table order, blank-line separated."""
    grouped = segments["excerpt"].groupby(segment_sources(segments).to_numpy(), sort=False)
    return {source: EXCERPT_SEPARATOR.join(excerpts) for source, excerpts in grouped}


def _source_name(source_id: str, participants: pd.DataFrame, focus_groups: pd.DataFrame) -> str:
    """Return a source's display name: its label and analysis, e.g. ``SU1 (A2-INT)``."""
    for table, key in ((focus_groups, "group_id"), (participants, "participant_id")):
        match = table[table[key] == source_id]
        if not match.empty:
            return f"{match.iloc[0]['label']} ({match.iloc[0]['activity_id']})"
    raise ValueError(f"source {source_id!r} is neither a participant nor a focus group")


def project_qde(
    *,
    codes: pd.DataFrame,
    activities: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    coders: pd.DataFrame,
    participants: pd.DataFrame,
    focus_groups: pd.DataFrame,
    double_codings: pd.DataFrame | None = None,
    name: str = "compendium",
    description: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Return the coded project as a REFI-QDA ``project.qde`` and the source texts it names.

    The project holds:

    - ``Users``: one per coder (``id`` is the coder id, ``name`` the id and role);
    - ``CodeBook``: one top-level, non-codable code per analysis (named by its id and label),
      with that analysis's codes nested beneath it, GUIDs as in the ``.qdc`` export;
    - ``Sources``: one ``TextSource`` per source (an interviewee, or a focus group), whose
      plain text (:func:`source_texts`) lives in the archive as ``sources/<guid>.txt``;
      in it, one ``PlainTextSelection`` per segment at its span (:func:`segment_spans`),
      created by the segment's coder, holding one ``Coding`` per code the segment was coded
      at (``creatingUser`` the segment's coder), then one per second coding, if any
      (``creatingUser`` the second coder).

    Every GUID is derived from package ids (:func:`code_guid`, :func:`entity_guid`), and no
    time stamp is written, so the same package always gives the same bytes.

    Parameters
    ----------
    codes, activities, segments, codings, coders, participants, focus_groups
        The package's tables of those names.
    double_codings
        Optional second codings: columns ``segment_id``, ``coder_id`` (the second coder) and
        ``code_id``.
    name, description
        The project's name and description.

    Returns
    -------
    tuple
        The ``project.qde`` bytes (UTF-8), and the source texts by archive path.
    """
    ET.register_namespace("", PROJECT_NAMESPACE)

    def q(tag: str) -> str:
        return f"{{{PROJECT_NAMESPACE}}}{tag}"

    root = ET.Element(q("Project"), name=name, origin=f"compendium {__version__}")
    users = ET.SubElement(root, q("Users"))
    for coder in coders.itertuples():
        ET.SubElement(
            users,
            q("User"),
            guid=entity_guid("user", coder.coder_id),
            name=f"{coder.coder_id}, {coder.role}",
            id=coder.coder_id,
        )
    holder = ET.SubElement(ET.SubElement(root, q("CodeBook")), q("Codes"))
    coded = activities[activities["activity_id"].isin(codes["activity_id"])]
    for activity in coded.itertuples():
        analysis = ET.SubElement(
            holder,
            q("Code"),
            guid=entity_guid("analysis", activity.activity_id),
            name=f"{activity.activity_id}: {activity.label}",
            isCodable="false",
        )
        ET.SubElement(analysis, q("Description")).text = (
            f"The codes of analysis {activity.activity_id} (stage {activity.stage_id}, "
            f"{activity.method.replace('_', ' ')}s); not itself a code."
        )
        own = codes[codes["activity_id"] == activity.activity_id]
        _append_codes(analysis, own, PROJECT_NAMESPACE)

    user = {c: entity_guid("user", c) for c in coders["coder_id"]}
    first = codings.groupby("segment_id", sort=False)["code_id"].agg(list).to_dict()
    second: dict[str, list[tuple[str, str]]] = {}
    if double_codings is not None:
        for row in double_codings.itertuples():
            second.setdefault(row.segment_id, []).append((row.coder_id, row.code_id))
    texts = source_texts(segments)
    spans = segment_spans(segments).assign(coder_id=segments["coder_id"].to_numpy())
    sources = ET.SubElement(root, q("Sources"))
    files: dict[str, str] = {}
    for source_id, rows in spans.groupby("source_id", sort=False):
        guid = entity_guid("source", source_id)
        label = _source_name(source_id, participants, focus_groups)
        files[f"sources/{guid}.txt"] = texts[source_id]
        source = ET.SubElement(
            sources, q("TextSource"), guid=guid, name=label, plainTextPath=f"internal://{guid}.txt"
        )
        for span in rows.itertuples():
            selection = ET.SubElement(
                source,
                q("PlainTextSelection"),
                guid=entity_guid("selection", span.segment_id),
                name=span.segment_id,
                startPosition=str(span.start),
                endPosition=str(span.end),
                creatingUser=user[span.coder_id],
            )
            pairs = [
                (span.coder_id, c, f"{span.segment_id} {c}") for c in first.get(span.segment_id, [])
            ]
            pairs += [
                (coder, c, f"{span.segment_id} {c} {coder}")
                for coder, c in second.get(span.segment_id, [])
            ]
            for coder, code_id, key in pairs:
                coding = ET.SubElement(
                    selection,
                    q("Coding"),
                    guid=entity_guid("coding", key),
                    creatingUser=user[coder],
                )
                ET.SubElement(coding, q("CodeRef"), targetGUID=code_guid(code_id))
    if description:
        ET.SubElement(root, q("Description")).text = description
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n", files


def project_problems(qde: bytes) -> list[str]:
    """Return the schema violations of a REFI-QDA ``project.qde``; empty when it is valid."""
    schema = _schema(PROJECT_SCHEMA_PATH)
    return [str(error.reason or error) for error in schema.iter_errors(qde.decode("utf-8"))]


def qdpx_bytes(qde: bytes, files: Mapping[str, str]) -> bytes:
    """Return a ``.qdpx`` archive: ``project.qde`` and the source texts, reproducibly.

    Entries are sorted, dated 1980-01-01 (the earliest a zip can hold), marked as made on
    Unix with mode 0644, and deflated at level 9, so the same input gives the same bytes
    (given the same zlib). Source texts are UTF-8 without a byte-order mark.
    """
    buffer = io.BytesIO()
    entries = {"project.qde": qde, **{k: v.encode("utf-8") for k, v in files.items()}}
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in sorted(entries):
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, wherever it is built, so the bytes do not vary
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, entries[entry], compresslevel=9)
    return buffer.getvalue()


def double_codings_table(
    path: Path, segments: pd.DataFrame, codes: pd.DataFrame, coders: pd.DataFrame
) -> pd.DataFrame | None:
    """Return the optional ``double_codings.csv`` of a package, checked; None when absent.

    Raises
    ------
    ExchangeError
        When a column is missing, or a row names a segment, coder or code the package does
        not have (its line in the file is given).
    """
    if not path.is_file():
        return None
    try:
        table = _read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ExchangeError(str(path), f"expected UTF-8 CSV: {exc}") from None
    missing = [c for c in DOUBLE_CODINGS_COLUMNS if c not in table.columns]
    if missing:
        raise ExchangeError(str(path), f"expected columns {', '.join(DOUBLE_CODINGS_COLUMNS)}", 1)
    known = {
        "segment_id": set(segments["segment_id"]),
        "coder_id": set(coders["coder_id"]),
        "code_id": set(codes["code_id"]),
    }
    for index, row in enumerate(table[DOUBLE_CODINGS_COLUMNS].itertuples(index=False), start=2):
        for column, value in zip(DOUBLE_CODINGS_COLUMNS, row, strict=True):
            if value not in known[column]:
                raise ExchangeError(
                    str(path),
                    f"column '{column}': expected a {column} of the package, not {value!r}",
                    index,
                )
    return table


def export_project(data_dir: Path, out: Path) -> dict[str, int]:
    """Write the package's coded project to ``out`` as a schema-valid ``.qdpx``, atomically.

    Parameters
    ----------
    data_dir
        The package directory; it is validated first (:func:`compendium.loading.load_study`).
        An optional ``double_codings.csv`` in it adds the second coders' codings.
    out
        The archive to write; replaced only once the whole archive is ready.

    Returns
    -------
    dict
        Counts of what was written: ``sources``, ``selections``, ``codings``, ``codes``,
        ``users`` and ``bytes``.

    Raises
    ------
    ExchangeError
        When the package is invalid, ``double_codings.csv`` does not fit it, or the project
        would break the schema; nothing is written then.
    """
    data_dir = Path(data_dir)
    study = valid_study(data_dir)
    double = double_codings_table(
        data_dir / "double_codings.csv", study.segments, study.codes, study.coders
    )
    descriptor = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    qde, files = project_qde(
        codes=study.codes,
        activities=study.activities,
        segments=study.segments,
        codings=study.codings,
        coders=study.coders,
        participants=study.participants,
        focus_groups=study.focus_groups,
        double_codings=double,
        name=descriptor.get("title") or descriptor.get("name") or "compendium",
        description=descriptor.get("description"),
    )
    problems = project_problems(qde)
    if problems:
        raise ExchangeError(
            str(out), f"expected a project valid against Project.xsd: {problems[0]}"
        )
    archive = qdpx_bytes(qde, files)
    try:
        write_atomically(Path(out), archive)
    except OSError as exc:
        raise ExchangeError(str(out), f"expected a writable file: {exc.strerror}") from None
    return {
        "sources": len(files),
        "selections": len(study.segments),
        "codings": len(study.codings) + (0 if double is None else len(double)),
        "codes": len(study.codes),
        "users": len(study.coders),
        "bytes": len(archive),
    }
