"""Compare chapters' outputs with their accepted references, and say what changed in a reviewer's words.

``make verify`` executes every chapter of the table of contents from scratch (two kernels at a
time, as ``make book`` does) and compares its outputs with ``tests/reference/<chapter>.ipynb``.
``make test`` compares, without executing again, the outputs that ``make book`` has just
executed into its cache (see ``tests/test_verify.py``).

A change is reported as what a reader of the book would see change, one line each::

    service-user-interviews › table themes-A2-INT › Positive view › Sources: 31 → 30
    service-user-interviews › value A2-1.1.1_sources: 31 → 30
    service-user-interviews › figure "Service-user interviews: codebook" › Positive view › values: 43 → 42
    service-user-interviews › code cell 7 › provenance: …codings.csv (dba72374),… → …codings.csv (0f2c4b9a),…

then a closing line counting the chapters, tables, figures and values that changed. Table rows
are named by their first column of names (with the id beside it when a name repeats), columns by
their headers, figure points by their labels. The raw notebook diff (``-expected / +obtained``
lines, each figure's data as canonical JSON) is kept behind ``--verbose`` (``make verify
VERBOSE=1``). A difference that none of the readings above names is never dropped: its cell is
reported as changed, and the raw diff shows it.

Parts of an output that change from run to run without meaning anything are normalised first:
execution counts and metadata, image bytes, pandas Styler ids, object addresses, plotly's random
``<div>`` ids and the git commit in provenance lines; a cell tagged ``volatile`` (the provenance
page's software versions) is not compared at all.

After an intended change, ``make accept`` (``python -m compendium.build.verification accept``)
re-executes every chapter and writes its outputs as the new references, to be reviewed and
committed like code.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from compendium import paths
from compendium.build.execution import Book, execute_notebooks, read_notebook
from compendium.contract.writing import write_atomically
from compendium.failures import add_debug_flag, guarded, usage_errors

REFERENCE_DIR = paths.ROOT / "tests" / "reference"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: Cells with this tag describe the machine that ran them; their outputs are not compared.
VOLATILE_TAG = "volatile"
#: How many changed points of one figure field, or changed rows of one table, are listed.
LISTED = 12

#: Notebook paths whose differences mean nothing (nbdime path syntax, ``*`` for any index).
DIFF_IGNORE = (
    "/metadata",
    "/nbformat_minor",
    "/cells/*/id",
    "/cells/*/metadata",
    "/cells/*/execution_count",
    "/cells/*/outputs/*/execution_count",
    "/cells/*/outputs/*/data/image/png",
    "/cells/*/outputs/*/data/image/jpeg",
    "/cells/*/outputs/*/data/image/svg+xml",
    # Compared separately, as figure data (see figure_data_diffs).
    f"/cells/*/outputs/*/data/{PLOTLY_MIME}",
)

#: ``(path, pattern, replacement)``: volatile text inside outputs, replaced before diffing.
DIFF_REPLACE = (
    # A plotly figure's HTML is its data again, plus random ids: compared as data instead.
    (
        "/cells/*/outputs",
        r'(?s)<div id="[0-9a-f-]{36}" class="plotly-graph-div".*?</script>',
        "[plotly figure: compared as figure data]",
    ),
    ("/cells/*/outputs", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID"),
    ("/cells/*/outputs", r"T_[0-9a-f]{5}(?![0-9a-f])", "T_STYLER"),
    ("/cells/*/outputs", r" at 0x[0-9a-fA-F]+", " at ADDRESS"),  # no "0x": stays put
    ("/cells/*/outputs", r"commit <code>[^<]*</code>", "commit <code>COMMIT</code>"),
)
_REPLACEMENTS = tuple((re.compile(pattern), new) for _, pattern, new in DIFF_REPLACE)
_ID_LIKE = re.compile(r"[\w.:/+-]*\d[\w.:/+-]*")
_NUMBER_LIKE = re.compile(r"[<>≤≥~]?-?[\d.,]+\s*%?\s*[^\w\s]{0,2}")
_TAGS = re.compile(r"<[^>]+>")
#: A data file and its short digest, as a provenance line names it.
_FILE_DIGEST = re.compile(r"(\S+) \(([0-9a-f]{8})\)")


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Change:
    """One thing a reader would see change, located as ``chapter › where › ...``.

    Attributes
    ----------
    where
        The location, outermost first: the chapter, then a table, value, figure or cell.
    before, after
        What the reference shows and what the chapter shows now; ``None`` for an element that
        was added (``before``) or removed (``after``).
    kind
        ``"cell"`` (a table cell), ``"value"`` (a glued value), ``"point"`` (a figure's
        data), ``"table"``, ``"figure"`` (a structural change), ``"data"`` (the digest of a
        data file a provenance line names), ``"text"`` (any other output).
    group
        The table or figure the change belongs to (for the counts), if any.
    """

    where: tuple[str, ...]
    before: str | None
    after: str | None
    kind: str
    group: str | None = None

    def __str__(self) -> str:
        place = " › ".join(self.where)
        if self.before is None:
            return f"{place}: added{': ' + self.after if self.after else ''}"
        if self.after is None:
            return f"{place}: removed{': ' + self.before if self.before else ''}"
        return f"{place}: {self.before} → {self.after}"


@dataclass
class Verdict:
    """The outcome of comparing one chapter with its reference.

    Attributes
    ----------
    chapter
        The chapter's name (its file name without the suffix).
    changes
        What changed, in a reviewer's words (:class:`Change`).
    problems
        What stopped the comparison or went wrong: no reference, changed code, a cell that
        raised an error.
    raw
        The raw diff: ``-expected / +obtained`` notebook lines and figure data as JSON.
    """

    chapter: str
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    raw: str = ""
    reference: str = ""

    @property
    def ok(self) -> bool:
        """True when the outputs match the reference."""
        return not self.changes and not self.problems

    def lines(self) -> list[str]:
        """Return the report's lines: problems first, then one line per change."""
        return [f"{self.chapter}: {problem}" for problem in self.problems] + [
            str(change) for change in self.changes
        ]

    def text(self, verbose: bool = False) -> str:
        """Return the report: its lines, and with ``verbose`` the raw diff after them."""
        if self.ok:
            return f"{self.chapter}: outputs match {self.reference}"
        text = "\n".join(self.lines())
        if verbose and self.raw:
            text += f"\n\nraw diff of {self.chapter} against {self.reference}:\n{self.raw}"
        return text

    @property
    def report(self) -> str:
        """The report without the raw diff."""
        return self.text()

    def __str__(self) -> str:
        return self.text()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(verdicts: list[Verdict]) -> str:
    """Return the closing line: how many chapters, tables, figures and values changed."""
    changed = [v for v in verdicts if not v.ok]
    if not changed:
        return f"verify: all {_plural(len(verdicts), 'chapter')} match their references"
    changes = [c for v in verdicts for c in v.changes]

    def count(kinds: set[str]) -> int:
        return sum(c.kind in kinds for c in changes)

    def groups(kinds: set[str]) -> int:
        return len({(c.where[0], c.group) for c in changes if c.kind in kinds and c.group})

    cells, glued, points = count({"cell"}), count({"value"}), count({"point"})
    parts = [
        _plural(groups({"cell", "table"}), "table"),
        _plural(groups({"point", "figure"}), "figure"),
        f"{_plural(cells + glued + points, 'value')} ({cells} in tables, {glued} glued, "
        f"{points} in figures)",
    ]
    if count({"data"}):
        parts.append(_plural(count({"data"}), "data file") + " read")
    if count({"text"}):
        parts.append(_plural(count({"text"}), "other output"))
    failed = sum(bool(v.problems) for v in verdicts)
    line = f"verify: {len(changed)} of {_plural(len(verdicts), 'chapter')} changed: " + ", ".join(
        parts
    )
    return line + (f"; {failed} could not be compared" if failed else "")


