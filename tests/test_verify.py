"""Verification: each chapter's outputs match its accepted reference, and a change reads well.

The first test runs once per notebook chapter of ``_toc.yml``: it compares the outputs that
``make book`` executed (shared by the whole run, see ``conftest.book_chapter``) with
``tests/reference``, without executing the chapter again. ``make verify`` is the reviewer's
from-scratch run; the recoding test below runs that path end to end on one chapter. The other
tests prove that a one-number change, a changed figure and changed code are reported in a
reviewer's words. After an intended change, run ``make accept`` and commit ``tests/reference``.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import edit_csv

from compendium import paths
from compendium.build.execution import Book
from compendium.build.verification import (
    PLOTLY_MIME,
    cell_changes,
    compare,
    figure_data_diffs,
    notebook_chapters,
    reference_path,
    stabilise,
    summary,
    verify_chapter,
)
from compendium.contract.loading import file_sha256, load_study

CHAPTERS = notebook_chapters(Book(paths.ROOT))


@pytest.mark.slow
@pytest.mark.parametrize("source", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_reproduces_its_reference(source, book_chapter):
    verdict = compare(source, book_chapter(source.stem))
    if not verdict.ok:
        pytest.fail(verdict.text(verbose=True), pytrace=False)


def _recode_one_segment(package) -> str:
    """Recode, in ``package``, the one segment by which S2-SU10 holds a positive view of peer
    support (A2-1.1.1) as neutral or mixed (A2-1.1.2); return the segment's id."""
    study = load_study(package)
    coded = study.codings.merge(study.segments, on="segment_id")
    positive = coded[(coded["code_id"] == "A2-1.1.1") & (coded["participant_id"] == "S2-SU10")]
    (segment,) = positive["segment_id"]
    assert not ((coded["participant_id"] == "S2-SU10") & (coded["code_id"] == "A2-1.1.2")).any()
    line = study.codings.index[
        (study.codings["segment_id"] == segment) & (study.codings["code_id"] == "A2-1.1.1")
    ][0]
    edit_csv(package / "codings.csv", int(line) + 2, "code_id", "A2-1.1.2")
    return segment


@pytest.mark.slow
def test_recoding_one_segment_reads_as_the_cells_values_and_points_it_changed(package_copy):
    """The issue's example: one segment recoded, ``make verify``'s path executes the chapter."""
    _recode_one_segment(package_copy)
    before = file_sha256(paths.DEFAULT_DATA_DIR / "codings.csv")[:8]
    after = file_sha256(package_copy / "codings.csv")[:8]
    verdict = verify_chapter(
        paths.BOOK_DIR / "service-user-interviews.md",
        env={**os.environ, "COMPENDIUM_DATA": str(package_copy)},
    )
    chapter = "service-user-interviews"
    themes = f"{chapter} › table themes-A2-INT"
    breakdown = f"{chapter} › table breakdown-A2-1-1"
    figure = f'{chapter} › figure "CRT service-user interviews: codebook"'
    assert verdict.lines() == [
        f"{themes} › Positive view › Sources: 31 → 30",
        f"{themes} › Positive view › References: 43 → 42",
        f"{themes} › Neutral or mixed view › Sources: 7 → 8",
        f"{themes} › Neutral or mixed view › References: 7 → 8",
        f"{chapter} › data file codings.csv: {before} → {after}",
        f"{chapter} › value A2-1.1.1_sources: 31 → 30",
        f"{chapter} › value A2-1.1.1_references: 43 → 42",
        f"{chapter} › value A2-1.1.1_percent: 78 → 75",
        f"{chapter} › value A2-1.1.2_sources: 7 → 8",
        f"{chapter} › value A2-1.1.2_references: 7 → 8",
        f"{chapter} › value A2-1.1.2_percent: 18† → 20†",  # marked as the table marks it
        f"{breakdown} › Positive view › Sources: 31 → 30",
        f"{breakdown} › Positive view › References: 43 → 42",
        f"{breakdown} › Positive view › % of sources: 78 → 75",
        f"{breakdown} › Neutral or mixed view › Sources: 7 → 8",
        f"{breakdown} › Neutral or mixed view › References: 7 → 8",
        f"{breakdown} › Neutral or mixed view › % of sources: 18† → 20†",
        f"{figure} › Positive view › customdata: Positive view, 31, 43 → Positive view, 30, 42",
        f"{figure} › Neutral or mixed view › customdata: Neutral or mixed view, 7, 7 → "
        "Neutral or mixed view, 8, 8",
        f"{figure} › Positive view › values: 43 → 42",
        f"{figure} › Neutral or mixed view › values: 7 → 8",
    ]
    assert summary([verdict]) == (
        "verify: 1 of 1 chapter changed: 2 tables, 1 figure, 20 values (10 in tables, 6 glued, "
        "4 in figures), 1 data file read"
    )
    assert verdict.raw not in verdict.text()
    assert re.search(r"^-.*>31<", verdict.text(verbose=True), re.MULTILINE)
    assert re.search(r"^\+.*>30<", verdict.text(verbose=True), re.MULTILINE)


