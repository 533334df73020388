"""The reporting checklists: shipped complete, mapped in study.yaml, and given a page each."""

from __future__ import annotations

import shutil

import pytest
import yaml

from compendium import paths
from compendium.build import scaffold
from compendium.build.support import Package
from compendium.build.templates import render_chapter, templates
from compendium.contract.descriptor import check_descriptor, read_descriptor
from compendium.presentation.checklists import (
    NOT_MAPPED,
    Place,
    checklist_rows,
    load_checklists,
)

CHECKLIST_KINDS = ("checklist-guided", "checklist-tidier", "checklist-coreq")
EXAMPLE_DATA = paths.ROOT / "examples" / "restwell" / "data"


def test_each_checklist_has_its_published_number_of_items():
    checklists = load_checklists()
    counts = {name: len(checklists[name]["items"]) for name in ("guided", "tidier", "coreq")}
    assert counts == {"guided": 14, "tidier": 12, "coreq": 32}


def test_items_are_numbered_one_to_n_and_sources_cite_a_doi():
    checklists = load_checklists()
    for name in ("guided", "tidier", "coreq"):
        items = checklists[name]["items"]
        assert list(items) == list(range(1, len(items) + 1)), name
        assert "doi:10." in checklists[name]["source"], name
    assert checklists["coreq"]["items"][32] == "Clarity of minor themes"


# --------------------------------------------------------------------------- this study's mapping


@pytest.fixture(scope="module")
def descriptor():
    return read_descriptor(paths.DEFAULT_DATA_DIR)


def test_this_study_maps_every_item_of_every_checklist(descriptor):
    for name, size in (("guided", 14), ("tidier", 12), ("coreq", 32)):
        rows = checklist_rows(descriptor, name)
        assert [r.number for r in rows] == list(range(1, size + 1))
        assert all(r.reason != NOT_MAPPED for r in rows), name
        # Every item is either linked or flagged with its reason, never both, never neither.
        assert all(bool(r.places) != bool(r.reason) for r in rows), name
    addressed = {
        n: sum(r.addressed for r in checklist_rows(descriptor, n))
        for n in ("guided", "tidier", "coreq")
    }
    assert addressed == {"guided": 11, "tidier": 12, "coreq": 10}


def test_tidier_items_point_at_their_rows_on_the_intervention_page(descriptor):
    for row in checklist_rows(descriptor, "tidier"):
        assert row.places[0] == Place("intervention", f"tidier-item-{row.number}")


def test_coreq_items_on_the_research_team_are_flagged_with_their_reason(descriptor):
    rows = checklist_rows(descriptor, "coreq")
    team = [r for r in rows if r.domain == "Research team and reflexivity"]
    assert [r.number for r in team] == list(range(1, 9))
    assert not any(r.addressed for r in team)
    assert all("not recorded in the data package" in r.reason for r in team)
    assert rows[23].places[0] == Place("service-user-interviews", "inter-coder-agreement")


def test_a_mapping_line_is_where_the_item_stands_in_study_yaml(descriptor):
    lines = (paths.DEFAULT_DATA_DIR / "study.yaml").read_text(encoding="utf-8").splitlines()
    entry = descriptor.checklist("coreq")[24]
    assert lines[entry.line - 1].strip() == "- item: 24"


def test_a_study_without_checklists_lists_every_item_as_not_yet_mapped(tmp_path):
    package = tmp_path / "data"
    shutil.copytree(EXAMPLE_DATA, package)
    study = package / "study.yaml"
    data = yaml.safe_load(study.read_text(encoding="utf-8"))
    data.pop("checklists")
    study.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rows = checklist_rows(read_descriptor(package), "coreq")
    assert len(rows) == 32 and {r.reason for r in rows} == {"not yet mapped in study.yaml"}
    assert not any(r.addressed for r in rows)


def test_the_example_maps_a_few_items_and_leaves_the_rest_unmapped():
    rows = checklist_rows(read_descriptor(EXAMPLE_DATA), "tidier")
    assert [r.number for r in rows if r.addressed] == [1, 3, 8]
    assert rows[11].reason.startswith("the fictional study ends with think-aloud testing")
    assert sum(r.reason == NOT_MAPPED for r in rows) == 8


# --------------------------------------------------------------------------- problems, located


@pytest.fixture
def descriptor_copy(tmp_path):
    target = tmp_path / "study.yaml"
    shutil.copyfile(paths.DEFAULT_DATA_DIR / "study.yaml", target)
    return target


def problems_with(path, mapping: str) -> list[str]:
    """Return the problems of the descriptor with its checklists section replaced by ``mapping``."""
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("\nchecklists:\n") + 1]
    path.write_text(head + mapping, encoding="utf-8")
    problems, _ = check_descriptor(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in problems]