# --------------------------------------------------------------------------- normalising


def chapter_name(source: Path) -> str:
    """Return a chapter's name: its file name without the suffix."""
    return Path(source).stem


def reference_path(source: Path, reference_dir: Path = REFERENCE_DIR) -> Path:
    """Return where the accepted outputs of ``source`` are kept."""
    return Path(reference_dir) / f"{chapter_name(source)}.ipynb"


def notebook_chapters(book: Book) -> list[Path]:
    """Return the chapters of ``book`` that are notebooks (pages with code), in toc order."""
    return [source for source in book.chapters() if read_notebook(source) is not None]


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _first_line(cell) -> str:
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return lines[0] if lines else "(empty)"


def _clean(text: str) -> str:
    for pattern, new in _REPLACEMENTS:
        text = pattern.sub(new, text)
    return text


def _replace_strings(value):
    """Return ``value`` (an output, or part of one) with :data:`DIFF_REPLACE` applied to its strings."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return type(value)({k: _replace_strings(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_replace_strings(v) for v in value]
    return value


def comparable(current, executed):
    """Return ``current`` (a chapter as read now) carrying ``executed``'s outputs, normalised.

    Streams are coalesced as pytest-notebook does, volatile text replaced, and the outputs of
    cells tagged ``volatile`` dropped. Both notebooks must have the same code cells.
    """
    import nbformat
    from pytest_notebook.post_processors import coalesce_streams

    notebook = copy.deepcopy(current)
    for cell, done in zip(_code_cells(notebook), _code_cells(executed), strict=True):
        volatile = VOLATILE_TAG in cell.get("metadata", {}).get("tags", [])
        cell.outputs = [] if volatile else copy.deepcopy(done.get("outputs", []))
        cell.execution_count = None
    notebook, _ = coalesce_streams(notebook, {})
    for cell in _code_cells(notebook):
        cell.outputs = [nbformat.from_dict(_replace_strings(o)) for o in cell.outputs]
    return notebook


def stabilise(notebook) -> None:
    """Make a reference notebook diff cleanly: fixed cell ids, volatile output text replaced.

    The replacements are those :data:`DIFF_REPLACE` applies before comparing (each leaves
    its own output unmatched, so applying it twice changes nothing), so verifying is
    unaffected; re-accepting unchanged chapters leaves ``tests/reference`` unchanged. Plotly
    HTML is dropped: each figure's data stays in its JSON output, compared on its own.
    """
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                output["text"] = _clean(output["text"])
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output["data"][mime] = _clean(value)


# --------------------------------------------------------------------------- reading outputs


@dataclass
class _Table:
    name: str
    caption: str
    columns: list[str]
    rows: list[list[str]]  # the data cells, without the row headers
    headers: list[str]  # each row's header cells (the index), joined; "" when none


@dataclass
class _Outputs:
    """What one code cell shows: glued values, tables, figures, pictures and other text."""

    glued: dict[str, str] = field(default_factory=dict)
    tables: list[_Table] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    pictures: list[tuple[str, str]] = field(default_factory=list)  # (alt text, digest)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (label, text)


def _words(text: str) -> str:
    return " ".join(text.split())


def _span_grid(rows) -> list[list[tuple[str, bool]]]:
    """Return the cells of table rows as a grid, row- and column-spans spread out."""
    grid, carried = [], {}  # column -> [rows still to fill, text, is header]
    for tr in rows:
        cells = iter(tr.find_all(["th", "td"], recursive=False))
        line, column = [], 0
        while True:
            if column in carried:
                left, text, header = carried[column]
                line.append((text, header))
                carried[column][0] -= 1
                if carried[column][0] == 0:
                    del carried[column]
                column += 1
                continue
            cell = next(cells, None)
            if cell is None:
                break
            text, header = _words(cell.get_text(" ")), cell.name == "th"
            rowspan = int(cell.get("rowspan", 1) or 1)
            for offset in range(int(cell.get("colspan", 1) or 1)):
                line.append((text, header))
                if rowspan > 1:
                    carried[column + offset] = [rowspan - 1, text, header]
            column += int(cell.get("colspan", 1) or 1)
        grid.append(line)
    return grid


def _read_table(table, number: int) -> _Table:
    name = table.get("id") or ""
    name = name[2:] if name.startswith("T_") else name
    caption_tag = table.find("caption")
    caption = _words(caption_tag.get_text(" ")) if caption_tag else ""
    if not name or name.startswith("STYLER"):
        name = f'"{caption[:60]}"' if caption else f"{number}"
    head = table.find("thead")
    body = table.find("tbody") or table
    head_rows = _span_grid(head.find_all("tr", recursive=False)) if head else []
    body_rows = _span_grid(
        [tr for tr in body.find_all("tr", recursive=False) if tr.parent is not head]
    )
    if not head_rows and body_rows and all(header for _, header in body_rows[0]):
        head_rows, body_rows = body_rows[:1], body_rows[1:]  # a header row without a thead
    # The row headers (a Styler's index): the header cells that lead every row holding data.
    index_width = min(
        (_leading(row) for row in body_rows if not all(header for _, header in row)), default=0
    )
    width = max((len(row) for row in body_rows), default=0) - index_width
    columns = []
    for position in range(index_width, index_width + width):
        labels = [row[position][0] for row in head_rows if position < len(row)]
        columns.append(" / ".join(dict.fromkeys(label for label in labels if label)) or "")
    columns = [label or f"column {n}" for n, label in enumerate(columns, start=1)]
    rows = [[text for text, _ in row[index_width:]] for row in body_rows]
    headers = [" / ".join(text for text, _ in row[:index_width]) for row in body_rows]
    return _Table(name, caption, columns, rows, headers)


def _leading(row) -> int:
    count = 0
    for _, header in row:
        if not header:
            break
        count += 1
    return count


def _html_parts(html: str, outputs: _Outputs, digest_of) -> None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(["style", "script"]):
        tag.decompose()
    for table in soup.find_all("table"):
        outputs.tables.append(_read_table(table, len(outputs.tables) + 1))
        table.decompose()
    labels = []
    for tag in soup.find_all(True):
        if tag.name == "img":
            outputs.pictures.append((_words(tag.get("alt", "")), digest_of(tag.get("src", ""))))
        elif tag.get("aria-label"):
            labels.append(_words(tag["aria-label"]))
    text = _words(" ".join([*labels, soup.get_text(" ")]))
    if text:
        first = soup.find(True)
        kind = (first.get("class") or ["text"])[0] if first is not None else "text"
        outputs.texts.append((kind, text))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_outputs(cell) -> _Outputs:
    """Return what a code cell shows, read into glued values, tables, figures and text."""
    found = _Outputs()
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        scrap = output.get("metadata", {}).get("scrapbook", {})
        kind = output.get("output_type")
        if scrap.get("name"):
            prefix = scrap.get("mime_prefix", "application/papermill.record/")
            value = data.get(prefix + "text/plain")
            if value is None:
                value = json.dumps({k: v for k, v in data.items()}, sort_keys=True)
            found.glued[scrap["name"]] = str(value).strip("'\"")
        elif kind == "stream":
            found.texts.append((output.get("name", "stream"), _words(output.get("text", ""))))
        elif kind == "error":
            found.texts.append(("error", f"{output.get('ename')}: {output.get('evalue')}"))
        else:
            if PLOTLY_MIME in data:
                found.figures.append(data[PLOTLY_MIME])
            if "text/html" in data:
                _html_parts(data["text/html"], found, _digest)
            elif "image/png" in data:
                found.pictures.append(
                    (_words(data.get("text/plain", "")), _digest(data["image/png"]))
                )
            elif "text/plain" in data and PLOTLY_MIME not in data:
                found.texts.append(("text", _words(data["text/plain"])))
    return found


# --------------------------------------------------------------------------- comparing


def _is_id_like(values: list[str]) -> bool:
    given = [v for v in values if v]
    return bool(given) and all(_ID_LIKE.fullmatch(v) for v in given)


def _is_number_like(values: list[str]) -> bool:
    given = [v for v in values if v]
    return bool(given) and all(_NUMBER_LIKE.fullmatch(v) for v in given)


def row_labels(table: _Table) -> list[str]:
    """Return a name for each row of a table, as a reader would point at it.

    The row's headers when it has any; else its value in the first column of names (neither
    ids nor numbers), with the first column of ids beside it when the name repeats; else its
    id; else its number.
    """
    if any(table.headers):
        return table.headers
    columns = list(zip(*table.rows, strict=False)) if table.rows else []
    columns = [list(c) for c in columns]
    names = next(
        (c for c in columns if not _is_id_like(c) and not _is_number_like(c) and any(c)), None
    )
    ids = next((c for c in columns if _is_id_like(c) and len(set(c)) == len(c)), None)
    labels = []
    for number, _ in enumerate(table.rows):
        name = names[number] if names else ""
        ident = ids[number] if ids else ""
        if name and (names.count(name) == 1 or not ident):
            labels.append(name if names.count(name) == 1 else f"{name} (row {number + 1})")
        elif name:
            labels.append(f"{name} ({ident})")
        else:
            labels.append(ident or f"row {number + 1}")
    return labels


def _table_changes(chapter: str, old: _Table, new: _Table) -> list[Change]:
    where = (chapter, f"table {new.name}")
    group = new.name
    changes = []
    if old.caption != new.caption:
        changes.append(Change((*where, "caption"), old.caption, new.caption, "table", group))
    if old.columns != new.columns:
        changes.append(
            Change(
                (*where, "columns"), ", ".join(old.columns), ", ".join(new.columns), "table", group
            )
        )
    shared = [c for c in new.columns if c in old.columns]
    old_at = {c: old.columns.index(c) for c in shared}
    new_at = {c: new.columns.index(c) for c in shared}
    old_labels, new_labels = row_labels(old), row_labels(new)
    matcher = difflib.SequenceMatcher(None, old_labels, new_labels, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and a1 - a0 == b1 - b0):
            for i, j in zip(range(a0, a1), range(b0, b1), strict=True):
                for column in shared:
                    before = _at(old.rows[i], old_at[column])
                    after = _at(new.rows[j], new_at[column])
                    if before != after:
                        changes.append(
                            Change((*where, old_labels[i], column), before, after, "cell", group)
                        )
            continue
        for i in range(a0, a1):
            changes.append(
                Change((*where, old_labels[i]), " | ".join(old.rows[i]), None, "table", group)
            )
        for j in range(b0, b1):
            changes.append(
                Change((*where, new_labels[j]), None, " | ".join(new.rows[j]), "table", group)
            )
    return changes


def _at(row: list[str], position: int) -> str:
    return row[position] if position < len(row) else ""


def _plain(value) -> str:
    if isinstance(value, str):
        return _words(_TAGS.sub(" ", value))
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return json.dumps(value)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flatten(value: dict, prefix: str = "") -> dict:
    flat = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _point_label(trace: dict, key: str, index: int) -> str:
    """Return what names point ``index`` of a trace: its label, id, category or text."""
    for candidate in ("labels", "ids", "x", "y", "text", "node.label"):
        values = trace.get(candidate)
        if candidate == key or not isinstance(values, list) or index >= len(values):
            continue
        if key.rsplit(".", 1)[0] != candidate.rsplit(".", 1)[0] and "." in candidate + key:
            continue  # a link's value is not named by a node's label
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return _plain(values[index])
    return f"point {index + 1}"


def figure_title(figure: dict, number: int) -> str:
    """Return a figure's title as plain text, or ``figure N`` when it has none."""
    title = figure.get("layout", {}).get("title", {})
    text = title.get("text") if isinstance(title, dict) else title
    return f'figure "{_plain(text)}"' if text else f"figure {number}"


