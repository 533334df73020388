"""The PDF edition: one offline PDF of the whole book, with contents, tables and figures.

The PDF is built once per test session from the HTML book (built with ``make book`` when
missing), exactly as ``make pdf`` builds it, into ``make pdf``'s own file: printing takes about
half a minute, and is skipped, as ``make pdf`` skips it, when nothing the PDF is made from
changed since the last print.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pypdfium2
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from compendium import paths
from compendium.build import pdf

pytestmark = pytest.mark.browser  # Chromium prints the PDF

TOC = paths.ROOT / "_toc.yml"
PAPER_TABLES = "book/paper-tables"
PLOTLY_TITLE = re.compile(r'"title":\{"text":"([^"]+)"')


def _words(text: str) -> str:
    """Text as words: ligatures undone (the PDF font sets "fi" as one glyph), line breaks
    after a hyphen joined, and white space collapsed (lines break where the page broke them).
    """
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(?<=\w-)\s+", "", text)
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="session")
def html_book() -> Path:
    """The built HTML book; ``make book`` runs first when there is none."""
    if not (paths.HTML_DIR / "index.html").is_file():
        subprocess.run(["make", "book"], cwd=paths.ROOT, check=True, capture_output=True)
    return paths.HTML_DIR


@pytest.fixture(scope="session")
def edition(html_book: Path) -> tuple[pdf.PdfReport, PdfReader]:
    report = pdf.build_pdf(html_book, pdf.PDF_DIR / "compendium.pdf", TOC)
    return report, PdfReader(str(report.path))


@pytest.fixture(scope="session")
def text(edition) -> list[str]:
    """The text of each page of the PDF, white space collapsed (read by PDFium, in a second)."""
    document = pypdfium2.PdfDocument(edition[0].path)
    try:
        return [_words(page.get_textpage().get_text_bounded()) for page in document]
    finally:
        document.close()


def test_make_pdf_is_listed_in_help_and_runs_the_pdf_module():
    listed = subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True)
    assert re.search(r"^\s+pdf\s+\S", listed.stdout, re.MULTILINE), listed.stdout
    dry = subprocess.run(["make", "-n", "pdf"], cwd=paths.ROOT, capture_output=True, text=True)
    assert "-m compendium.build.pdf" in dry.stdout and "_build/pdf/compendium.pdf" in dry.stdout


def test_the_edition_is_keyed_on_the_data_folder_not_on_how_it_was_named(html_book, monkeypatch):
    # make test names the package in COMPENDIUM_DATA, a bare pytest run does not: the same
    # book must not be printed again for that.
    monkeypatch.setenv("COMPENDIUM_DATA", str(paths.DEFAULT_DATA_DIR))
    named = pdf.edition_key(html_book, TOC)
    monkeypatch.delenv("COMPENDIUM_DATA")
    assert pdf.edition_key(html_book, TOC) == named


def test_toc_chapters_follow_the_table_of_contents():
    chapters = pdf.toc_chapters(TOC)
    names = [chapter.docname for chapter in chapters]
    assert names[0] == "book/intro" and len(names) == len(set(names))
    assert {"book/service-user-interviews", PAPER_TABLES, "book/bibliography"} <= set(names)
    assert chapters[0].part == "" and all(chapter.part for chapter in chapters[1:])


def test_the_pdf_has_a_plausible_number_of_pages(edition):
    report, reader = edition
    chapters = pdf.toc_chapters(TOC)
    assert report.pages == len(reader.pages)
    assert len(chapters) + 2 <= report.pages <= 40 * len(chapters)
    starts = [page for _, page in report.chapters.values()]
    assert starts == sorted(starts) and starts[0] >= 3, starts  # after title and contents
    assert all(later > earlier for earlier, later in zip(starts, starts[1:], strict=False))


def test_title_page_and_contents_list_every_chapter_with_its_page(edition, text):
    report, _ = edition
    assert "PDF edition" in text[0] and "The compendium authors" in text[0]
    first_chapter = min(page for _, page in report.chapters.values())
    contents = " ".join(text[1 : first_chapter - 1])
    assert contents.startswith("Contents")
    for title, page in report.chapters.values():
        assert re.search(re.escape(_words(title)) + rf"\s*{page}\b", contents), (title, page)
        assert _words(title) in text[page - 1], f"{title!r} is not on page {page}"


def test_the_pdf_holds_the_paper_tables_as_tables(edition, text):
    """Every cell of the paper-tables page's first table (Table 1) is in its chapter's pages.

    The cells are read from the built HTML page, so the test follows the table's content.
    """
    report, _ = edition
    page = (paths.HTML_DIR / f"{PAPER_TABLES}.html").read_text(encoding="utf-8")
    table = BeautifulSoup(page, "html.parser").select_one("article table")
    cells = [_words(c.get_text(" ")) for c in table.select("th, td") if c.get_text(strip=True)]
    assert len(cells) >= 6 and max(len(cell) for cell in cells) >= 30
    title, start = report.chapters[PAPER_TABLES]
    following = [page for _, page in report.chapters.values() if page > start]
    end = min(following, default=len(text) + 1)
    chapter_text = " ".join(text[start - 1 : end - 1])
    missing = [cell for cell in cells if cell not in chapter_text]
    assert not missing, f"cells of the first table missing from {title!r}: {missing}"
    # Text the page cuts off would still be extracted; nothing may be wider than the line.
    assert not report.too_wide, f"tables or figures cut off at the page edge: {report.too_wide}"


def test_every_interactive_figure_is_drawn_into_the_pdf(edition, text):
    report, _ = edition
    titles = set()
    for chapter in pdf.toc_chapters(TOC):
        page = (paths.HTML_DIR / f"{chapter.docname}.html").read_text(encoding="utf-8")
        titles |= set(PLOTLY_TITLE.findall(page))
    assert report.figures >= 5 and titles
    everything = " ".join(text)
    missing = [title for title in titles if _words(title) not in everything]
    assert not missing, f"plotly figures not drawn into the PDF: {missing}"


def test_code_is_left_out_and_links_stay_inside_the_document(edition):
    report, reader = edition
    source = report.path.with_suffix(".html").read_text(encoding="utf-8")
    soup = BeautifulSoup(source, "html.parser")
    assert not soup.select("details.hide.above-input, .cell_input")
    ids = {element["id"] for element in soup.find_all(id=True)}
    for link in soup.find_all("a", href=True):
        href = link["href"]
        assert href.startswith(("#", "http://", "https://", "mailto:")), href
        if href.startswith("#"):
            assert href[1:] in ids, f"link to a missing anchor {href}"
    assert len(reader.outline) >= len(report.chapters)


def test_a_print_with_nothing_changed_keeps_the_last_pdf(edition):
    report, _ = edition
    written = report.path.stat().st_mtime_ns
    again = pdf.build_pdf(paths.HTML_DIR, report.path, TOC)
    assert again.reused and report.path.stat().st_mtime_ns == written
    assert (again.pages, again.chapters, again.figures, again.too_wide) == (
        report.pages,
        report.chapters,
        report.figures,
        report.too_wide,
    )


def _small_book(root: Path) -> tuple[Path, Path]:
    html = root / "html"
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text("<p>One page.</p>", encoding="utf-8")
    (html / "_static" / "book.css").write_text("p { margin: 0 }", encoding="utf-8")
    toc = root / "_toc.yml"
    toc.write_text("format: jb-book\nroot: index\n", encoding="utf-8")
    return html, toc


EDITION_EDITS = {
    "a page": lambda html, toc, data: (html / "index.html").write_text("<p>Two.</p>"),
    "an asset": lambda html, toc, data: (html / "_static" / "book.css").write_text("p {}"),
    "a new file": lambda html, toc, data: (html / "other.html").write_text("<p>More.</p>"),
    "the contents": lambda html, toc, data: toc.write_text("format: jb-book\nroot: other\n"),
    "the study descriptor": lambda html, toc, data: (data / "study.yaml").write_text(
        (data / "study.yaml").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8"
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITION_EDITS))
def test_the_pdf_is_printed_again_when_what_it_is_made_from_changes(
    edit, tmp_path, package_copy, monkeypatch
):
    monkeypatch.setenv("COMPENDIUM_DATA", str(package_copy))
    html, toc = _small_book(tmp_path)
    before = pdf.edition_key(html, toc)
    for path in (html / "index.html", toc):
        path.touch()  # a new modification time alone is no change
    assert pdf.edition_key(html, toc) == before
    EDITION_EDITS[edit](html, toc, package_copy)
    assert pdf.edition_key(html, toc) != before


def test_a_pdf_touched_since_its_print_is_printed_again(edition, tmp_path):
    report, _ = edition
    copy = tmp_path / "compendium.pdf"
    copy.write_bytes(report.path.read_bytes())
    record = report.path.with_name(f".{report.path.name}.json")
    key = pdf.edition_key(paths.HTML_DIR, TOC)
    (tmp_path / f".{copy.name}.json").write_text(record.read_text(encoding="utf-8"))
    assert pdf._kept_edition(tmp_path / f".{copy.name}.json", copy, key, 0.0) is None  # new mtime
