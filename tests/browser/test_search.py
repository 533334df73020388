"""The book's search page finds a theme by name and links to the chapter that shows it."""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from urllib.parse import quote, urljoin, urlsplit

import pytest

from compendium.contract.loading import load_study

from .conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a browser of its own

SEARCH_TIMEOUT_MS = 15_000
SEARCH_DONE_JS = """
() => { const h = document.querySelector('#search-results h2');
        return h !== null && h.textContent.trim() === 'Search Results'; }
"""


@pytest.fixture(scope="module")
def first_theme() -> tuple[str, str]:
    """The name of the first main theme of stage 2's codebook, and that stage's chapter page."""
    study = load_study()
    stage_of = study.activities.set_index("activity_id")["stage_id"]
    themes = study.codes[study.codes["parent_id"].isna()].copy()
    themes["stage"] = themes["activity_id"].map(stage_of)
    theme = themes[themes["stage"] == "2"].sort_values("position").iloc[0]
    return theme["name"], study.descriptor.stage("2").chapter


def _stem(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).stem


async def _search(profile, server: str, query: str, chapter_stem: str) -> tuple[list[str], str]:
    """Search the book; return the result links and the text of the chapter's result page."""
    async with chromium(profile) as context:
        page = await context.new_page()
        await page.goto(f"{server}search.html?q={quote(query)}", wait_until="load")
        await page.wait_for_function(SEARCH_DONE_JS, timeout=SEARCH_TIMEOUT_MS)
        hrefs = await page.eval_on_selector_all(
            "#search-results ul.search li a", "links => links.map(a => a.href)"
        )
        chapter = next((h for h in hrefs if _stem(h) == chapter_stem), None)
        if chapter is None:
            return hrefs, ""
        response = await page.goto(chapter, wait_until="load")
        assert response is not None and response.status == 200, chapter
        return hrefs, await page.inner_text("main")


def test_search_finds_a_theme_and_links_to_its_chapter(tmp_path, server, first_theme):
    name, chapter = first_theme
    hrefs, text = asyncio.run(_search(tmp_path / "profile", server, name, chapter))
    assert hrefs, f"searching for {name!r} found nothing"
    assert text, f"searching for {name!r} did not list its chapter {chapter!r}: {hrefs}"
    assert name in text
    assert all(urljoin(server, h).startswith(server) for h in hrefs)