def _figure_changes(chapter: str, name: str, old: dict, new: dict) -> list[Change]:
    where = (chapter, name)
    changes = []
    old_traces, new_traces = old.get("data", []), new.get("data", [])
    several = max(len(old_traces), len(new_traces)) > 1
    for number in range(max(len(old_traces), len(new_traces))):
        a = _flatten(old_traces[number]) if number < len(old_traces) else None
        b = _flatten(new_traces[number]) if number < len(new_traces) else None
        trace = (a or b).get("name") or f"trace {number + 1}"
        place = (*where, f"trace {_plain(trace)}") if several else where
        if a is None or b is None:
            changes.append(
                Change(place, None if a is None else "", None if b is None else "", "figure", name)
            )
            continue
        for key in sorted(set(a) | set(b)):
            before, after = a.get(key), b.get(key)
            if before == after:
                continue
            if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
                differing = [
                    i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y
                ]
                for i in differing[:LISTED]:
                    changes.append(
                        Change(
                            (*place, _point_label(b, key, i), key),
                            _short(_plain(before[i])),
                            _short(_plain(after[i])),
                            "point",
                            name,
                        )
                    )
                if len(differing) > LISTED:
                    changes.append(
                        Change(
                            (*place, key),
                            f"{len(differing) - LISTED} more points as accepted",
                            "changed",
                            "figure",
                            name,
                        )
                    )
            else:
                changes.append(
                    Change(
                        (*place, key),
                        _short(_plain(before)) if before is not None else None,
                        _short(_plain(after)) if after is not None else None,
                        "point",
                        name,
                    )
                )
    old_layout = _flatten({k: v for k, v in old.get("layout", {}).items() if k != "template"})
    new_layout = _flatten({k: v for k, v in new.get("layout", {}).items() if k != "template"})
    for key in sorted(set(old_layout) | set(new_layout)):
        before, after = old_layout.get(key), new_layout.get(key)
        if before != after:
            changes.append(
                Change(
                    (*where, "layout", key),
                    _short(_plain(before)) if before is not None else None,
                    _short(_plain(after)) if after is not None else None,
                    "figure",
                    name,
                )
            )
    return changes


