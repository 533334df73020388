"""Every page of the built book, as Chromium renders it: quiet, offline, drawn, accessible.

Pages are discovered from the built HTML, never listed here, so a new chapter is checked
as soon as it is in the table of contents. Each test reports every failing page at once.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from functools import cache
from pathlib import PurePosixPath
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

from .conftest import is_local, redirect_target

pytestmark = pytest.mark.browser

# Console messages that may appear although they are errors, by exact text. Empty:
# the stock theme's known noise is fixed at the source instead. "Identifier
# 'THEBE_JS_URL' has already been declared" is gone because compendium.build.sphinx_ext drops
# sphinx-thebe's assets when Thebe is off; "Got invalid theme mode" because _config.yml
# sets html_context.default_mode; the /favicon.ico 404 because html.favicon is set.
ALLOWED_CONSOLE_MESSAGES: list[str] = []
BLOCKING_IMPACTS = {"serious", "critical"}
# An alt text that is only the image's file name says nothing to a screen-reader user.
FILE_NAME_ALT = re.compile(r"(^|/)[^ ]+\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE)


def _report(failures: list[str]) -> str:
    return "\n".join(failures)


def test_every_page_was_checked_and_photographed(visits, pages):
    assert list(visits) == pages
    for record in visits.values():
        assert record.screenshot is not None and record.screenshot.stat().st_size > 10_000, (
            f"{record.page}: screenshot missing or blank"
        )


def test_no_console_errors_or_page_errors(visits):
    failures = [
        f"{record.page}: {message}"
        for record in visits.values()
        for message in record.page_errors
        + [m for m in record.console if m.split(" (")[0] not in ALLOWED_CONSOLE_MESSAGES]
    ]
    failures += [
        f"{record.page}: {failure}" for record in visits.values() for failure in record.failed
    ]
    assert not failures, "console errors, page errors or failed requests:\n" + _report(failures)


def test_no_request_leaves_this_machine(visits):
    failures = [
        f"{record.page}: {url}"
        for record in visits.values()
        for url in record.requests
        if not is_local(url)
    ]
    assert not failures, "requests to other hosts:\n" + _report(failures)
    # The recording itself works: every page fetched at least its stylesheet and scripts,
    # and only its own (the tab it was visited in went on to other pages).
    assert all(len(record.requests) > 5 for record in visits.values())
    documents = {
        record.page: [url for url in record.requests if urlsplit(url).path.endswith(".html")]
        for record in visits.values()
    }
    assert all(found == [visits[page].url] for page, found in documents.items()), documents


def test_plotly_figures_draw_data(visits):
    failures = []
    for record in visits.values():
        for plot in record.facts["plots"]:
            if not (plot["svg"] and plot["layout"] and plot["traces"] and plot["marks"]):
                failures.append(f"{record.page}: plotly figure {plot['id']} drew nothing: {plot}")
    assert not failures, _report(failures)


def test_every_table_has_a_header_row(visits):
    failures = [
        f"{record.page}: {table['name']} has no header row"
        for record in visits.values()
        for table in record.facts["tables"]
        if not table["header"]
    ]
    assert not failures, _report(failures)


def test_every_image_and_figure_has_alt_text(visits):
    failures = []
    for record in visits.values():
        facts = record.facts
        for image in facts["images"]:
            if not image["alt"] or FILE_NAME_ALT.search(image["alt"]):
                failures.append(f"{record.page}: <img src={image['src']}> alt={image['alt']!r}")
        for plot in facts["plots"]:
            if not plot["label"]:
                failures.append(f"{record.page}: plotly figure {plot['id']} has no label")
        for figure in facts["figures"]:
            if not (figure["caption"] or figure["label"]):
                failures.append(f"{record.page}: {figure['name']} has no caption or aria-label")
    assert not failures, "figures without a text alternative:\n" + _report(failures)


def test_no_serious_or_critical_accessibility_violations(visits):
    failures = [
        f"{record.page}: [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"])
        for record in visits.values()
        for v in record.violations
        if v["impact"] in BLOCKING_IMPACTS
    ]
    assert not failures, "axe-core violations:\n" + _report(failures)


def test_page_titles_and_book_metadata(visits, book_config):
    title, author = book_config["title"], book_config["author"]
    failures = []
    for record in visits.values():
        facts = record.facts
        if not (facts["h1"] and facts["title"].startswith(facts["h1"])):
            failures.append(f"{record.page}: <title> {facts['title']!r} != heading {facts['h1']!r}")
        if not facts["title"].endswith(title):
            failures.append(f"{record.page}: <title> {facts['title']!r} lacks the book title")
        if facts["meta"].get("author") != author or not facts["meta"].get("description"):
            failures.append(f"{record.page}: author/description meta missing: {facts['meta']}")
        if facts["meta"].get("citation_title") != title:
            failures.append(f"{record.page}: citation_title meta is not the book title")
        if not facts["favicon"]:
            failures.append(f"{record.page}: no <link rel=icon>")
        if not facts["licence"] or "CITATION.cff" not in facts["footer"]:
            failures.append(f"{record.page}: footer lacks the licence link or citation")
    assert not failures, _report(failures)


@cache
def _fetch(url: str) -> tuple[int, str]:
    """Return the HTTP status and body text of a local URL."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def _broken(page_url: str, href: str) -> str | None:
    """Return why a link on a page does not resolve, or None when it does."""
    target, fragment = urldefrag(urljoin(page_url, href))
    status, body = _fetch(target)
    if status != 200:
        return f"HTTP {status}"
    if fragment and not re.search(rf"""\sid=["']{re.escape(unquote(fragment))}["']""", body):
        return f"no element with id {fragment!r}"
    return None


