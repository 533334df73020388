"""Theme summaries, breakdowns, published/synthetic flags, quotes and findings."""

from __future__ import annotations

import re

import pytest

from compendium.analysis.themes import code_counts
from compendium.presentation import summaries as sm
from compendium.presentation.links import anchor, decision_href

ANALYSES = ["A2-INT", "A3-FG", "A4-INT", "A4-FG", "A5-INT", "A5-FG"]


@pytest.mark.parametrize("activity_id", ANALYSES)
def test_theme_summary_counts_are_the_nvivo_counts(study, activity_id):
    summary = sm.theme_summary(study, activity_id).set_index("code_id")
    codes = study.codes[study.codes["activity_id"] == activity_id]
    assert list(summary.index) == list(codes["code_id"])
    counts = code_counts(study.codes, study.segments, study.codings).loc[codes["code_id"]]
    assert summary["sources"].tolist() == counts["sources"].tolist()
    assert summary["references"].tolist() == counts["references"].tolist()
    assert summary["excerpt"].notna().all()


def test_parent_counts_the_union_not_the_sum(study):
    summary = sm.theme_summary(study, "A2-INT").set_index("code_id")
    children = ["A2-1.1.1", "A2-1.1.2", "A2-1.1.3"]
    assert summary.loc[children, "sources"].tolist() == [31, 7, 6]
    assert summary.loc[children, "references"].tolist() == [43, 7, 8]
    assert summary.loc["A2-1.1", ["sources", "references"]].tolist() == [39, 57]
    assert summary.loc[children, "sources"].sum() == 44


def test_published_and_synthetic_flags(study):
    summary = sm.theme_summary(study, "A2-INT").set_index("code_id")
    assert summary.loc["A2-1.1.1", "counts"] == "published"
    assert summary.loc["A2-2.1", "counts"] == "sources published"
    assert summary.loc["A2-2.5", "counts"] == "synthetic"
    assert summary.loc["A2-3.1", "name_status"] == "synthetic"
    assert summary.loc["A2-1", "name_status"] == "published"
    published = sm.published_code_counts(study.published_figures)
    assert ("references", "A2-1.1") in published
    assert ("references", "A2-2.1") not in published


def test_is_published_ignores_keyword_order(study):
    assert sm.is_published(
        study, "participants('A5-INT', sessions_attended=10, status='interviewed')"
    )
    assert not sm.is_published(
        study, "participants('A5-INT', status='interviewed', sessions_attended=9)"
    )


def test_excerpt_is_the_attributed_quote_where_the_paper_has_one(study):
    summary = sm.theme_summary(study, "A2-INT").set_index("code_id")
    quote = study.quotes.set_index("quote_id").loc["Q01"]
    row = summary.loc[quote["code_id"]]
    assert row["excerpt"] == quote["text"]
    assert row["excerpt_kind"] == "published quote"
    assert row["attribution"].startswith(
        f"{quote['label']}; {quote['location']}; Milton et al. (2017)"
    )


def test_unlabelled_quote_says_so(study):
    summary = sm.theme_summary(study, "A2-INT").set_index("code_id")
    assert summary.loc["A2-2.4", "attribution"].startswith("speaker not labelled; Table 2")


def test_other_codes_get_a_synthetic_excerpt_labelled_as_such(study):
    summary = sm.theme_summary(study, "A2-INT").set_index("code_id")
    row = summary.loc["A2-2.5"]
    segments = study.segments.set_index("segment_id")
    direct = study.codings.loc[study.codings["code_id"] == "A2-2.5", "segment_id"].sort_values()
    assert row["excerpt"] == segments.loc[direct.iloc[0], "excerpt"]
    assert row["excerpt_kind"] == "synthetic excerpt"
    assert row["attribution"].startswith("synthetic excerpt, S2-")


def test_theme_table_html_marks_status_and_has_stable_id(study):
    html = sm.theme_table(study, "A2-INT").to_html()
    assert '<table id="T_themes-A2-INT">' in html
    assert "<caption>CRT service-user interviews: themes and subthemes" in html
    assert ">sources published<" in html and ">synthetic<" in html
    assert "font-style: italic" in html
    assert sm.theme_table(study, "A2-INT").to_html() == html


def test_unknown_analysis_is_named(study):
    with pytest.raises(ValueError, match="codes.csv: no codes for analysis 'A9-X'"):
        sm.theme_summary(study, "A9-X")


def test_code_breakdown_with_floor_percentages(study):
    rows = sm.code_breakdown(
        study, "A4-1", "participants('A4-INT', status='interviewed')", rounding="floor"
    )
    assert rows["code_id"].tolist() == ["A4-1.1", "A4-1.2", "A4-1"]
    assert rows["sources"].tolist() == [4, 4, 5]
    assert rows["percent"].tolist() == [44, 44, 55]
    values = sm.breakdown_values(rows)
    assert values["A4-1_sources"] == 5
    assert values["children_sources"] == 8
    assert values["overlap_sources"] == 3


def test_acceptability_breakdown_half_up(study):
    rows = sm.code_breakdown(study, "A2-1.1", "participants('A2-INT', status='interviewed')")
    assert rows.set_index("code_id").loc["A2-1.1.1", "percent"] == 78
    values = sm.breakdown_values(rows)
    assert (values["children_sources"], values["A2-1.1_sources"]) == (44, 39)
    assert (values["children_references"], values["A2-1.1_references"]) == (58, 57)


