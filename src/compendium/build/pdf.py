"""The PDF edition: the whole built book as one PDF, printed offline by Chromium.

``make pdf`` (``python -m compendium.build.pdf``) works from the HTML book ``make book`` built:

1. the pages are taken in table-of-contents order (:func:`toc_chapters`);
2. each page's article is joined into one HTML document behind a title page and a
   contents list (:func:`assemble`): ids are made unique per page, links between pages
   become links inside the document, links to files the PDF cannot carry are dropped, and
   folded code is left out (the executed notebooks hold it);
3. Debian's Chromium opens the document through Playwright with no network, waits until
   every plotly figure has drawn its SVG, and prints it on A4 with page numbers and
   bookmarks (:func:`print_pdf`); the figures stay vector graphics, tables stay tables;
4. the printed contents links are read back with pypdf to learn the page each chapter and
   section starts on (:func:`link_targets`); the numbers are filled in and the document is
   printed again.

The PDF lands in ``_build/pdf/<name>.pdf``; the assembled HTML stays beside it. Printing
takes half a minute, so it is skipped when nothing the PDF is made from changed since the
last print (:func:`edition_key`): the HTML book, the table of contents, the data package,
the engine, the installed packages and Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import posixpath
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markupsafe import Markup

from compendium import __version__, paths
from compendium.build.chromium import CHROMIUM_ARGS, require_chromium
from compendium.contract.writing import write_atomically
from compendium.failures import add_debug_flag, guarded, usage_errors

PDF_DIR = paths.BUILD_DIR / "pdf"
PDF_STYLESHEET = paths.RESOURCES_DIR / "pdf.css"
# A4 with 15 mm side margins leaves 180 mm of line: the width figures are drawn at.
PAGE_MARGINS = {"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"}
PRINT_WIDTH_PX = round(180 / 25.4 * 96)
PLOTLY_WAIT_MS = 20_000
FOOTER = (
    '<div style="font-size:8pt;width:100%;text-align:center;color:#444;'
    'font-family:sans-serif"><span class="pageNumber"></span> / '
    '<span class="totalPages"></span></div>'
)
# Tables, figures and images wider than the printed line (they would be cut off).
TOO_WIDE_JS = """
() => [...document.querySelectorAll(
  '.pdf-chapter table, .pdf-chapter figure, .pdf-chapter img, .pdf-chapter .plotly-graph-div')]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map((el) => el.closest('.pdf-chapter').id + ': ' + el.tagName.toLowerCase()
    + (el.id ? '#' + el.id : '') + ' ' + Math.round(el.getBoundingClientRect().width) + ' px')
"""
DRAWN_JS = """
() => [...document.querySelectorAll('.plotly-graph-div')]
  .every((gd) => gd._fullLayout && gd.querySelector('.main-svg'))
"""
# A table cell with a word this long (a hash, a path) may break it anywhere (pdf.css).
LONG_TOKEN = 24
# Left out of the PDF: folded code inputs, heading permalinks, and screen-only controls.
NOT_PRINTED = "details.hide.above-input, a.headerlink, .compendium-code-bar"


@dataclass(frozen=True)
class Chapter:
    """One page of the book, in reading order.

    Attributes
    ----------
    docname : str
        The page's document name, e.g. ``book/intro``.
    part : str
        The caption of the table-of-contents part it belongs to ('' for the root).
    """

    docname: str
    part: str

    @property
    def anchor(self) -> str:
        """Return the id of the chapter's section in the assembled document."""
        return self.docname.replace("/", "--")


@dataclass
class PdfReport:
    """What :func:`build_pdf` made.

    Attributes
    ----------
    path : pathlib.Path
        The PDF.
    pages : int
        Its page count.
    chapters : dict
        Each chapter's title and the page it starts on.
    figures : int
        Plotly figures drawn into it.
    too_wide : list of str
        Tables and figures wider than the printed line, which the page cuts off.
    seconds : float
        Time taken.
    reused : bool
        Whether the PDF of the last print was kept, nothing it is made from having changed.
    """

    path: Path
    pages: int
    chapters: dict[str, tuple[str, int]]
    figures: int
    too_wide: list[str]
    seconds: float
    reused: bool = False


def toc_chapters(toc: Path) -> list[Chapter]:
    """Return the book's pages in reading order, with the part each belongs to.

    Parameters
    ----------
    toc : pathlib.Path
        The ``_toc.yml`` (read with sphinx-external-toc, as Jupyter Book reads it).
    """
    from sphinx_external_toc.parsing import parse_toc_yaml

    site = parse_toc_yaml(str(toc))
    chapters: list[Chapter] = []

    def walk(docname: str, part: str) -> None:
        chapters.append(Chapter(docname, part))
        for subtree in site[docname].subtrees:
            for item in subtree.items:
                if isinstance(item, str):
                    walk(item, subtree.caption or part)

    walk(site.root.docname, "")
    return chapters


