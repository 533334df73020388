"""Tables made for reading: counts tables fit the column, labels are words, long tables sort offline.

Like ``test_reader``, these check every page of the built book and list every failure at once.
The counts tables are measured on the 1280 px visits (``conftest.PAGE_FACTS_JS``); the words in
the tables are read from the built pages; the sortable tables are sorted and filtered in a
browser of their own, which records every request it makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from playwright.async_api import TimeoutError as PlaywrightTimeout

from compendium import paths
from compendium.contract.descriptor import read_descriptor
from compendium.presentation.tables import LITERAL, SORTABLE

from .conftest import chromium, each_page, is_local, listening

pytestmark = pytest.mark.browser

# The book's counts tables: at least this many, or the class that marks them went missing.
MIN_COUNTS_TABLES = 20
# Time for compendium.js to load DataTables and set the sortable tables up.
SORTABLE_WAIT_MS = 10_000


def _report(failures: list[str]) -> str:
    return "\n".join(failures)


def test_counts_tables_fit_the_column_of_a_laptop_screen(visits):
    """At 1280 px no counts table is wider than its output, which therefore does not scroll."""
    failures, seen = [], 0
    for record in visits.values():
        for table in record.facts["counts"]:
            seen += 1
            if table["scrolls"] or table["width"] > table["room"] + 1:
                failures.append(
                    f"{record.page}: {table['name']} is {table['width']} px wide in "
                    f"{table['room']} px{' and scrolls' if table['scrolls'] else ''}"
                )
    assert seen >= MIN_COUNTS_TABLES, f"only {seen} counts tables in the book"
    assert not failures, _report(failures)


def declared_ids() -> dict[str, str]:
    """Return every id the study descriptor declares with an underscore, and what it names.

    Roles, methods, statuses, sites, trial arms and the values of participant attributes:
    a reader should meet their labels, never these ids.
    """
    descriptor = read_descriptor(paths.data_dir())
    named = {}
    for kind, entries in (
        ("role", descriptor.roles),
        ("method", descriptor.methods),
        ("status", descriptor.statuses),
        ("site", descriptor.sites),
        ("arm", descriptor.trial.arms if descriptor.trial else ()),
    ):
        named |= {entry.id: kind for entry in entries}
    for attribute in descriptor.attributes:
        named |= {str(value): f"value of {attribute.name}" for value in attribute.values or ()}
    return {key: kind for key, kind in named.items() if "_" in key}


def table_texts(page: Path):
    """Yield each table of a built page that shows labels, with the texts of its cells.

    A table marked :data:`~compendium.presentation.tables.LITERAL` documents the package's
    files, whose ids it shows as written; text set as code is an identifier, not a label.
    """
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    for table in soup.select("main table"):
        if LITERAL in table.get("class", []):
            continue
        for code in table.select("code"):
            code.decompose()
        name = table.get("id") or (table.find_parent(id=True) or {}).get("id", "a table")
        yield name, [cell.get_text(" ", strip=True) for cell in table.select("th, td, caption")]


def test_no_table_shows_a_declared_id_instead_of_its_label(built_html, pages):
    ids = declared_ids()
    assert {"service_user", "interviewed_not_analysed", "focus_group"} <= set(ids), (
        "this study declares these ids; the check would find nothing to look for"
    )
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    failures, tables = [], 0
    for page in pages:
        for name, cells in table_texts(built_html / page):
            tables += 1
            for cell in cells:
                for found in sorted(set(pattern.findall(cell))):
                    failures.append(f"{page} {name}: {ids[found]} id {found!r} in {cell[:80]!r}")
    assert tables >= MIN_COUNTS_TABLES, f"only {tables} tables read"
    assert not failures, _report(failures)


# In the browser: which column of a sortable table to sort (a column of counts when it has
# one: every cell carries DataTables' order value, data-order), and that column's values in the
# order shown; then, after a filter, the rows left.
COLUMN_JS = """
(table) => {
  const rows = [...table.tBodies[0].rows];
  const headings = [...table.tHead.rows].at(-1).cells;
  const numeric = [...headings].findIndex((_, i) => rows.every(
    (row) => row.cells[i] && row.cells[i].dataset.order !== undefined));
  return {column: Math.max(numeric, 0), numeric: numeric >= 0, rows: rows.length,
          word: rows[0].cells[numeric > 0 ? 0 : 1].textContent.trim()};
}
"""
VALUES_JS = """
(table, [column, numeric]) => [...table.tBodies[0].rows].map((row) => numeric
  ? Number(row.cells[column].dataset.order) : row.cells[column].textContent.trim())
