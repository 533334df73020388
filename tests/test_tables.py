"""The table renderer: kinds of table, escaping on every path, and the CONSORT flow diagram."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from compendium.presentation import figures, sections
from compendium.presentation.chapter import Chapter
from compendium.presentation.tables import (
    COUNTS,
    LONG_TABLE_ROWS,
    SORTABLE,
    downloadable_table,
    grouped_table,
    sortable_table,
    style_table,
)

MARKUP = '<b onmouseover="x()">A & B</b>'


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def test_a_grouped_table_escapes_every_text_once():
    frame = pd.DataFrame(
        [["1", MARKUP], ["2", "3"]],
        index=pd.MultiIndex.from_tuples([(MARKUP, MARKUP), (MARKUP, "row")]),
        columns=pd.MultiIndex.from_tuples([(MARKUP, "n"), (MARKUP, MARKUP)]),
    )
    html = grouped_table(frame, "grouped <x>", MARKUP, [MARKUP]).data
    assert "&amp;amp;" not in html and "&amp;lt;" not in html, "escaped twice"
    page = soup(html)
    assert not page.find("b") and not page.select("[onmouseover]"), "markup from data ran"
    table = page.select_one(f".{COUNTS} table")
    assert table is not None and table.find_parent(id="T_grouped--x-") is not None
    texts = [cell.get_text(strip=True) for cell in table.select("th, td")]
    assert texts.count("A & B") == 0
    assert sum(MARKUP in text for text in texts) >= 5, "title, spanner, group, row, cell, note"


def test_a_long_table_sorts_with_its_rows_spelled_out_and_its_id_kept():
    frame = pd.DataFrame(
        {"Decision": ["a", "b", "c"]},
        index=pd.MultiIndex.from_tuples([("Area", "D1"), ("Area", "D2"), ("Other", "D3")]),
    )
    html = sortable_table(style_table(frame, "decisions", "Caption", hide_index=False)).data
    table = soup(html).find("table", id="T_decisions")
    assert table is not None and SORTABLE in table["class"]
    assert not table.select("tbody [rowspan]"), "sorting needs every row's labels in it"
    assert [th.get_text() for th in table.select("tbody th.level0")] == ["Area", "Area", "Other"]


def test_a_sortable_download_keeps_its_csv_and_its_escaping():
    frame = pd.DataFrame({"Name": ["=cmd()", MARKUP]})
    html = downloadable_table(frame, "names", "Names", sortable=True).data
    page = soup(html)
    assert SORTABLE in page.find("table", id="T_names")["class"]
    assert not page.find("b") and not page.select("[onmouseover]")
    link = page.select_one("a[download='names.csv']")
    csv = base64.b64decode(link["href"].split(",", 1)[1]).decode("utf-8")
    assert "'=cmd()" in csv


@pytest.fixture(scope="module")
def interviews() -> Chapter:
    return Chapter.for_stage("2")


def test_a_long_codebook_is_a_sortable_counts_table_in_words(interviews):
    from compendium.analysis.themes import code_counts

    study = interviews.study
    codes = study.codes[study.codes["activity_id"] == "A2-INT"]
    assert len(codes) > LONG_TABLE_ROWS
    themes = codes.join(code_counts(codes, study.segments, study.codings), on="code_id")
    table = soup(sections.theme_table(interviews, themes, "A2-INT").data).find(
        "table", id="T_themes-A2-INT"
    )
    assert {COUNTS, SORTABLE} <= set(table["class"])
    wordings = {td.get_text() for td in table.select("tbody td.col4")}
    assert wordings and wordings <= {
        "the paper's words",
        "our paraphrase of the paper",
        "reconstructed, not printed as such",
        "synthetic, newly written",
    }


def flow_boxes(chapter: Chapter) -> dict[str, list[str]]:
    """Return the CONSORT diagram of a stage: each phase's boxes, as text."""
    trial = chapter.rows("participants").merge(chapter.rows("attendance"), on="participant_id")
    flow = sections.participant_flow(chapter, trial)
    page = soup(figures.trial_flow(chapter, flow).data)
    return {
        phase.select_one(".consort-phase-label").get_text(): [
            box.get_text(" ", strip=True) for box in phase.select(".consort-box")
        ]
        for phase in page.select(".consort-phase")
    } | {"caption": [page.figcaption.get_text()]}


def test_the_pilot_flow_is_consorts_with_what_the_paper_does_not_report_said_so():
    boxes = flow_boxes(Chapter.for_stage("5"))
    assert list(boxes) == ["Enrolment", "Allocation", "Follow-up", "Analysis", "caption"]
    assessed, excluded, randomised = boxes["Enrolment"]
    assert assessed == "Assessed for eligibility (n = not reported)"
    assert excluded.startswith("Excluded (n = not reported)")
    assert randomised == "Randomised (n = 40)"
    assert boxes["Allocation"][0].startswith("Allocated to Peer-supported self-management (n = 21)")
    assert boxes["Allocation"][1].startswith("Allocated to Usual care (n = 19†)")
    assert all(
        "Received the allocated intervention: not reported" in b for b in boxes["Allocation"]
    )
    lost = boxes["Follow-up"][0]
    assert lost.startswith("Lost to follow-up (n = 3)") and "Reason: Declined (n = 3)" in lost
    assert "Discontinued the intervention: not reported" in lost
    assert boxes["Analysis"][0].startswith("Analysed (n = 18)")
    assert "† synthetic" in boxes["caption"][0]
    # "not reported" is never next to a number.
    for phase in ("Enrolment", "Allocation", "Follow-up"):
        for box in boxes[phase]:
            assert not re.search(r"not reported\)?\s*\d", box)


def test_a_flow_without_arms_offers_the_intervention_rather_than_allocating_it():
    boxes = flow_boxes(Chapter.for_stage("4"))
    assert boxes["Enrolment"][2].startswith("Recruited (n = ")
    assert boxes["Allocation"][0].startswith("Offered the intervention (n = ")
    assert "Received the offered intervention: not reported" in boxes["Allocation"][0]
