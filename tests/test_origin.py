"""One vocabulary of origin, one mark per origin: in tables, in captions and in glued prose."""

from __future__ import annotations

import re
from html import unescape

import pandas as pd
import pytest

from compendium.book import Chapter
from compendium.presentation import origin, sections


@pytest.fixture(scope="module")
def chapter() -> Chapter:
    return Chapter("paper-tables")


@pytest.fixture
def glued(monkeypatch) -> dict:
    """What the chapter glues, by name, instead of myst_nb's output."""
    out: dict = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: out.update({name: value}))
    return out


def text_of(shown) -> str:
    html = shown.to_html() if hasattr(shown, "to_html") else getattr(shown, "data", str(shown))
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_text_carries_its_wording_note():
    assert origin.worded("Text", "paraphrase") == "Text (our paraphrase of the paper)"
    assert origin.worded("Text", pd.NA) == "Text"
    assert origin.worded_list(["a", "b"], ["verbatim"] * 2) == "a; b (the paper's words)"
    assert origin.worded_list(["a", "b"], ["verbatim", "paraphrase"]) == (
        "a (the paper's words); b (our paraphrase of the paper)"
    )


def test_numbers_take_the_origin_of_the_figure_they_reproduce(chapter):
    measures = chapter.measures
    assert origin.number_origin(chapter, measures.sources("A2-1.1.1")) == "published"
    assert origin.number_origin(chapter, measures.references("A2-1.1")) == "published"
    assert origin.number_origin(chapter, measures.participants(activity="A3-FG")) == "synthetic"
    assert origin.number_origin(chapter, 12) == "synthetic"
    # A percentage of two published counts is derived from them; of a synthetic one, synthetic.
    one = measures.participants(activity="A5-INT", attendance_pattern="attended only one session")
    interviewed = measures.participants(activity="A5-INT", status="interviewed")
    assert origin.number_origin(chapter, measures.percent(one, interviewed)) == "derived"
    stopped = measures.participants(
        activity="A5-INT", attendance_pattern="attended some sessions, then stopped"
    )
    assert origin.number_origin(chapter, measures.percent(stopped, interviewed)) == "synthetic"
    assert origin.number_text(chapter, measures.stages()) == "5"
    assert origin.number_text(chapter, stopped) == "4\u2020"
    assert origin.number_text(chapter, measures.percent(one, interviewed)) == "11\u2021"
    assert origin.number_text(chapter, stopped, "people") == "4 people\u2020"
    # A sum of published counts is derived; one with a synthetic count in it, synthetic.
    assert origin.combined_origin(chapter, [one, interviewed]) == "derived"
    assert origin.combined_origin(chapter, [one, stopped]) == "synthetic"


def test_reconstructed_figures_keep_their_own_origin(chapter):
    analysed = chapter.measures.participants(activity="A2-INT", status="interviewed")
    assert analysed.figure_id == "PF02"
    assert origin.number_text(chapter, analysed) == "40*"
    gained_nothing = chapter.measures.sources("A4-5.2")
    assert gained_nothing.figure_id == "PF33" and origin.marked(chapter, gained_nothing) == "1*"


def test_legend_lists_only_the_marks_used():
    assert origin.legend_text({"published", "synthetic"}) == (
        " Unmarked numbers are published in the paper; \u2020 synthetic."
    )
    assert origin.legend_text({"published"}) == ""
    assert origin.legend_text({"derived", "reconstructed"}) == (
        " \u2021 derived from published numbers; * reconstructed, not printed in the paper."
    )


def test_glue_marks_measured_numbers_and_puts_disclosure_first(chapter, glued, monkeypatch):
    measures = chapter.measures
    chapter.glue("published", measures.sources("A2-1.1.1"))
    chapter.glue("synthetic", measures.sources("A2-3.1"))
    chapter.glue("themes", measures.themes("A5-FG"))  # the paper gives no count of these themes
    chapter.glue("recruited", measures.participants(activity="A5-INT"))
    chapter.glue("records", 72, records=True)
    chapter.glue("own", 12)  # a count of this compendium's own rows or checks
    chapter.glue("text", "none")
    assert glued["published"] == "31"
    assert glued["synthetic"].endswith("\u2020")
    assert glued["themes"] == "5\u2020"
    assert glued["recruited"] == "40"
    assert glued["records"] == "72\u2020" and glued["own"] == "12" and glued["text"] == "none"
    origin.glue_marked(chapter, "marked", 72)
    assert glued["marked"] == "72\u2020"
    monkeypatch.setattr(chapter, "threshold", 40)
    chapter.glue("hidden", measures.sources("A2-1.1.1"))
    chapter.glue("hidden_synthetic", measures.sources("A2-3.1"))
    assert glued["hidden"] == "<40" and glued["hidden_synthetic"] == "<40"


def test_a_breakdown_of_published_counts_glues_derived_sums(glued):
    stage2 = Chapter.for_stage("2")
    breakdown = stage2.stage.breakdowns[0]
    children = stage2.study.codes[stage2.study.codes["parent_id"] == breakdown.code]
    rows = sections.breakdown_rows(stage2, breakdown, children)
    stage2.glue_breakdown(breakdown, rows)
    assert glued["A2-1.1.1_sources"] == "31"
    # Positive, neutral and negative views add up to 44 people: more than the 39 with a view,
    # since a person may say more than one thing; both numbers come from published ones.
    assert glued["A2-1.1_children_sources"] == "44\u2021"
    assert glued["A2-1.1_overlap_sources"] == "5\u2021"


def test_stage_tables_mark_what_the_paper_does_not_print():
    stage3 = Chapter.for_stage("3")
    groups = stage3.rows("focus_groups")
    crosstab = pd.crosstab(groups["role"], groups["site_id"], margins=True, margins_name="All")
    shown = sections.group_table(stage3, crosstab)
    cells = shown.data
    # The paper prints the number of groups, not their split by stakeholder type and trust.
    assert cells.iloc[-1, -1] == "12"
    assert cells.iloc[:-1, :-1].map(lambda c: c.endswith("\u2020")).all().all()
    assert "Unmarked numbers are published in the paper; \u2020 synthetic." in text_of(shown)
    activities = text_of(sections.activities_table(stage3))
    assert "12 groups" in activities and "(published)" not in activities


def test_stage_findings_mark_the_decisions_they_informed():
    shown = text_of(sections.findings(Chapter.for_stage("4")))
    assert re.search(
        r"D4\.3\s*:\s*Endings to be planned and gradual, as participants suggested "
        r"\(reconstructed, not printed as such\)",
        shown,
    )
    assert (
        "Systems to link PSWs with the CRT team refined (reconstructed, not printed as such)"
        in (shown)
    )
