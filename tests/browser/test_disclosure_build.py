"""The whole book built at small-cell threshold 5 shows no count of people below 5.

The book is the ``hostile_book`` fixture (tests/browser/conftest.py): its package also
carries a script payload in every free-text field, as untrusted as real data could be, and
the payload test shares the build.

Every page's tables, CSV downloads, plotly figures and glued prose numbers are scanned
(tests/browser/disclosure_scan.py says how counts of people are found). The same scan of the book as
``make book`` builds it (threshold 0, the synthetic package's) must find small counts, or it
would prove nothing.
"""

from __future__ import annotations

import pytest

from compendium import paths

from .conftest import HOSTILE_THRESHOLD, discover_pages
from .disclosure_scan import scan_book

pytestmark = pytest.mark.slow
THRESHOLD = HOSTILE_THRESHOLD


def test_no_count_of_people_below_the_threshold_is_shown_anywhere(hostile_book):
    assert hostile_book.threshold == THRESHOLD
    pages = discover_pages(hostile_book.html)
    scan = scan_book(hostile_book.html, hostile_book.executed, THRESHOLD, pages)
    print(
        f"threshold {THRESHOLD}: {scan.pages} pages, {scan.tables} tables, {scan.csvs} CSV "
        f"downloads, {scan.figures} figures, {scan.glued} glued numbers, {scan.counts} counts "
        f"of people read; small counts found: {len(scan.found)}"
    )
    assert scan.pages >= 14 and scan.tables >= 20 and scan.csvs >= 5 and scan.figures >= 6
    assert scan.glued >= 20 and scan.counts >= 300
    assert scan.found == []


def test_the_scan_finds_the_small_counts_of_a_book_built_without_suppression(built_html):
    scan = scan_book(
        built_html, paths.ROOT / "_build" / "jupyter_execute", THRESHOLD, discover_pages(built_html)
    )
    places = {line.split(" row ")[0].split(": ")[0] for line in scan.found}
    assert len(scan.found) >= 50, scan.found
    # in tables, in headers (a group's n) and in the prose
    assert any("characteristics-" in line and "header" in line for line in scan.found)
    assert any(" glue " in line for line in scan.found), places