def _text_changes(where: tuple[str, ...], old: str, new: str) -> list[Change]:
    """Return each changed stretch of words between two texts, with a little context."""
    a, b = old.split(), new.split()
    changes = []
    context = 3
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        if len(changes) == 3:
            changes.append(Change(where, "as accepted", "more words changed", "text"))
            break
        start_a, end_a = max(0, a0 - context), min(len(a), a1 + context)
        start_b, end_b = max(0, b0 - context), min(len(b), b1 + context)
        before = (
            ("…" if start_a else "") + " ".join(a[start_a:end_a]) + ("…" if end_a < len(a) else "")
        )
        after = (
            ("…" if start_b else "") + " ".join(b[start_b:end_b]) + ("…" if end_b < len(b) else "")
        )
        changes.append(Change(where, _short(before, 160), _short(after, 160), "text"))
    return changes


def _paired(old: list, new: list, key) -> Iterable[tuple]:
    """Pair two lists by ``key`` (in order among equal keys); a missing side is None."""
    matcher = difflib.SequenceMatcher(None, [key(o) for o in old], [key(n) for n in new], False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and a1 - a0 == b1 - b0):
            yield from zip(old[a0:a1], new[b0:b1], strict=True)
        else:
            for item in old[a0:a1]:
                yield item, None
            for item in new[b0:b1]:
                yield None, item