"""
ROWS_JS = """
(table) => [...table.tBodies[0].rows].filter((row) => !row.querySelector('.dt-empty'))
  .map((row) => row.textContent)
"""


async def _sort_and_filter_one(page, table_id: str) -> dict:
    """Sort one table up and down by a column's heading, then filter it; return what showed."""
    table = page.locator(f"#{table_id}")
    chosen = await table.evaluate(COLUMN_JS)
    column, numeric = chosen["column"], chosen["numeric"]
    heading = table.locator("thead tr").last.locator("th").nth(column)
    result = {**chosen, "before": await table.evaluate(VALUES_JS, [column, numeric])}
    for step, sort in (("up", "ascending"), ("down", "descending")):
        await heading.locator(".dt-column-title").click()
        # DataTables may sort a long table just after the click returns: wait for its mark.
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_function(
                "([th, sort]) => th.getAttribute('aria-sort') === sort",
                arg=[await heading.element_handle(), sort],
                timeout=SORTABLE_WAIT_MS,
            )
        result[step] = {
            "sort": await heading.get_attribute("aria-sort"),
            "values": await table.evaluate(VALUES_JS, [column, numeric]),
        }
    search = page.locator(f".dt-container:has(#{table_id}) input[type=search]")
    await search.fill(chosen["word"])
    result["kept"] = await table.evaluate(ROWS_JS)
    result["label"] = await search.evaluate("(input) => input.labels[0]?.textContent || ''")
    return result


async def _sort_and_filter_page(page, url: str) -> dict:
    requests: list[str] = []
    with listening(page, {"request": lambda request: requests.append(request.url)}):
        await page.goto(url, wait_until="load")
        selector = f"main table.{SORTABLE}"
        await page.wait_for_function(
            f"() => [...document.querySelectorAll('{selector}')]"
            ".every((t) => t.dataset.sortable === 'ready')",
            timeout=SORTABLE_WAIT_MS,
        )
        ids = await page.eval_on_selector_all(selector, "(ts) => ts.map((t) => t.id)")
        tables = {table_id: await _sort_and_filter_one(page, table_id) for table_id in ids}
    return {"tables": tables, "requests": requests}


async def _sort_and_filter(profile: Path, server: str, pages: list[str]) -> dict:
    async with chromium(profile) as context:
        results = await each_page(
            context, pages, lambda page, name: _sort_and_filter_page(page, server + name)
        )
    return dict(zip(pages, results, strict=True))


def _sorted(values: list, reverse: bool = False) -> bool:
    from itertools import pairwise

    return all((b <= a) if reverse else (a <= b) for a, b in pairwise(values))


@pytest.mark.slow  # a browser of its own, every long table sorted and filtered
def test_long_reference_tables_sort_and_filter_offline(built_html, server, pages, tmp_path_factory):
    with_sortable = [
        page
        for page in pages
        if BeautifulSoup((built_html / page).read_text(encoding="utf-8"), "html.parser").select(
            f"main table.{SORTABLE}"
        )
    ]
    assert {"book/provenance.html", "book/reproduction.html"} <= set(with_sortable)
    profile = tmp_path_factory.mktemp("chromium-profile-tables")
    results = asyncio.run(_sort_and_filter(profile, server, with_sortable))
    failures, numeric = [], 0
    for name, result in results.items():
        failures += [f"{name}: requested {url}" for url in result["requests"] if not is_local(url)]
        for table_id, table in result["tables"].items():
            where = f"{name} #{table_id}"
            numeric += table["numeric"]
            if table["up"]["sort"] != "ascending" or not _sorted(table["up"]["values"]):
                failures.append(f"{where}: first click gave {table['up']}")
            if table["down"]["sort"] != "descending" or not _sorted(
                table["down"]["values"], reverse=True
            ):
                failures.append(f"{where}: second click gave {table['down']}")
            if sorted(map(str, table["up"]["values"])) != sorted(map(str, table["before"])):
                failures.append(f"{where}: sorting lost or added rows")
            kept = table["kept"]
            if not kept or len(kept) > table["rows"]:
                failures.append(f"{where}: filtering by {table['word']!r} kept {len(kept)} rows")
            elif any(table["word"].lower() not in row.lower() for row in kept):
                failures.append(f"{where}: a row without {table['word']!r} survived the filter")
            if not table["label"].strip():
                failures.append(f"{where}: the filter box has no label")
    assert numeric >= 3, "expected columns of counts among the sortable tables"
    assert not failures, _report(failures)
