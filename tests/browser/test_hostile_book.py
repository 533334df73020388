"""The whole book built on a package whose every free-text field carries a script payload.

The book is the ``hostile_book`` fixture (tests/browser/conftest.py), which the disclosure
scan shares: it is also built at a small-cell threshold. Every page is opened in Chromium: no dialog may open (``alert`` is what every payload calls),
and no element or attribute that only a payload could have made may be in the DOM; the
payloads must still be on the pages, as text, or the test would prove nothing.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import re

import pytest

from compendium.presentation.tables import FORMULA_START

from .conftest import chromium, discover_pages, each_page, listening, serving, wait_for_plotly
from .hostile_package import PAYLOAD_SELECTORS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Elements made from a payload, and attributes that run script, found in the page's DOM.
SURVIVORS_JS = """
(selectors) => {
  const found = selectors.flatMap((s) => [...document.querySelectorAll(s)].map(
    (el) => s + ': ' + el.outerHTML.slice(0, 120)));
  for (const el of document.querySelectorAll('*')) {
    for (const attribute of el.attributes) {
      if (attribute.name.startsWith('on') && attribute.value.includes('alert')) {
        found.push(el.tagName + '[' + attribute.name + ']');
      }
    }
  }
  // A script a payload made holds nothing but the call (plotly's own scripts hold the
  // payloads as JSON strings, which is data).
  for (const script of document.querySelectorAll('script')) {
    if (/^\\s*(parent\\.)?alert\\(\\d+\\)\\s*$/.test(script.textContent)) {
      found.push('script: ' + script.textContent);
    }
  }
  return {found, text: document.body.textContent.includes('onerror=alert(')};
}
"""


#: Pages visited at once: each visit mostly waits for late scripts and events.
WAITING_VISITS = 4


@pytest.fixture(scope="module")
def payload_book(hostile_book):
    assert hostile_book.payloads > 1000  # every label, name, statement, excerpt... of the package
    return hostile_book.html


async def _visit_all(base: str, pages: list[str], profile) -> dict:
    async def one(page, name: str) -> dict:
        dialogs = []

        async def on_dialog(dialog):
            dialogs.append(dialog.message)
            await dialog.dismiss()

        with listening(page, {"dialog": on_dialog}):
            await page.goto(base + name, wait_until="load")
            if name.startswith("search.html"):
                # results are drawn after the index loads, one by one
                await page.wait_for_selector("p.search-summary", timeout=20_000)
                await page.wait_for_timeout(1500)
            await wait_for_plotly(page)
            await page.wait_for_timeout(500)  # scripts and events that run after load
            facts = await page.evaluate(SURVIVORS_JS, list(PAYLOAD_SELECTORS))
        return {"dialogs": dialogs, **facts}

    async with chromium(profile) as context:
        # Most of a visit is waiting (the half second after load): more pages wait at once.
        visits = await each_page(context, pages, one, at_once=WAITING_VISITS)
        return dict(zip(pages, visits, strict=True))


def test_no_payload_runs_or_survives_as_markup_on_any_page(payload_book, tmp_path):
    # every page, and the search page showing results for the payloads' words
    pages = [*discover_pages(payload_book), "search.html?q=alert", "search.html?q=onerror"]
    with serving(payload_book) as base:
        results = asyncio.run(_visit_all(base, pages, tmp_path / "profile"))
    assert len(pages) >= 16, pages
    print(f"payload book: {len(pages)} pages visited")
    fired = {name: r["dialogs"] for name, r in results.items() if r["dialogs"]}
    survived = {name: r["found"] for name, r in results.items() if r["found"]}
    assert not fired, f"dialogs opened: {fired}"
    assert not survived, f"payload markup in the DOM: {survived}"
    shown = [name for name, r in results.items() if r["text"]]
    assert len(shown) >= 12, f"the payloads should show as text on most pages, not only {shown}"
    print(f"payload book: {len(pages)} pages scanned, 0 dialogs, payload text on {len(shown)}")


def csv_downloads(html: str) -> dict[str, list[list[str]]]:
    """Return every CSV download of a page (``data:text/csv`` links): file name -> rows."""
    found = {}
    pattern = r'<a download="([^"]+)" href="data:text/csv;base64,([A-Za-z0-9+/=]+)"'
    for name, payload in re.findall(pattern, html):
        text = base64.b64decode(payload).decode("utf-8")
        found[name] = list(csv.reader(io.StringIO(text)))
    return found


def test_no_csv_download_holds_a_formula(payload_book):
    downloads = {}
    for page in discover_pages(payload_book):
        for name, rows in csv_downloads((payload_book / page).read_text("utf-8")).items():
            downloads[f"{page}: {name}"] = rows
    # the paper's tables, the trace's checks, the findings not acted on, the delivery of the
    # intervention and the reproduction table: every download path
    names = {key.split(": ")[1] for key in downloads}
    assert {"trace-not-acted-on.csv", "reproduction.csv", "summary-table1.csv"} <= names, names
    formulas = {
        key: cell
        for key, rows in downloads.items()
        for row in rows
        for cell in row
        if cell.startswith(FORMULA_START)
    }
    assert not formulas, formulas
    # and the payloads' formulas are there, neutralised
    quoted = [cell for rows in downloads.values() for row in rows for cell in row]
    assert any(cell.startswith("'=HYPERLINK(") for cell in quoted)
    assert any(cell.startswith("'@SUM(1)") for cell in quoted)