def line_of(path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


@pytest.mark.parametrize(
    ("mapping", "located", "message"),
    [
        (
            "  strobe:\n    - {item: 1, at: intro}\n",
            "  strobe:",
            "3: checklists.strobe: 'strobe' is not a checklist the engine knows; expected one of "
            "coreq, guided, tidier",
        ),
        (
            "  guided:\n    - {item: 15, at: intro}\n",
            "    - {item: 15, at: intro}",
            "14: checklists.guided[0].item: 15 is not an item of GUIDED; expected 1 to 14",
        ),
        (
            "  tidier:\n    - {item: 3, at: intervention}\n    - {item: 3, reason: twice}\n",
            "    - {item: 3, reason: twice}",
            "14: checklists.tidier[1].item: item 3 of TIDieR is mapped twice; give each item one "
            "entry",
        ),
        (
            "  coreq:\n    - item: 21\n",
            "    - item: 21",
            "7: checklists.coreq[0]: item 21 maps to no place: give `at` (the page, or "
            "page#anchor, that addresses it) or `reason` (why the book does not address it)",
        ),
    ],
    ids=["unknown-checklist", "unknown-item", "mapped-twice", "no-place-nor-reason"],
)
def test_a_wrong_mapping_is_located_on_its_line(descriptor_copy, mapping, located, message):
    problems = problems_with(descriptor_copy, "checklists:\n" + mapping)
    assert problems == [f"study.yaml:{line_of(descriptor_copy, located)}:{message}"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{item: 2, at: intro, reason: both}",
            "checklists.coreq[0]: give either `at` (where the book addresses the item) or "
            "`reason` (why it does not), not both",
        ),
        (
            "{item: 2, reason: none here, note: how}",
            "checklists.coreq[0].note: a `note` says how a place addresses the item; an item not "
            "addressed gives its `reason` alone",
        ),
        (
            "{item: 2, at: 'Intro#Overview'}",
            "checklists.coreq[0].at: 'Intro#Overview' does not match the pattern "
            "^[a-z0-9][a-z0-9-]*(#[A-Za-z0-9_-]+)?$",
        ),
        ("{item: 2, at: []}", "checklists.coreq[0].at: [] should be non-empty"),
        ("{item: 2, reason: ''}", "checklists.coreq[0].reason: '' should be non-empty"),
        ("{item: two, at: intro}", "checklists.coreq[0].item: expected an integer, got 'two'"),
    ],
    ids=["both", "note-without-place", "bad-place", "no-places", "empty-reason", "item-not-number"],
)
def test_a_malformed_entry_is_refused_with_its_location(descriptor_copy, entry, message):
    problems = problems_with(descriptor_copy, f"checklists:\n  coreq:\n    - {entry}\n")
    assert len(problems) == 1 and problems[0].endswith(message), problems
    assert problems[0].startswith(f"study.yaml:{line_of(descriptor_copy, '    - ' + entry)}:")


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("kind", CHECKLIST_KINDS)
def test_each_checklist_page_is_its_template_filled_in(descriptor, kind):
    page = (paths.BOOK_DIR / f"{templates()[kind].page}.md").read_text(encoding="utf-8")
    assert page == render_chapter(kind, descriptor)
    assert f"```{{compendium-checklist}} {kind.removeprefix('checklist-')}\n```" in page


def test_the_book_lists_the_checklists_in_a_reporting_part():
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text(encoding="utf-8"))
    (part,) = [p for p in toc["parts"] if p["caption"] == "Reporting"]
    assert [c["file"] for c in part["chapters"]] == [f"book/{k}" for k in CHECKLIST_KINDS]


def test_a_new_compendium_gets_the_checklist_pages_before_its_reference_pages():
    pages = scaffold.plan_pages(Package.read(EXAMPLE_DATA))
    parts = scaffold.toc(pages)["parts"]
    captions = [p["caption"] for p in parts]
    assert captions[-2:] == ["Reporting", "Reference"]
    assert [c["file"] for c in parts[-2]["chapters"]] == [f"book/{k}" for k in CHECKLIST_KINDS]


def test_a_stage_may_not_take_a_checklist_page_name(descriptor_copy):
    text = descriptor_copy.read_text(encoding="utf-8")
    descriptor_copy.write_text(
        text.replace("chapter: evidence-reviews", "chapter: checklist-coreq", 1), encoding="utf-8"
    )
    problems, _ = check_descriptor(descriptor_copy)
    assert [p.message for p in problems] == [
        "'checklist-coreq' is the name of a cross-cutting page; choose another"
    ]
