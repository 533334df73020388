"""What a reader meets: folded code, references and glossary links, notebooks, phones, dark mode.

Like ``test_pages``, these check every page of the built book and list every failure at
once, from the facts the visits gathered (``conftest.PAGE_FACTS_JS``, ``LAYOUT_FACTS_JS``
and, clicked last on each page with code, ``TOGGLE_JS``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import nbformat
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from .conftest import NARROW, SCROLL_CONTAINERS, WIDE

pytestmark = pytest.mark.browser

GLOSSARY_PAGE = "book/glossary.html"
LANDING_PAGE = "book/intro.html"
BIBLIOGRAPHY_PAGE = "book/bibliography.html"
# In dark mode a figure must sit on a light panel (relative luminance; white is 1).
LIGHT_PANEL = 0.8


def _report(failures: list[str]) -> str:
    return "\n".join(failures)


@cache
def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _target(built_html: Path, record, href: str):
    """Return the built page a link on ``record`` points at, and the element it names."""
    url, fragment = urldefrag(urljoin(record.url, href))
    base = record.url[: len(record.url) - len(record.page)]
    page = urlsplit(url).path.removeprefix(urlsplit(base).path)
    path = built_html / page
    if not path.is_file():
        return page, None
    return page, _soup(path).find(id=unquote(fragment)) if fragment else None


def _with_code(visits) -> list:
    return [record for record in visits.values() if record.facts["code"]["inputs"]]


def _layout_and_screenshot_failures(records) -> list[str]:
    """List pages wider than the screen outside ``SCROLL_CONTAINERS``, or unphotographed."""
    failures = []
    for record in records:
        where = f"{record.page} at {record.width} px"
        layout = record.layout
        if layout["pageWidth"] > layout["viewport"]:
            failures.append(f"{where}: page is {layout['pageWidth']} px wide")
        failures += [f"{where}: {name} scrolls sideways" for name in layout["scrolling"]]
        failures += [f"{where}: {name} reaches past the screen" for name in layout["outside"]]
        shot = record.screenshot
        expected = f"{Path(record.page).stem}-{record.width}.png"
        if shot is None or not shot.is_file() or shot.name != expected:
            failures.append(f"{where}: no screenshot {expected}")
            continue
        with Image.open(shot) as image:
            if image.width != record.width or image.height < 400:
                failures.append(f"{shot.name}: {image.size}, expected {record.width} px wide")
    return failures


def test_no_page_is_wider_than_a_laptop_screen(visits):
    """At 1280 px only ``SCROLL_CONTAINERS`` may scroll sideways or hold wider content."""
    assert {record.width for record in visits.values()} == {WIDE}
    failures = _layout_and_screenshot_failures(visits.values())
    assert not failures, f"outside {SCROLL_CONTAINERS}:\n" + _report(failures)


def test_no_page_is_wider_than_a_phone_screen(narrow_visits):
    """At 390 px only ``SCROLL_CONTAINERS`` may scroll sideways or hold wider content."""
    assert {record.width for record in narrow_visits.values()} == {NARROW}
    failures = _layout_and_screenshot_failures(narrow_visits.values())
    assert not failures, f"outside {SCROLL_CONTAINERS}:\n" + _report(failures)


def test_every_code_input_is_folded_and_every_output_shown(visits):
    with_code = _with_code(visits)
    assert len(with_code) >= 5, "expected the chapters to have code cells"
    failures = []
    for record in with_code:
        code = record.facts["code"]
        if code["folded"] != code["inputs"] or code["shown"]:
            failures.append(f"{record.page}: {code['shown']} of {code['inputs']} inputs shown")
        if code["outputsShown"] != code["outputs"]:
            failures.append(f"{record.page}: {code['outputsShown']} of {code['outputs']} outputs")
        expected = f"Show all code ({code['inputs']} code cell"
        if not code["toggle"].startswith(expected):
            failures.append(f"{record.page}: page toggle reads {code['toggle']!r}")
    for record in visits.values():
        if not record.facts["code"]["inputs"] and record.facts["code"]["toggle"]:
            failures.append(f"{record.page}: a code toggle on a page without code")
    assert not failures, _report(failures)


def test_a_cell_toggle_opens_its_code_and_the_page_toggle_opens_all(visits):
    """Clicked after the page's other checks (``Mode.toggles``): one cell, then all, then none."""
    states = {record.page: record.toggles for record in _with_code(visits)}
    assert states and all(states.values()), "the toggles were not clicked on every code page"
    failures = []
    for name, steps in states.items():
        count = len(steps["before"]["shown"])
        if any(steps["before"]["shown"]):
            failures.append(f"{name}: code shown before any click")
        if steps["one"]["shown"] != [True] + [False] * (count - 1):
            failures.append(f"{name}: opening the first cell showed {steps['one']['shown']}")
        if not all(steps["all"]["shown"]) or not steps["all"]["toggle"].startswith("Hide all"):
            failures.append(f"{name}: 'Show all code' gave {steps['all']}")
        if any(steps["none"]["shown"]) or not steps["none"]["toggle"].startswith("Show all"):
            failures.append(f"{name}: 'Hide all code' gave {steps['none']}")
    assert not failures, _report(failures)