def test_every_local_link_resolves(visits):
    """Table-of-contents, previous/next and in-text links reach a page and its anchor."""
    failures = []
    checked = 0
    for record in visits.values():
        for href in set(record.facts["links"]):
            target = urljoin(record.url, href)
            # Only links served by the book's server; data: links are inline downloads.
            if href == "#" or urlsplit(target).scheme != "http" or not is_local(target):
                continue
            checked += 1
            reason = _broken(record.url, href)
            if reason:
                failures.append(f"{record.page}: {href} -> {reason}")
    assert not failures, "broken links:\n" + _report(failures)
    assert checked >= len(visits)


def _page_of(record, href: str) -> str:
    """Return the page path (relative to the HTML root) that a link on ``record`` targets."""
    base = record.url[: len(record.url) - len(record.page)]
    return urlsplit(urldefrag(urljoin(record.url, href))[0]).path.removeprefix(urlsplit(base).path)


def test_next_and_previous_links_walk_the_whole_book(visits, built_html):
    root_page = str(PurePosixPath(redirect_target(built_html / "index.html")))
    assert root_page in visits, f"index.html redirects to {root_page}, which is not a page"
    order, current = [], root_page
    while current is not None and current not in order:
        order.append(current)
        following = visits[current].facts["next"]
        current = _page_of(visits[current], following[0]) if following else None
    assert current is None, f"the next links loop back to {current}"
    assert sorted(order) == sorted(visits), f"next links reach {order}, not every page"
    for before, after in zip(order, order[1:], strict=False):
        previous = visits[after].facts["prev"]
        assert previous and _page_of(visits[after], previous[0]) == before, (
            f"{after}: previous link does not lead back to {before}"
        )


def test_table_of_contents_lists_every_page(visits, built_html):
    root_page = str(PurePosixPath(redirect_target(built_html / "index.html")))
    record = visits[root_page]
    listed = {_page_of(record, href) for href in record.facts["toc"]}
    missing = set(visits) - listed - {root_page}
    assert not missing, f"pages missing from the table of contents: {sorted(missing)}"


def test_landing_page_says_what_the_book_is_and_how_to_cite_it(visits, built_html):
    root_page = str(PurePosixPath(redirect_target(built_html / "index.html")))
    paragraphs = visits[root_page].facts["paragraphs"]
    citing = [p for p in paragraphs if "10.1186/s13104-017-2900-6" in p and "CITATION.cff" in p]
    assert citing, (
        f"{root_page}: no paragraph of the page body names both the paper's DOI and "
        f"CITATION.cff; paragraphs: {paragraphs}"
    )
