"""Checklist pages in a built book: mapped places become links, and a dangling one fails the build.

Each test builds a throwaway book (``conftest.build_tiny_book``: the project's configuration and
the command ``make book`` runs) holding a page with a heading and a labelled section, and the
TIDieR checklist page (with the glossary and bibliography it refers to) as ``compendium new``
writes them, on a copy of the project's package whose
``study.yaml`` maps some TIDieR items to places in that book. The last test reads this book as
``make book`` built it: every place its ``study.yaml`` maps is a link to an id that exists.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from compendium import paths
from compendium.build.templates import render_chapter
from compendium.contract.descriptor import read_descriptor
from compendium.presentation.checklists import checklist_rows

from .conftest import build_tiny_book

HOME = """# A tiny book

The root page of a book built by the test suite.

(tiny-label)=
## Where the materials are described

A section with a label of its own.

## Who delivers it

A section reached by its heading's id.
"""
MAPPING = [
    {"item": 1, "at": "index"},
    {"item": 3, "at": "index#tiny-label", "note": "the workbook"},
    {"item": 5, "at": ["index#who-delivers-it", "index#tiny-label"]},
    {"item": 7, "reason": "the tiny book has no setting"},
]


def tiny_book(root: Path, package: Path, mapping: list[dict], monkeypatch):
    """Build the tiny book on ``package`` with its TIDieR items mapped as ``mapping`` says."""
    shutil.copytree(paths.DEFAULT_DATA_DIR, package)
    study = package / "study.yaml"
    descriptor = yaml.safe_load(study.read_text(encoding="utf-8"))
    descriptor["checklists"] = {"tidier": mapping}
    study.write_text(yaml.safe_dump(descriptor, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("COMPENDIUM_DATA", str(package))
    root.mkdir()
    # The glossary and bibliography pages every book gets resolve the page's term and citation.
    pages = {
        kind: render_chapter(kind, read_descriptor(package))
        for kind in ("checklist-tidier", "glossary", "bibliography")
    }
    return build_tiny_book(root, {"index": HOME, **pages})


@pytest.mark.slow
def test_mapped_places_link_to_their_sections_and_every_item_is_listed(tmp_path, monkeypatch):
    build = tiny_book(tmp_path / "book", tmp_path / "data", MAPPING, monkeypatch)
    assert build.returncode == 0, build.stdout[-4000:]
    html = (tmp_path / "book/_build/html/checklist-tidier.html").read_text(encoding="utf-8")
    links = re.findall(r'<a class="reference internal" href="([^"]+)"><span>([^<]+)</span>', html)
    assert links == [
        ("index.html", "A tiny book"),
        ("index.html#tiny-label", "A tiny book \u203a Where the materials are described"),
        ("index.html#who-delivers-it", "A tiny book \u203a Who delivers it"),
        ("index.html#tiny-label", "A tiny book \u203a Where the materials are described"),
    ]
    assert "(the workbook)" in html
    rows = re.findall(
        r"<tr class=\"row-(?:odd|even)\"(?: id=\"[^\"]+\")?><td><p>(\d+)</p></td>", html
    )
    assert rows == [str(n) for n in range(1, 13)]
    assert html.count('class="checklist-not-addressed"') == 9
    assert "the tiny book has no setting" in html
    assert html.count("not yet mapped in study.yaml") == 8 + 1  # 8 rows and the summary
    assert "Addressed in this book: 3 of 12 items. Not addressed: 9" in html


@pytest.mark.slow
def test_a_dangling_anchor_fails_the_build_naming_the_item_and_its_line(tmp_path, monkeypatch):
    mapping = [*MAPPING, {"item": 9, "at": "index#no-such-section"}, {"item": 10, "at": "gone"}]
    build = tiny_book(tmp_path / "book", tmp_path / "data", mapping, monkeypatch)
    assert build.returncode != 0, build.stdout[-4000:]
    warnings = [line for line in build.stdout.splitlines() if "checklists.tidier" in line]
    assert len(warnings) == 2, build.stdout[-4000:]
    lines = (tmp_path / "data/study.yaml").read_text(encoding="utf-8").splitlines()
    number = next(i for i, text in enumerate(lines, 1) if text.endswith("- item: 9"))
    assert "checklist-tidier.md: WARNING: " in warnings[0]
    assert (
        f"study.yaml:{number}: checklists.tidier item 9 maps to 'index#no-such-section', but "
        "page 'index' has no anchor 'no-such-section'"
    ) in warnings[0]
    assert "item 10 maps to 'gone', but the book has no page 'gone'" in warnings[1]


@pytest.mark.parametrize("name", ["guided", "tidier", "coreq"])
def test_this_books_checklists_link_every_mapped_place_to_an_anchor_that_exists(built_html, name):
    rows = checklist_rows(read_descriptor(paths.DEFAULT_DATA_DIR), name)
    html = (built_html / "book" / f"checklist-{name}.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'<a class="reference internal" href="([^"]+)"><span>', html)
    expected = [
        f"{place.page}.html" + (f"#{place.anchor}" if place.anchor else "")
        for row in rows
        for place in row.places
    ]
    assert hrefs == expected
    for href in hrefs:
        page, _, anchor = href.partition("#")
        target = (built_html / "book" / page).read_text(encoding="utf-8")
        assert not anchor or f'id="{anchor}"' in target, href
    assert html.count('class="checklist-not-addressed"') == sum(not r.addressed for r in rows)