def _file_uri(html_dir: Path, page: str, url: str) -> str:
    """Return a page-relative URL as a ``file://`` URI inside the built site."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), urlsplit(url).path))
    return (html_dir / unquote(target)).resolve().as_uri()


def _relink(soup, chapter: Chapter, ids: dict[tuple[str, str], str], html_dir: Path) -> None:
    """Point one article's links, images and scripts at the assembled document.

    Links to a page of the book (and its anchors) become links inside the document; web
    links stay; links to anything else (downloads, sources, data files) are unwrapped,
    since a PDF cannot carry them.
    """
    page = f"{chapter.docname}.html"
    docnames = {docname for docname, _ in ids}
    for link in soup.find_all("a", href=True):
        parts = urlsplit(link["href"])
        if parts.scheme in {"http", "https", "mailto"}:
            continue
        target = page if not parts.path else posixpath.join(posixpath.dirname(page), parts.path)
        target = posixpath.normpath(unquote(target)).removesuffix(".html")
        if target not in docnames:
            link.unwrap()
            continue
        fragment = unquote(parts.fragment)
        link["href"] = "#" + ids.get((target, fragment), target.replace("/", "--"))
    for element in soup.find_all(["img", "script"], src=True):
        if not urlsplit(element["src"]).scheme:
            element["src"] = _file_uri(html_dir, page, element["src"])


def _unique_ids(articles: dict[Chapter, object]) -> dict[tuple[str, str], str]:
    """Give every id in every article a document-wide unique name (page prefix).

    Plotly figures keep theirs: they are unique already and their scripts look them up.
    """
    ids = {}
    for chapter, article in articles.items():
        ids[(chapter.docname, "")] = chapter.anchor
        for element in article.find_all(id=True):
            old = element["id"]
            if "plotly-graph-div" in element.get("class", []):
                new = old
            else:
                new = f"{chapter.anchor}--{old}"
            ids[(chapter.docname, old)] = new
    return ids


def _rename_ids(article, chapter: Chapter, ids: dict[tuple[str, str], str]) -> None:
    for element in article.find_all(id=True):
        element["id"] = ids[(chapter.docname, element["id"])]
    for attribute in ("aria-labelledby", "aria-describedby", "aria-controls", "for"):
        for element in article.find_all(attrs={attribute: True}):
            element[attribute] = " ".join(
                ids.get((chapter.docname, name), name) for name in element[attribute].split()
            )


def _title(article) -> str:
    heading = article.find("h1")
    return heading.get_text(" ", strip=True).removesuffix("#").strip() if heading else ""


def assemble(
    html_dir: Path,
    chapters: list[Chapter],
    page_numbers: dict[str, int] | None = None,
) -> tuple[str, dict[str, str]]:
    """Join the built pages into one printable HTML document.

    Parameters
    ----------
    html_dir : pathlib.Path
        The built HTML book.
    chapters : list of Chapter
        The pages, in reading order (:func:`toc_chapters`).
    page_numbers : dict, optional
        Contents anchor -> page number, from a first printing (:func:`link_targets`);
        without it the contents list has empty page numbers of the same width.

    Returns
    -------
    (str, dict)
        The HTML, and each chapter's docname mapped to its title.
    """
    from bs4 import BeautifulSoup

    soups = {}
    articles = {}
    for chapter in chapters:
        path = html_dir / f"{chapter.docname}.html"
        soups[chapter] = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        article = soups[chapter].select_one("article.bd-article")
        if article is None:
            raise ValueError(f"{path}: no article.bd-article; is it a page of the built book?")
        for element in article.select(NOT_PRINTED):
            element.decompose()
        for cell in article.find_all(["td", "th"]):
            if any(len(word) >= LONG_TOKEN for word in cell.get_text(" ").split()):
                cell["class"] = [*cell.get("class", []), "pdf-long-token"]
        articles[chapter] = article
    ids = _unique_ids(articles)
    titles = {}
    contents = []
    numbers = page_numbers or {}

    def entry(anchor: str, text: str, level: str) -> dict:
        return {"anchor": anchor, "text": text, "level": level, "number": numbers.get(anchor, "")}

    body = []
    part = None
    for chapter, article in articles.items():
        title = _title(article)
        titles[chapter.docname] = title
        if chapter.part != part:
            part = chapter.part
            if part:
                contents.append({"text": part, "level": "part"})
        contents.append(entry(chapter.anchor, title, "chapter"))
        for section in article.select("section > section"):
            if section.get("id") and section.find("h2", recursive=False):
                heading = section.find("h2").get_text(" ", strip=True).removesuffix("#").strip()
                contents.append(entry(ids[(chapter.docname, section["id"])], heading, "section"))
        _rename_ids(article, chapter, ids)
        _relink(article, chapter, ids, html_dir)
        article.name = "section"
        article["class"] = ["pdf-chapter", "bd-article"]
        article["id"] = chapter.anchor
        # The articles are the built book's own HTML, already escaped by Sphinx.
        body.append(Markup(str(article)))

    first = soups[chapters[0]]
    page = chapters[0].docname + ".html"
    stylesheets = [
        _file_uri(html_dir, page, link["href"])
        for link in first.select('head link[rel="stylesheet"]')
    ]
    stylesheets.append(PDF_STYLESHEET.resolve().as_uri())
    # plotly.js is on the pages that draw a figure (sphinx_ext), in their heads.
    drawing = [
        (chapter.docname + ".html", script)
        for chapter in chapters
        if (script := soups[chapter].select_one('head script[src*="plotly"]')) is not None
    ]
    # The title and author are the study descriptor's, as in the HTML book (sphinx_ext).
    from compendium.contract.descriptor import read_descriptor

    descriptor = read_descriptor(paths.data_dir())
    book = descriptor.book
    from compendium.build.sphinx_ext import footer_html, footer_text
    from compendium.presentation.html import render
    from compendium.presentation.provenance import git_commit

    document = render(
        "pdf.html",
        title=book.title,
        author=book.author,
        # The same footer as the HTML book's, escaped with its web addresses linked.
        footer=Markup(footer_html(footer)) if (footer := footer_text(descriptor)) else "",
        version=__version__,
        commit=git_commit(),
        built=datetime.date.today().isoformat(),
        stylesheets=stylesheets,
        plotly=_file_uri(html_dir, drawing[0][0], drawing[0][1]["src"]) if drawing else None,
        contents=contents,
        body=body,
    )
    return str(document), titles


async def print_pdf(source: Path, target: Path) -> tuple[int, list[str]]:
    """Print an HTML file to PDF with Chromium, offline.

    Returns
    -------
    (int, list of str)
        The plotly figures drawn, and the tables or figures wider than the printed line.

    Raises
    ------
    RuntimeError
        If the document asks for anything outside the local files (the PDF edition, like
        the book, must not need the network).
    """
    from playwright.async_api import async_playwright

    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=require_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1100})
            page.on("request", lambda request: requests.append(request.url))
            await page.goto(source.resolve().as_uri(), wait_until="load")
            await page.wait_for_function(DRAWN_JS, timeout=PLOTLY_WAIT_MS)
            figures = await page.locator(".plotly-graph-div .main-svg").count()
            await page.emulate_media(media="print")
            too_wide = await page.evaluate(TOO_WIDE_JS)
            await page.pdf(
                path=str(target),
                format="A4",
                margin=PAGE_MARGINS,
                print_background=True,
                display_header_footer=True,
                header_template="<div></div>",
                footer_template=FOOTER,
                outline=True,
                tagged=True,
            )
        finally:
            await browser.close()
    remote = [url for url in requests if urlsplit(url).scheme not in {"file", "data", "about"}]
    if remote:
        raise RuntimeError("the PDF edition asked for remote resources: " + ", ".join(remote))
    return figures, too_wide


def link_targets(pdf: Path) -> dict[str, int]:
    """Return, for each internal link in a PDF, the 1-based page it leads to.

    Chromium names each link's destination after the id it points at, so the result maps
    an anchor of the assembled document to the page its element was printed on.
    """
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    return {
        str(name).removeprefix("/"): reader.get_destination_page_number(destination) + 1
        for name, destination in reader.named_destinations.items()
    }


def edition_key(html_dir: Path, toc: Path) -> str:
    """Return the digest of everything the PDF is made from.

    That is what the book's render is keyed on (:func:`compendium.build.pipeline.inputs`),
    with the HTML book in place of its sources, the table of contents' text, and the
    Chromium that prints it (its size and modification time change with any upgrade).
    """
    from compendium.build.pipeline import inputs

    browser = require_chromium().stat()
    arguments = ["pdf", Path(toc).read_text(encoding="utf-8"), browser.st_size, browser.st_mtime_ns]
    return inputs(html_dir, paths.data_dir(), arguments)


def _kept_edition(record: Path, out: Path, key: str, started: float) -> PdfReport | None:
    """Return the last print's report if it was made from ``key`` and its PDF is untouched."""
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
        printed = out.stat()
    except (OSError, ValueError):
        return None
    if kept.get("key") != key or kept.get("pdf") != [printed.st_size, printed.st_mtime_ns]:
        return None
    report = kept["report"]
    chapters = {name: tuple(entry) for name, entry in report.pop("chapters").items()}
    seconds = time.perf_counter() - started
    return PdfReport(**report, path=out, chapters=chapters, seconds=seconds, reused=True)