def _tamper_rows(reference, target, file_name: str) -> tuple[int, int]:
    """Copy ``reference`` to ``target`` with the provenance page's row count of ``file_name``
    raised by 9000; return (accepted, tampered)."""
    notebook = nbformat.read(reference, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            if 'id="T_provenance-files"' not in html:
                continue
            soup = BeautifulSoup(html, "html.parser")
            header = [th.get_text(strip=True) for th in soup.find("thead").find_all("th")]
            for row in soup.find("tbody").find_all("tr"):
                cells = row.find_all(["th", "td"])
                if cells[header.index("File")].get_text(strip=True) == file_name:
                    cell = cells[header.index("Rows")]
                    accepted = int(cell.get_text(strip=True))
                    cell.string = str(accepted + 9000)
                    output["data"]["text/html"] = str(soup)
                    nbformat.write(notebook, target)
                    return accepted, accepted + 9000
    pytest.fail(f"{reference} has no row count of {file_name}")


@pytest.mark.slow
def test_a_changed_number_is_named_by_table_row_and_column(tmp_path, book_chapter, study):
    source = paths.BOOK_DIR / "provenance.md"
    tampered = tmp_path / "provenance.ipynb"
    accepted, changed = _tamper_rows(reference_path(source), tampered, "codings.csv")
    assert accepted == len(study.codings)
    verdict = compare(source, book_chapter("provenance"), tampered)
    assert verdict.lines() == [
        f"provenance › table provenance-files › codings.csv › Rows: {changed} → {accepted}"
    ]
    raw = verdict.text(verbose=True)
    assert re.search(rf"^-.*>{changed}<", raw, re.MULTILINE), raw
    assert re.search(rf"^\+.*>{accepted}<", raw, re.MULTILINE), raw


def test_changed_code_asks_for_accept(tmp_path):
    source = tmp_path / "provenance.md"
    text = (paths.BOOK_DIR / "provenance.md").read_text()
    source.write_text(
        text.replace(
            "files = provenance.data_files_table(study)",
            "files = provenance.data_files_table(study).head(3)",
        )
    )
    verdict = verify_chapter(source, reference_path(paths.BOOK_DIR / "provenance.md"))
    assert not verdict.ok
    assert "its code changed since its reference outputs were accepted" in verdict.report
    assert "-files = provenance.data_files_table(study)" in verdict.report
    assert "+files = provenance.data_files_table(study).head(3)" in verdict.report
    assert "make accept" in verdict.report


def test_a_missing_reference_says_how_to_make_one(tmp_path):
    verdict = verify_chapter(paths.BOOK_DIR / "provenance.md", tmp_path / "none.ipynb")
    assert not verdict.ok and "run `make accept`" in verdict.report


def _figure_notebook(y):
    figure = {
        "data": [{"type": "bar", "x": ["a", "b"], "y": y}],
        "layout": {"title": {"text": "T"}, "template": {"data": {}}},
    }
    cell = nbformat.v4.new_code_cell("chapter.show(fig)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={PLOTLY_MIME: figure, "text/html": "<div></div>"}
        )
    ]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), cell])