def test_every_citation_resolves_to_a_bibliography_entry(visits, built_html):
    failures, cited = [], set()
    for record in visits.values():
        for href in record.facts["citations"]:
            page, element = _target(built_html, record, href)
            if element is None or "citation" not in element.get("class", []):
                failures.append(f"{record.page}: citation {href} does not reach an entry")
            elif page != BIBLIOGRAPHY_PAGE:
                failures.append(f"{record.page}: citation {href} leads to {page}")
            else:
                cited.add(element["id"])
    assert not failures, _report(failures)
    entries = _soup(built_html / BIBLIOGRAPHY_PAGE).select('[role="list"] > .citation')
    assert len(entries) >= 10, "the bibliography lists too few works"
    assert {entry["id"] for entry in entries} == cited, "an entry no page cites"


def test_every_glossary_link_resolves_and_terms_are_linked_once_per_page(visits, built_html):
    failures = []
    auto = 0
    for record in visits.values():
        linked = [term for term in record.facts["terms"] if term["auto"]]
        auto += len(linked)
        if record.page == GLOSSARY_PAGE and linked:
            failures.append(f"{GLOSSARY_PAGE} links its own terms: {linked}")
        hrefs = [term["href"] for term in linked]
        failures += [
            f"{record.page}: {href} linked more than once"
            for href in sorted(set(hrefs))
            if hrefs.count(href) > 1
        ]
        for term in record.facts["terms"]:
            page, element = _target(built_html, record, term["href"])
            if page != GLOSSARY_PAGE or element is None or element.name != "dt":
                failures.append(f"{record.page}: {term['text']!r} -> {term['href']} is no term")
    assert not failures, _report(failures)
    assert auto >= 2 * len(visits), f"only {auto} glossary links in {len(visits)} pages"


def test_every_notebook_page_offers_its_executed_notebook(visits, built_html):
    failures = []
    for record in _with_code(visits):
        downloads = record.facts["downloads"]
        notebooks = [href for href in downloads if href.endswith(".ipynb")]
        if not any(href.endswith(".md") for href in downloads) or len(notebooks) != 1:
            failures.append(f"{record.page}: download menu holds {downloads}")
            continue
        page, _ = _target(built_html, record, notebooks[0])
        notebook = nbformat.read(built_html / page, as_version=4)
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if len(cells) != record.facts["code"]["inputs"]:
            failures.append(f"{page}: {len(cells)} code cells, the page shows another number")
        if any(cell.execution_count is None for cell in cells):
            failures.append(f"{page}: not every cell was executed")
        if not any(cell.outputs for cell in cells):
            failures.append(f"{page}: no outputs")
    assert not failures, _report(failures)


def test_dark_mode_keeps_figures_on_light_panels_and_passes_the_scan(dark_visits):
    """In dark mode: pages turn dark, figures keep a light background, axe finds nothing.

    The dark visit runs axe-core's colour rules (``conftest.COLOUR_RULES``); its other rules
    read the page's structure, which is the same in both modes, and ran on the light visit.
    """
    failures, figures = [], 0
    for record in dark_visits.values():
        expected = f"{Path(record.page).stem}-{WIDE}-dark.png"
        if record.screenshot is None or record.screenshot.name != expected:
            failures.append(f"{record.page}: no screenshot {expected}")
        if record.facts["theme"] != "dark":
            failures.append(f"{record.page}: theme is {record.facts['theme']!r}, not dark")
        for luminance in record.facts["figureBackgrounds"]:
            figures += 1
            if luminance < LIGHT_PANEL:
                failures.append(f"{record.page}: a figure on a background of luminance {luminance}")
        failures += [
            f"{record.page}: [{v['impact']}] {v['id']}: {v['help']}\n    "
            + "\n    ".join(v["nodes"])
            for v in record.violations
            if v["impact"] in {"serious", "critical"}
        ]
    assert figures >= 5, "expected figures in the book"
    assert not failures, _report(failures)


ROUTES = ("Read the findings", "Re-execute and verify", "Adapt it to your own study")


def test_the_landing_page_opens_with_a_route_for_each_audience(visits, built_html):
    """Three routes come first on the landing page, each leading to a page of the book."""
    soup = _soup(built_html / LANDING_PAGE)
    first = soup.select_one("main article section section")
    assert first is not None and first.find("h2").get_text(strip=True).startswith(
        "Where to start"
    ), "the landing page does not open with its routes"
    cards = first.select(".sd-card")
    titles = [card.select_one(".sd-card-title").get_text(" ", strip=True) for card in cards]
    assert titles == list(ROUTES)
    record = visits[LANDING_PAGE]
    failures = []
    for title, card in zip(titles, cards, strict=True):
        links = [a["href"] for a in card.select("a[href]")]
        if not links:
            failures.append(f"{title}: no link")
        for href in links:
            page, _ = _target(built_html, record, href)
            if not (built_html / page).is_file():
                failures.append(f"{title}: {href} leads nowhere")
    assert not failures, _report(failures)
