"""``make verify``: each chapter, re-executed from scratch, reproduces its accepted outputs.

The first test runs once per notebook chapter of ``_toc.yml`` and fails with the chapter's
``-expected / +obtained`` diff. The others prove that the comparison sees a one-number change,
a changed figure and changed code, and says so readably. After an intended change, run
``make accept`` and commit ``tests/reference``.
"""

from __future__ import annotations

import copy
import json
import re

import nbformat
import pytest

from compendium import paths
from compendium.build.execution import Book
from compendium.build.verification import (
    PLOTLY_MIME,
    figure_data_diffs,
    notebook_chapters,
    reference_path,
    verify_chapter,
)

CHAPTERS = notebook_chapters(Book(paths.ROOT))


@pytest.mark.parametrize("source", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_reproduces_its_reference(source, nb_regression):
    verdict = verify_chapter(source, fixture=nb_regression)
    if not verdict.ok:
        pytest.fail(verdict.report, pytrace=False)


def _tamper_one_number(reference, target):
    """Copy ``reference`` to ``target`` with one table number changed; return (old, new)."""
    notebook = nbformat.read(reference, as_version=4)
    for cell in notebook.cells:
        if "volatile" in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            match = html and re.search(r"(<td[^>]*>)(\d+)(</td>)", html)
            if match:
                old, new = match.group(2), str(int(match.group(2)) + 9000)
                output["data"]["text/html"] = html.replace(
                    match.group(0), f"{match.group(1)}{new}{match.group(3)}", 1
                )
                nbformat.write(notebook, target)
                return old, new
    pytest.fail(f"{reference} has no table number to tamper with")


def test_a_changed_number_shows_as_a_readable_diff(tmp_path):
    source = paths.BOOK_DIR / "provenance.md"
    tampered = tmp_path / "provenance.ipynb"
    old, new = _tamper_one_number(reference_path(source), tampered)
    verdict = verify_chapter(source, tampered)
    assert not verdict.ok
    report = verdict.report
    assert report.startswith("provenance (provenance.md): outputs differ in cell")
    assert re.search(rf"^-.*>{new}<", report, re.MULTILINE), report
    assert re.search(rf"^\+.*>{old}<", report, re.MULTILINE), report
    assert "T_provenance" in report or "<td" in report  # the table's own lines, not a blob


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


def test_figure_data_are_compared_with_a_readable_diff():
    expected = _figure_notebook([41, 12])
    obtained = _figure_notebook([42, 12])
    assert figure_data_diffs(expected, copy.deepcopy(expected), "trace") == []
    (diff,) = figure_data_diffs(expected, obtained, "trace")
    assert "expected: trace, code cell 1 (chapter.show(fig)), figure 1" in diff
    assert re.search(r"^-\s+41,?$", diff, re.MULTILINE) and re.search(
        r"^\+\s+42,?$", diff, re.MULTILINE
    )
    assert "template" not in diff


def test_references_hold_figure_data_for_every_plotly_output():
    """The comparison above has something to compare: references keep the plotly JSON."""
    for source in CHAPTERS:
        reference = reference_path(source)
        if not reference.is_file():
            continue
        for cell in nbformat.read(reference, as_version=4).cells:
            for output in cell.get("outputs", []):
                html = output.get("data", {}).get("text/html", "")
                if "plotly-graph-div" in html:
                    figure = output["data"].get(PLOTLY_MIME)
                    assert figure and json.dumps(figure["data"]), (
                        f"{reference}: figure without data"
                    )


def test_stabilising_a_reference_twice_changes_nothing():
    import copy

    import nbformat

    from compendium.build.verification import stabilise

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
