"""Re-execute chapters from scratch and compare them with their accepted reference outputs.

A reviewer runs ``make verify``: every chapter in the table of contents is executed in a fresh
kernel (nbclient, through pytest-notebook's :class:`~pytest_notebook.nb_regression.NBRegressionFixture`)
and its outputs are compared with ``tests/reference/<chapter>.ipynb``. The verdict names the
chapter and each cell that changed, with a ``-expected / +obtained`` diff of the output text.

Parts of an output that change from run to run without meaning anything are normalised first:
execution counts and metadata, ``language_info``, image bytes, pandas Styler ids, object
addresses, plotly's random ``<div>`` ids and the git commit in provenance lines; a cell tagged
``volatile`` (the provenance page's software versions) is not compared at all. Plotly figures
are not skipped: their HTML, which is unreadable as a diff, is set aside, and each figure's data
and layout are compared as canonical JSON instead, again with a ``-/+`` diff.

After an intended change, ``make accept`` (``python -m compendium.build.verification accept``)
re-executes every chapter and writes its outputs as the new references, to be reviewed and
committed like code.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from compendium import paths
from compendium.build.execution import Book, execute_notebooks, read_notebook
from compendium.contract.writing import write_atomically
from compendium.failures import add_debug_flag, guarded, usage_errors

REFERENCE_DIR = paths.ROOT / "tests" / "reference"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: Cells with this tag describe the machine that ran them; their outputs are not compared.
VOLATILE_TAG = "volatile"

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


@dataclass
class Verdict:
    """The outcome of verifying one chapter."""

    chapter: str
    ok: bool
    report: str

    def __str__(self) -> str:
        return self.report


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


def figure_data_diffs(expected, obtained, chapter: str) -> list[str]:
    """Return a unified diff for each plotly figure whose data or layout changed.

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


def verify_chapter(
    source: Path, reference: Path | None = None, timeout: int = 300, fixture=None
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
    fixture
        An :class:`~pytest_notebook.nb_regression.NBRegressionFixture` to use (the pytest
        ``nb_regression`` fixture, say); its diff settings are replaced by this module's.

    Returns
    -------
    Verdict
        ``ok`` when every output matches; otherwise a report naming the chapter, the changed
        cells and the ``-expected / +obtained`` lines.
    """
    import nbformat
    from pytest_notebook.nb_regression import NBRegressionFixture

    source = Path(source)
    name = chapter_name(source)
    reference = Path(reference) if reference else reference_path(source)
    shown = f"{name} ({source.name})"
    if not reference.is_file():
        return Verdict(
            name, False, f"{shown}: no reference outputs at {reference}; run `make accept`"
        )
    expected = nbformat.read(reference, as_version=4)
    current = read_notebook(source)
    old_code = [cell.source for cell in _code_cells(expected)]
    new_code = [cell.source for cell in _code_cells(current)]
    if old_code != new_code:
        diff = difflib.unified_diff(
            "\n\n".join(old_code).splitlines(),
            "\n\n".join(new_code).splitlines(),
            fromfile=f"{reference} (code when accepted)",
            tofile=f"{source} (code now)",
            lineterm="",
        )
        return Verdict(
            name,
            False,
            f"{shown}: its code changed since its reference outputs were accepted; check the "
            "new outputs and run `make accept`.\n" + "\n".join(diff),
        )
    # The chapter as it is now, carrying the accepted outputs: executing it must reproduce them.
    for cell, accepted in zip(_code_cells(current), _code_cells(expected), strict=True):
        cell.outputs = accepted.get("outputs", [])
        cell.execution_count = accepted.get("execution_count")
    # Outputs that describe the machine rather than the results (cells tagged "volatile").
    volatile = tuple(
        f"/cells/{index}/outputs"
        for index, cell in enumerate(current.cells)
        if VOLATILE_TAG in cell.get("metadata", {}).get("tags", [])
    )
    fixture = fixture or NBRegressionFixture()
    fixture.diff_ignore = DIFF_IGNORE + volatile
    fixture.diff_replace = DIFF_REPLACE
    fixture.diff_use_color = False
    fixture.exec_timeout = timeout
    fixture.exec_cwd = str(source.parent.resolve())
    fixture.exec_allow_errors = False
    fixture.force_regen = False
    with tempfile.TemporaryDirectory() as folder:
        initial = Path(folder) / f"{name}.ipynb"
        nbformat.write(current, initial)
        result = fixture.check(str(initial), raise_errors=False)
    problems = []
    errors = _errors(result.nb_final)
    if errors:
        problems.append("; ".join(errors))
    if result.diff_filtered:
        cells = _code_index(result.nb_initial)
        lines = [
            f"cell {index} (code cell {cells[index]}: {_first_line(result.nb_initial.cells[index])})"
            if index in cells
            else f"cell {index}"
            for index in _changed_cells(result.diff_filtered)
        ]
        problems.append(
            "outputs differ in "
            + ", ".join(lines)
            + result.diff_string.replace("--- expected\n+++ obtained", f"--- {reference}\n+++ now")
        )
    figures = figure_data_diffs(expected, result.nb_final, name)
    if figures:
        problems.append(f"{len(figures)} figure(s) changed data:\n" + "\n".join(figures))
    if not problems:
        return Verdict(name, True, f"{shown}: outputs match {reference.name}")
    return Verdict(name, False, f"{shown}: " + "\n".join(problems))


def _code_index(notebook) -> dict[int, int]:
    """Map each code cell's position in the notebook to its number among code cells."""
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    return {index: number for number, index in enumerate(code, start=1)}


def stabilise(notebook) -> None:
    """Make a reference notebook diff cleanly: fixed cell ids, volatile output text replaced.

    The replacements are those :data:`DIFF_REPLACE` applies before comparing (each leaves
    its own output unmatched, so applying it twice changes nothing), so verifying is
    unaffected; re-accepting unchanged chapters leaves ``tests/reference`` unchanged. Plotly
    HTML is dropped: each figure's data stays in its JSON output, compared on its own.
    """
    textual = [(re.compile(pattern), new) for _, pattern, new in DIFF_REPLACE]

    def clean(text: str) -> str:
        for pattern, new in textual:
            text = pattern.sub(new, text)
        return text

    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                output["text"] = clean(output["text"])
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output["data"][mime] = clean(value)


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
        notebook, _ = coalesce_streams(outcome.notebook, {})  # as the fixture does
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
    """``accept``: write new references; ``verify``: print each chapter's verdict."""
    parser = argparse.ArgumentParser(prog="python -m compendium.build.verification")
    parser.add_argument("command", choices=["accept", "verify"])
    parser.add_argument("--toc", default="_toc.yml", help="table of contents (default _toc.yml)")
    add_debug_flag(parser)
    usage_errors(parser, "verification")
    args = parser.parse_args(argv)

    def run() -> int:
        book = Book(paths.ROOT, Path(args.toc))
        if args.command == "accept":
            return accept(book)
        verdicts = [verify_chapter(source) for source in notebook_chapters(book)]
        for verdict in verdicts:
            print(verdict, end="\n\n")
        return 0 if all(v.ok for v in verdicts) else 1

    return guarded(args.command, run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