def cell_changes(chapter: str, number: int, old_cell, new_cell) -> list[Change]:
    """Return what changed between two executions of the same code cell, in a reader's words."""
    old, new = read_outputs(old_cell), read_outputs(new_cell)
    changes = []
    for name in dict.fromkeys([*old.glued, *new.glued]):
        before, after = old.glued.get(name), new.glued.get(name)
        if before != after:
            changes.append(Change((chapter, f"value {name}"), before, after, "value", name))
    for a, b in _paired(old.tables, new.tables, lambda t: t.name):
        if a is None or b is None:
            table = a or b
            changes.append(
                Change(
                    (chapter, f"table {table.name}"),
                    table.caption if a else None,
                    table.caption if b else None,
                    "table",
                    table.name,
                )
            )
        else:
            changes += _table_changes(chapter, a, b)
    for index, (a, b) in enumerate(
        _paired(old.figures, new.figures, lambda f: figure_title(f, 0)), start=1
    ):
        name = figure_title(b or a, index)
        if a is None or b is None:
            changes.append(
                Change((chapter, name), "" if a else None, "" if b else None, "figure", name)
            )
        else:
            changes += _figure_changes(chapter, name, a, b)
    for a, b in _paired(old.pictures, new.pictures, lambda p: p[0]):
        label = f'picture "{_short((a or b)[0], 60)}"'
        if a is None or b is None:
            changes.append(
                Change((chapter, label), "" if a else None, "" if b else None, "figure", label)
            )
        elif a[0] != b[0]:
            changes.append(Change((chapter, label, "alt text"), a[0], b[0], "figure", label))
        elif a[1] != b[1]:
            changes.append(Change((chapter, label), "as accepted", "redrawn", "figure", label))
    where = (chapter, f"code cell {number}")
    for a, b in _paired(old.texts, new.texts, lambda t: t[0]):
        if a is not None and b is not None and a[0] == b[0] == "provenance":
            files = _digest_changes(chapter, a[1], b[1])
            if files is not None:
                changes += files
                continue
        if a is None or b is None:
            kind, text = a or b
            changes.append(
                Change(
                    (*where, kind),
                    _short(text, 160) if a else None,
                    _short(text, 160) if b else None,
                    "text",
                )
            )
        elif a[1] != b[1]:
            changes += _text_changes((*where, a[0]), a[1], b[1])
    return changes