def test_figure_data_are_compared_trace_by_trace():
    expected = _figure_notebook([41, 12])
    obtained = _figure_notebook([42, 12])
    assert figure_data_diffs(expected, copy.deepcopy(expected), "trace") == []
    changes = cell_changes("trace", 1, expected.cells[1], obtained.cells[1])
    assert [str(c) for c in changes] == ['trace › figure "T" › a › y: 41 → 42']
    (diff,) = figure_data_diffs(expected, obtained, "trace")
    assert "expected: trace, code cell 1 (chapter.show(fig)), figure 1" in diff
    assert re.search(r"^-\s+41,?$", diff, re.MULTILINE) and re.search(
        r"^\+\s+42,?$", diff, re.MULTILINE
    )
    assert "template" not in diff


def test_a_table_that_gains_a_row_says_which(tmp_path):
    def notebook(rows):
        body = "".join(f"<tr><td>{name}</td><td>{n}</td></tr>" for name, n in rows)
        html = (
            '<table id="T_sizes"><thead><tr><th>Site</th><th>People</th></tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )
        cell = nbformat.v4.new_code_cell("chapter.show(sizes)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html})]
        return cell

    old = notebook([("North", "4"), ("South", "5")])
    new = notebook([("North", "4"), ("East", "1"), ("South", "6")])
    assert [str(c) for c in cell_changes("sites", 2, old, new)] == [
        "sites › table sizes › East: added: East | 1",
        "sites › table sizes › South › People: 5 → 6",
    ]


@pytest.mark.slow
def test_references_hold_figure_data_for_every_plotly_output(book_chapter):
    """The figure comparison has something to compare: every plotly figure the book shows has
    its data in the reference, where accepting dropped the figure's HTML."""
    figures = 0
    for source in CHAPTERS:
        shown = [
            output["data"].get(PLOTLY_MIME)
            for cell in book_chapter(source.stem).cells
            for output in cell.get("outputs", [])
            if "plotly-graph-div" in output.get("data", {}).get("text/html", "")
        ]
        kept = [
            output["data"].get(PLOTLY_MIME)
            for cell in nbformat.read(reference_path(source), as_version=4).cells
            for output in cell.get("outputs", [])
            if "[plotly figure: compared as figure data]"
            in output.get("data", {}).get("text/html", "")
        ]
        assert len(kept) == len(shown), source.stem
        assert all(figure and figure["data"] for figure in kept), source.stem
        figures += len(shown)
    assert figures >= 5


def test_stabilising_a_reference_twice_changes_nothing():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "x",
                outputs=[
                    nbformat.v4.new_output(
                        "execute_result",
                        data={
                            "text/plain": "<Styler at 0xADD5>",
                            "text/html": '<p class="provenance">commit <code>abc1234+dirty</code>.</p>',
                        },
                    )
                ],
            )
        ]
    )
    stabilise(notebook)
    once = copy.deepcopy(notebook)
    stabilise(notebook)
    assert notebook == once
    data = notebook.cells[0].outputs[0]["data"]
    assert data["text/plain"] == "<Styler at ADDRESS>"
    assert "commit <code>COMMIT</code>" in data["text/html"]
    assert notebook.cells[0]["id"] == "cell-0"


def test_make_verify_executes_from_scratch_and_verbose_shows_the_raw_diff():
    def dry(*variables):
        return subprocess.run(
            ["make", "-n", "--no-print-directory", "verify", *variables],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "-m compendium.build.verification verify" in dry()
    assert "--verbose" not in dry() and "--verbose" in dry("VERBOSE=1")