def test_breakdown_of_unknown_code_is_named(study):
    with pytest.raises(ValueError, match="codes.csv: no code 'A2-99'"):
        sm.code_breakdown(study, "A2-99")


def test_concept_endorsement_uses_published_respondent_counts(study):
    table = sm.concept_endorsement(study, "A2-INT").set_index("code_id")
    assert table.loc["A2-2.1", ["concept", "sources", "counts"]].tolist() == [
        "Peer support",
        27,
        "published",
    ]
    assert table.loc["A2-2.4", "sources"] == 12
    assert table.loc["A2-2.5", "counts"] == "synthetic"


def test_programme_matrix_and_concept_counts(study):
    matrix = sm.programme_concept_matrix(study)
    assert len(matrix) == 19
    assert matrix["Recovery"].sum() == 12
    assert matrix["Psycho-education"].all()
    counts = sm.concept_programme_counts(study).set_index("concept_id")
    assert counts.loc["recovery", ["programmes", "of", "counts"]].tolist() == [12, 19, "published"]
    assert counts.loc["psychoeducation", "counts"] == "published"
    assert (counts.drop(index=["recovery", "psychoeducation"])["counts"] == "synthetic").all()
    html = sm.matrix_styler(matrix, "m", "c").to_html()
    assert html.count("✓") == int(matrix.select_dtypes(bool).to_numpy().sum())


def test_group_crosstab(study):
    table = sm.group_crosstab(study, "A3-FG")
    assert table.loc["Total", "Total"] == 12
    assert (table.loc["Total"].drop("Total") > 0).sum() == 5
    assert table.loc["Staff", "Total"] == 5


def test_theme_sources_by_stakeholder_type_are_within_the_totals(study):
    table = sm.theme_sources_by(study, "A3-FG")
    summary = sm.theme_summary(study, "A3-FG", max_depth=0).set_index("theme")
    assert list(table.index) == list(summary.index)
    assert (table.sum(axis=1) == summary["sources"]).all()
    assert list(table.columns) == ["Staff", "Service user", "Carer"]


def test_findings_html_has_anchors_links_and_reasons(study):
    html = sm.findings_html(study, 2)
    ids = re.findall(r'<li id="([^"]+)"', html)
    stage = study.findings[study.findings["stage"] == 2].sort_values("position")
    assert ids == [anchor("finding", f) for f in stage["finding_id"]]
    assert f'href="{decision_href("D1.1")}"' in html
    assert "Not acted on: Group and internet delivery were not chosen" in html
    assert "(wording from Table 1)" in html and "(our paraphrase)" in html


def test_every_linked_decision_is_in_the_trace(study):
    for stage in range(1, 6):
        findings = sm.stage_findings(study, stage)
        for f in findings.itertuples():
            expected = set(
                study.trace.loc[study.trace["finding_id"] == f.finding_id, "decision_id"]
            )
            assert {d for d, _ in f.decisions} == expected


def test_stage_decisions_and_overview(study):
    stages = sm.stage_decisions(study)
    assert stages["stage"].tolist() == [1, 2, 3, 4, 5]
    assert stages.loc[0, "decisions"] == [
        "Decision in principle to provide a peer-provided, self-management programme"
    ]
    assert sum(len(d) for d in stages["decisions"]) == int(
        (study.decisions["level"] == "summary").sum()
    )
    overview = sm.stage_overview(study)
    assert "CRT service-user interviews (41 participants)" in overview.loc[1, "Data collected"]


def test_attendance_pattern_table(study):
    table = sm.attendance_pattern_table(study, "A5-INT").set_index("attendance pattern")
    assert table["participants"].sum() == 18
    assert table.loc["moved house and lost touch"].tolist() == [2, "published"]


def test_review_conclusion_is_attributed(study):
    html = sm.review_conclusions_html(study)
    statement = study.concepts.set_index("concept_id").loc["peer", "stage1_statement"]
    assert statement in html
    assert 'id="review-peer"' in html and "Table 2 of Milton et al. (2017)" in html


def test_style_table_escapes_and_sanitises_ids():
    import pandas as pd

    html = sm.style_table(pd.DataFrame({"a": ["<b>"]}), "x.y z", "n < 3").to_html()
    assert 'id="T_x-y-z"' in html
    assert "&lt;b&gt;" in html and "<caption>n &lt; 3</caption>" in html


def test_theme_table_suppresses_small_source_counts(study, monkeypatch):
    from compendium.presentation import summaries

    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "5")
    summary = summaries.theme_summary(study, "A4-INT")
    html = summaries.theme_summary_styler(summary, "t", "c").to_html()
    assert "&lt;5" in html
    # "Gained nothing from the programme": one person, so hidden; the 5 with barriers are shown.
    assert summary.set_index("code_id").loc["A4-5.2", "sources"] == 1
    shown = summaries.shown_counts(summary["sources"], 5)
    assert shown[summary["code_id"] == "A4-5.2"].item() == "<5"
    assert shown[summary["code_id"] == "A4-1"].item() == 5