def _digest_changes(chapter: str, old: str, new: str) -> list[Change] | None:
    """Return the data files whose digest changed between two provenance lines.

    None when the lines differ in anything else (then they are compared as text).
    """
    if _FILE_DIGEST.sub("(DIGEST)", old) != _FILE_DIGEST.sub("(DIGEST)", new):
        return None
    before, after = dict(_FILE_DIGEST.findall(old)), dict(_FILE_DIGEST.findall(new))
    return [
        Change((chapter, f"data file {name}"), before[name], after[name], "data")
        for name in before
        if before[name] != after[name]
    ]


def figure_data_diffs(expected, obtained, chapter: str) -> list[str]:
    """Return a unified diff of each plotly figure whose data or layout changed (the raw view).

    Parameters
    ----------
    expected, obtained
        Two executions of the same notebook (same code cells).
    chapter
        Named in each diff's header.
    """
    diffs = []
    pairs = zip(_code_cells(expected), _code_cells(obtained), strict=False)
    for number, (old_cell, new_cell) in enumerate(pairs, start=1):
        old = [j for j in map(figure_json, old_cell.get("outputs", [])) if j is not None]
        new = [j for j in map(figure_json, new_cell.get("outputs", [])) if j is not None]
        for index in range(max(len(old), len(new))):
            before = old[index] if index < len(old) else ""
            after = new[index] if index < len(new) else ""
            if before == after:
                continue
            where = f"{chapter}, code cell {number} ({_first_line(new_cell)}), figure {index + 1}"
            diff = difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                fromfile=f"expected: {where}",
                tofile=f"obtained: {where}",
                lineterm="",
            )
            diffs.append("\n".join(diff))
    return diffs


def figure_json(output) -> str | None:
    """Return a plotly output's data and layout as canonical JSON, or None for other outputs.

    The layout's template (thousands of lines of plotly defaults) is left out: it is the same
    for every figure and says nothing about the results.
    """
    figure = output.get("data", {}).get(PLOTLY_MIME)
    if figure is None:
        return None
    layout = {k: v for k, v in figure.get("layout", {}).items() if k != "template"}
    return json.dumps({"data": figure.get("data", []), "layout": layout}, indent=1, sort_keys=True)


