"""The reader features of ``compendium.sphinx_ext``, on a throwaway book built like the real one.

A root page that mentions glossary terms and cites a work, a notebook chapter, a glossary
page and a bibliography page are built with the project's ``_config.yml`` and the exact
command ``make book`` runs (see ``conftest.build_tiny_book``).
"""

from __future__ import annotations

from types import SimpleNamespace

import nbformat
import pytest
from bs4 import BeautifulSoup
from pybtex.database import parse_string

from compendium.build import sphinx_ext
from compendium.presentation import glossary

from .conftest import build_tiny_book, notebook_page

ROOT = (
    "# A reader's book\n\n"
    "A crisis resolution team (CRT) offers care at home; the CRT then hands over.\n"
    "Its programme was described by {cite:t}`milton2017`.\n\n"
    "## Peer support\n\nPeer support, and `peer support` in code, and peer support again.\n"
)
GLOSSARY = (
    "# Glossary\n\n```{compendium-glossary} general\n```\n\n```{compendium-glossary} study\n```\n"
)
BIBLIOGRAPHY = "# References\n\n```{bibliography}\n```\n"


@pytest.fixture(scope="module")
def reader_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader-book")
    chapter = notebook_page("Working chapter", "print(6 * 7)", "answer = 42")
    build = build_tiny_book(
        root,
        {
            "index": ROOT,
            "working-chapter": chapter,
            "glossary": GLOSSARY,
            "bibliography": BIBLIOGRAPHY,
        },
    )
    assert build.returncode == 0, build.stdout[-4000:]
    return root / "_build" / "html"


def _soup(html, name: str) -> BeautifulSoup:
    return BeautifulSoup((html / name).read_text(encoding="utf-8"), "html.parser")


@pytest.mark.slow
def test_first_mentions_link_to_the_glossary_once_and_never_in_code_or_headings(reader_book):
    page = _soup(reader_book, "index.html")
    links = [(a.get_text(), a["href"]) for a in page.select("a:has(> .glossary-term)")]
    assert links == [
        ("crisis resolution team", "glossary.html#term-CRT"),
        ("Peer support", "glossary.html#term-peer-support"),
    ]
    assert not page.select("h1 .glossary-term, h2 .glossary-term, code .glossary-term")
    glossary_page = _soup(reader_book, "glossary.html")
    assert glossary_page.find("dt", id="term-CRT") and glossary_page.find("dt", id="term-TIDieR")
    assert not glossary_page.select(".glossary-term")


@pytest.mark.slow
def test_citations_read_author_year_and_reach_the_bibliography(reader_book):
    citation = _soup(reader_book, "index.html").select_one(".bibtex-citation")
    assert citation.get_text() == "Milton et al. (2017)"
    href = citation.a["href"]
    assert href.startswith("bibliography.html#")
    entry = _soup(reader_book, "bibliography.html").find(id=href.split("#")[1])
    assert entry["role"] == "listitem" and "[Milton et al. 2017]" in entry.get_text()


@pytest.mark.slow
def test_code_is_folded_and_the_executed_notebook_offered(reader_book):
    page = _soup(reader_book, "working-chapter.html")
    folds = page.select("details.hide.above-input")
    assert len(folds) == 2 and all(fold.summary.attrs == {} for fold in folds)
    assert "42" in page.select_one(".cell_output").get_text()
    downloads = [a["href"] for a in page.select(".dropdown-download-buttons a")]
    assert downloads[:2] == ["_sources/working-chapter.ipynb", "_sources/working-chapter.md"]


@pytest.mark.slow
def test_the_offered_notebook_holds_the_outputs(reader_book):
    href = _soup(reader_book, "working-chapter.html").select_one(".dropdown-download-buttons a")
    notebook = nbformat.read(reader_book / href["href"], as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in cells] == [1, 2]
    assert cells[0].outputs[0]["text"] == "42\n"
    assert "source_map" not in notebook.metadata


def test_the_study_glossary_is_the_descriptor_of_the_data_in_force(tmp_path, monkeypatch):
    app = SimpleNamespace()
    monkeypatch.setenv("COMPENDIUM_DATA", str(tmp_path))
    assert sphinx_ext.glossary_files(app) == {"general": glossary.GENERAL_GLOSSARY}
    (tmp_path / "study.yaml").write_text(
        "glossary:\n  - {term: Widget, definition: A small gadget.}\n", encoding="utf-8"
    )
    files = sphinx_ext.glossary_files(app)
    assert files["study"] == tmp_path / "study.yaml"
    assert [e.term for e in glossary.load_entries(files["study"])] == ["Widget"]


def test_author_year_labels_name_authors_and_separate_clashes():
    bib = parse_string(
        """
        @article{a, author = {Tong, A.}, year = {2007}, title = {One}}
        @article{b, author = {Braun, V. and Clarke, V.}, year = {2006}, title = {Two}}
        @article{c, author = {Milton, A. and Lloyd-Evans, B. and Johnson, S.}, year = {2017},
                 title = {Three}}
        @article{d, author = {Milton, A. and Morant, N. and Mason, O.}, year = {2017},
                 title = {Four}}
        @misc{e, author = {{Rotterdam Exchange Format Initiative}}, year = {2019}, title = {Five}}
        """,
        "bibtex",
    )
    labels = list(sphinx_ext.AuthorYearLabels().format_labels(bib.entries.values()))
    assert labels == [
        "Tong 2007",
        "Braun and Clarke 2006",
        "Milton et al. 2017a",
        "Milton et al. 2017b",
        "Rotterdam Exchange Format Initiative 2019",
    ]
    order = sphinx_ext.AuthorYearTitleSorting().sort(bib.entries.values())
    assert [entry.key for entry in order] == ["b", "c", "d", "e", "a"]