def build_pdf(
    html_dir: Path = paths.HTML_DIR,
    out: Path | None = None,
    toc: Path = paths.ROOT / "_toc.yml",
) -> PdfReport:
    """Build the PDF edition of a built HTML book (see the module docstring).

    Parameters
    ----------
    html_dir : pathlib.Path
        The built HTML book (``make book``).
    out : pathlib.Path, optional
        Where to write the PDF; ``_build/pdf/compendium.pdf`` by default.
    toc : pathlib.Path
        The book's table of contents (the title page's words come from the study descriptor).

    Returns
    -------
    PdfReport
        The PDF's path, page count, chapter start pages and figures drawn.
    """
    from pypdf import PdfReader

    started = time.perf_counter()
    out = Path(out) if out else PDF_DIR / "compendium.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"no built book in {html_dir}: run `make book` first")
    key = edition_key(html_dir, toc)
    record = out.with_name(f".{out.name}.json")
    kept = _kept_edition(record, out, key, started)
    if kept is not None:
        return kept
    record.unlink(missing_ok=True)
    chapters = toc_chapters(toc)
    source = out.with_suffix(".html")
    # Chromium prints into a file beside ``out`` that replaces it only once the PDF is final,
    # so a failed or killed run leaves the previous PDF whole.
    printing = out.with_name(f".{out.name}.printing")
    numbers: dict[str, int] = {}
    for _ in range(3):
        document, titles = assemble(html_dir, chapters, numbers)
        write_atomically(source, document.encode("utf-8"))
        figures, too_wide = asyncio.run(print_pdf(source, printing))
        printed = link_targets(printing)
        missing = [c.anchor for c in chapters if c.anchor not in printed]
        if missing:
            printing.unlink(missing_ok=True)
            raise RuntimeError(f"the printed contents do not link to {missing}")
        if printed == numbers:
            break  # the numbers printed are the pages the chapters landed on
        numbers = printed
    else:
        printing.unlink(missing_ok=True)
        raise RuntimeError("the contents' page numbers did not settle after three printings")
    os.replace(printing, out)
    pages = len(PdfReader(str(out)).pages)
    report = {c.docname: (titles[c.docname], numbers.get(c.anchor, 0)) for c in chapters}
    made = PdfReport(out, pages, report, figures, too_wide, time.perf_counter() - started)
    printed = out.stat()
    facts = {k: v for k, v in asdict(made).items() if k not in ("path", "seconds", "reused")}
    kept = {"key": key, "pdf": [printed.st_size, printed.st_mtime_ns], "report": facts}
    write_atomically(record, json.dumps(kept).encode("utf-8"))
    return made


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m compendium.build.pdf [--html DIR] [--out FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m compendium.build.pdf", description=__doc__)
    parser.add_argument("--html", type=Path, default=paths.HTML_DIR, help="the built HTML book")
    parser.add_argument("--out", type=Path, default=PDF_DIR / "compendium.pdf")
    parser.add_argument("--toc", type=Path, default=paths.ROOT / "_toc.yml")
    add_debug_flag(parser)
    usage_errors(parser, "pdf")
    args = parser.parse_args(argv)
    return guarded("pdf", lambda: _run(args), debug=args.debug)


def _run(args: argparse.Namespace) -> int:
    try:
        report = build_pdf(args.html, args.out, args.toc)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"compendium: pdf: {error}", file=sys.stderr)
        return 1
    size = report.path.stat().st_size / 1e6
    if report.reused:
        print("pdf: nothing it is made from changed since it was printed")
    print(
        f"pdf: {report.path} ({report.pages} pages, {size:.1f} MB, {report.figures} figures, "
        f"{report.seconds:.1f} s)"
    )
    for title, page in report.chapters.values():
        print(f"  p. {page:>3}  {title}")
    for item in report.too_wide:
        print(f"compendium: pdf: wider than the page, cut off: {item}", file=sys.stderr)
    return 1 if report.too_wide else 0


if __name__ == "__main__":
    sys.exit(main())