def _changed_cells(diff: list) -> list[int]:
    """Return the indices of the cells touched by a notebook diff."""
    found = []
    for entry in diff:
        if entry.get("key") == "cells":
            for sub in entry.get("diff", []):
                key = sub.get("key")
                if sub.get("op") == "addrange":
                    found += range(key, key + len(sub.get("valuelist", [])))
                elif isinstance(key, int):
                    found.append(key)
    return sorted(set(found))


def _errors(notebook) -> list[str]:
    return [
        f"code cell {number} raised {output.get('ename')}: {output.get('evalue')}"
        for number, cell in enumerate(_code_cells(notebook), start=1)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def _code_changed(source: Path, reference: Path, expected, current) -> str | None:
    old_code = [cell.source for cell in _code_cells(expected)]
    new_code = [cell.source for cell in _code_cells(current)]
    if old_code == new_code:
        return None
    diff = difflib.unified_diff(
        "\n\n".join(old_code).splitlines(),
        "\n\n".join(new_code).splitlines(),
        fromfile=f"{reference} (code when accepted)",
        tofile=f"{source} (code now)",
        lineterm="",
    )
    return (
        "its code changed since its reference outputs were accepted; check the new outputs "
        "and run `make accept`.\n" + "\n".join(diff)
    )


def compare(source: Path, executed, reference: Path | None = None) -> Verdict:
    """Compare an executed chapter's outputs with its reference, without executing anything.

    Parameters
    ----------
    source
        The chapter (MyST Markdown notebook or ``.ipynb``), as it is now.
    executed
        The chapter executed (by :func:`verify_chapter`, or ``make book`` into its cache).
    reference
        The accepted executed notebook; by default :func:`reference_path`.

    Returns
    -------
    Verdict
        ``ok`` when every output matches; otherwise the changes in a reviewer's words and
        the raw diff.
    """
    import nbformat
    from pytest_notebook.diffing import diff_notebooks, diff_to_string, filter_diff

    source = Path(source)
    name = chapter_name(source)
    reference = Path(reference) if reference else reference_path(source)
    verdict = Verdict(name, reference=reference.name)
    if not reference.is_file():
        verdict.problems.append(f"no reference outputs at {reference}; run `make accept`")
        return verdict
    expected = nbformat.read(reference, as_version=4)
    current = read_notebook(source)
    changed = _code_changed(source, reference, expected, current)
    if changed:
        verdict.problems.append(changed)
        return verdict
    if [c.source for c in _code_cells(executed)] != [c.source for c in _code_cells(current)]:
        verdict.problems.append(
            "the executed notebook does not hold the chapter's current code; execute it again"
        )
        return verdict
    old, new = comparable(current, expected), comparable(current, executed)
    verdict.problems += _errors(new)
    raw = filter_diff(diff_notebooks(old, new), list(DIFF_IGNORE))
    figures = figure_data_diffs(old, new, name)
    if not raw and not figures:
        return verdict
    numbers = {index: n for n, index in enumerate(_code_index(current), start=1)}
    touched = set(_changed_cells(raw)) | {
        index
        for index, cell in enumerate(new.cells)
        if cell.cell_type == "code"
        and [figure_json(o) for o in cell.outputs]
        != [figure_json(o) for o in old.cells[index].outputs]
    }
    for index in sorted(touched):
        if index not in numbers:
            verdict.changes.append(
                Change((name, f"cell {index}"), "as accepted", "changed", "text")
            )
            continue
        found = cell_changes(name, numbers[index], old.cells[index], new.cells[index])
        # A data file named by several provenance lines is reported once.
        verdict.changes += [c for c in dict.fromkeys(found) if c not in verdict.changes]
        verdict.changes += (
            []
            if found
            else [
                Change(
                    (name, f"code cell {numbers[index]} ({_first_line(new.cells[index])})"),
                    "outputs as accepted",
                    "outputs differ (see the raw diff: --verbose)",
                    "text",
                )
            ]
        )
    text = diff_to_string(old, raw, use_color=False) if raw else ""
    verdict.raw = "\n".join(filter(None, [text, *figures]))
    return verdict


def _code_index(notebook) -> list[int]:
    """Return the positions of the code cells in the notebook."""
    return [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


# --------------------------------------------------------------------------- executing


def verify_chapter(
    source: Path, reference: Path | None = None, timeout: int = 300, env: dict | None = None
) -> Verdict:
    """Execute one chapter from scratch and compare its outputs with the reference.

    Parameters
    ----------
    source
        The chapter (MyST Markdown notebook or ``.ipynb``).
    reference
        The accepted executed notebook; by default :func:`reference_path`.
    timeout
        Seconds allowed per cell.
    env
        Environment of the kernel (default: this process's), e.g. another ``COMPENDIUM_DATA``.
    """
    return verify_chapters([Path(source)], {Path(source): reference}, timeout, env=env)[0]


def verify_chapters(
    sources: list[Path],
    references: dict[Path, Path | None] | None = None,
    timeout: int = 300,
    workers: int = 2,
    env: dict | None = None,
    on_verdict=None,
) -> list[Verdict]:
    """Execute chapters from scratch, ``workers`` at a time, and compare each with its reference.

    A chapter whose code changed since it was accepted, or that has no reference, is not
    executed. ``on_verdict`` is called with each verdict as soon as it is known.
    """
    import nbformat

    references = references or {}
    verdicts: dict[Path, Verdict] = {}
    jobs = []
    for source in sources:
        reference = Path(references.get(source) or reference_path(source))
        current = read_notebook(source)
        problem = None
        if not reference.is_file():
            problem = f"no reference outputs at {reference}; run `make accept`"
        else:
            problem = _code_changed(
                source, reference, nbformat.read(reference, as_version=4), current
            )
        if problem:
            verdicts[source] = Verdict(
                chapter_name(source), problems=[problem], reference=reference.name
            )
            if on_verdict:
                on_verdict(verdicts[source])
        else:
            jobs.append((source, current))

    def done(outcome) -> None:
        reference = references.get(outcome.source)
        if outcome.error and not _errors(outcome.notebook):
            verdict = Verdict(chapter_name(outcome.source), problems=[outcome.error])
        else:
            verdict = compare(outcome.source, outcome.notebook, reference)
        verdicts[outcome.source] = verdict
        if on_verdict:
            on_verdict(verdict)

    execute_notebooks(
        jobs, workers=workers, timeout=timeout, allow_errors=True, env=env, on_done=done
    )
    return [verdicts[source] for source in sources]


def accept(book: Book, reference_dir: Path = REFERENCE_DIR, workers: int = 2, log=print) -> int:
    """Re-execute every notebook chapter of ``book`` and write its outputs as the reference.

    Nothing is written unless every chapter executes without error; references of chapters
    no longer in the table of contents are removed.

    Returns
    -------
    int
        0 on success, 1 when a chapter failed (its error is printed).
    """
    import nbformat
    from pytest_notebook.post_processors import coalesce_streams

    chapters = notebook_chapters(book)
    outcomes = execute_notebooks(
        [(source, read_notebook(source)) for source in chapters],
        workers=workers,
        timeout=int(book.config().get("timeout", 300)),
    )
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        log(f"accept: {chapter_name(outcome.source)} failed:\n{outcome.error}")
    if failed:
        log("accept: no reference written")
        return 1
    reference_dir = Path(reference_dir)
    reference_dir.mkdir(parents=True, exist_ok=True)
    written = set()
    for outcome in outcomes:
        notebook, _ = coalesce_streams(outcome.notebook, {})  # as the comparison does
        notebook.metadata.pop("source_map", None)
        stabilise(notebook)
        target = reference_path(outcome.source, reference_dir)
        write_atomically(target, nbformat.writes(notebook).encode("utf-8") + b"\n")
        written.add(target)
        log(f"accept: wrote {target.relative_to(reference_dir.parent.parent)}")
    for old in reference_dir.glob("*.ipynb"):
        if old not in written:
            old.unlink()
            log(f"accept: removed {old.name} (no longer in the table of contents)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``accept``: write new references; ``verify``: execute, compare and report each chapter."""
    parser = argparse.ArgumentParser(prog="python -m compendium.build.verification")
    parser.add_argument("command", choices=["accept", "verify"])
    parser.add_argument("--toc", default="_toc.yml", help="table of contents (default _toc.yml)")
    parser.add_argument("--workers", type=int, default=2, help="kernels at once (default 2)")
    parser.add_argument(
        "--verbose", action="store_true", help="show the raw notebook diff after each report"
    )
    add_debug_flag(parser)
    usage_errors(parser, "verification")
    args = parser.parse_args(argv)

    def show(verdict: Verdict) -> None:
        print(verdict.text(verbose=args.verbose), flush=True)

    def run() -> int:
        book = Book(paths.ROOT, Path(args.toc))
        if args.command == "accept":
            return accept(book, workers=args.workers)
        chapters = notebook_chapters(book)
        print(f"verify: executing {len(chapters)} chapters from scratch ({args.workers} kernels)")
        verdicts = verify_chapters(
            chapters,
            timeout=int(book.config().get("timeout", 300)),
            workers=args.workers,
            on_verdict=show,
        )
        print(summary(verdicts))
        return 0 if all(v.ok for v in verdicts) else 1

    return guarded(args.command, run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
