"""The study-wide displays against the paper: origin marks, Tables 1-3, TIDieR, the drill-down."""

from __future__ import annotations

import re
from html import escape as html_escape
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compendium.analysis.measures import Measures
from compendium.analysis.reproduction import mismatches, reproduction_table, summary
from compendium.contract.loading import Study
from compendium.presentation import reporting
from compendium.presentation.chapter import Chapter
from compendium.presentation.links import anchor, component_href, decision_href, finding_href
from compendium.presentation.origin import WORDING_NOTES

FACTS_PATH = Path(__file__).parent / "paper" / "paper_facts.yaml"  # see tests/paper/README.md
NOTE = {w: f" ({note})" for w, note in WORDING_NOTES.items()}
VERBATIM, PARAPHRASE, RECONSTRUCTION = NOTE["verbatim"], NOTE["paraphrase"], NOTE["reconstruction"]
WORDED = re.compile("(" + "|".join(re.escape(n) for n in NOTE.values()) + ")$")


@pytest.fixture(scope="module")
def facts() -> dict:
    return yaml.safe_load(FACTS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def chapter() -> Chapter:
    return Chapter("paper-tables")


def without(chapter: Chapter, *resources: str) -> Chapter:
    """A chapter on the same package minus some resources (modules it then lacks)."""
    study = chapter.study
    kept = {k: v for k, v in study.tables.items() if k not in resources}
    copy = Chapter.__new__(Chapter)
    copy.__dict__.update(chapter.__dict__)
    copy.study = Study(study.data_dir, study.descriptor, kept, digests=study.digests)
    copy.study.__dict__["metadata"] = study.__dict__["metadata"]
    copy.measures = Measures(copy.study)
    return copy


def lines(cell: str) -> list[str]:
    return cell.split("\n")


def unmarked(line: str) -> str:
    """A line without its trailing wording note (which it must have)."""
    assert WORDED.search(line), line
    return WORDED.sub("", line)


def text_of(html) -> str:
    return unescape(re.sub(r"<[^>]+>", "", getattr(html, "data", str(html))))


# --------------------------------------------------------------------------- marks


def test_legend_explains_every_mark_once(chapter):
    legend = text_of(reporting.origin_legend(chapter))
    for sign in ("\u2021", "*", "\u2020", "no mark"):
        assert legend.count(sign) == 1, sign
    for note in WORDING_NOTES.values():
        assert legend.count(f"({note})") == 1, note
    assert "regenerated here from the synthetic records" in legend
    assert reporting.legend_text({"published", "synthetic"}) == (
        " Unmarked numbers are published in the paper; \u2020 synthetic."
    )
    assert reporting.legend_text({"published"}) == ""


# --------------------------------------------------------------------------- Table 1


def table1_rows(study, table_id="table1") -> pd.DataFrame:
    findings, decisions = study.findings, study.decisions
    findings = findings[findings["in_table"] == table_id]
    decisions = decisions[decisions["in_table"] == table_id]
    return pd.concat(
        [
            findings.assign(row="Key findings", text=findings["statement"]),
            decisions.assign(row="Intervention development decisions", text=decisions["decision"]),
        ]
    ).reindex(columns=["stage_id", "row", "text", "wording"])


@pytest.fixture(scope="module")
def table1(chapter) -> pd.DataFrame:
    return reporting.stage_summary(chapter, "table1", table1_rows(chapter.study))


def stage_column(table: pd.DataFrame, stage: int) -> pd.Series:
    (column,) = [c for c in table.columns if c[1].startswith(f"Stage {stage}:")]
    return table[column]


@pytest.mark.parametrize("stage", [1, 2, 3, 4, 5])
def test_table1_method_and_key_findings_are_the_papers(table1, facts, stage):
    column = stage_column(table1, stage)
    assert column["Method"] == facts["table1"]["method"][f"stage_{stage}"] + VERBATIM
    findings = [unmarked(line) for line in lines(column["Key findings"])]
    assert findings == facts["table1"]["key_findings"][f"stage_{stage}"]
    assert all(line.endswith(VERBATIM) for line in lines(column["Key findings"]))


def test_table1_decisions_are_the_papers_where_they_survive(table1, facts):
    decisions = facts["table1"]["intervention_development_decisions"]
    stage_1_2 = lines(stage_column(table1, 1)["Intervention development decisions"])
    stage_1_2 += lines(stage_column(table1, 2)["Intervention development decisions"])
    assert [unmarked(d) for d in stage_1_2] == decisions["stage_1_2"]
    stage_3 = lines(stage_column(table1, 3)["Intervention development decisions"])
    assert [unmarked(d) for d in stage_3] == decisions["stage_3"]
    assert all(d.endswith(VERBATIM) for d in stage_1_2 + stage_3)
    # Stages 4 and 5 survive only in part: reconstructed, and marked so.
    for stage in (4, 5):
        cell = lines(stage_column(table1, stage)["Intervention development decisions"])
        assert cell and all(d.endswith(RECONSTRUCTION) for d in cell)
    assert unmarked(
        lines(stage_column(table1, 4)["Intervention development decisions"])[0]
    ).startswith(decisions["stage_4"]["seen"])


def test_table1_leaves_out_rows_not_in_the_table(table1):
    text = table1.to_string()
    assert "Guidance on planned, gradual endings" not in text  # D4.3: not a row of Table 1
    assert "Medication education features" not in text  # F1.4: not a row either


def test_table1_header_groups_stages_by_phase(table1, chapter):
    phases = table1.columns.get_level_values("Phase")
    assert list(phases) == ["Development"] * 3 + ["Feasibility and piloting"] * 2
    assert table1.index.tolist() == list(reporting.STAGE_SUMMARY_ROWS)


def test_stage_summary_without_declared_columns_uses_methods(chapter):
    table = chapter.descriptor.table("table1")
    bare = type(table)(table.id, table.kind, table.title, table.caption, ())
    descriptor = chapter.descriptor
    tables = tuple(bare if t.id == "table1" else t for t in descriptor.tables)
    copy = without(chapter)
    copy.descriptor = type(descriptor)(**{**descriptor.__dict__, "tables": tables})
    frame = reporting.stage_summary(copy, "table1", table1_rows(chapter.study))
    assert frame.shape[1] == len(descriptor.stages)
    assert stage_column(frame, 1)["Method"] == "Evidence review"
    assert stage_column(frame, 4)["Method"] == "Interview, Focus group"


# --------------------------------------------------------------------------- Table 2


def table2_links(study) -> pd.DataFrame:
    return study.concept_codes.merge(
        study.codes.loc[:, ["code_id", "activity_id", "name", "name_wording"]], on="code_id"
    ).merge(study.activities.loc[:, ["activity_id", "stage_id"]], on="activity_id")


@pytest.fixture(scope="module")
def table2(chapter) -> pd.DataFrame:
    return reporting.concept_evidence(chapter, "table2", table2_links(chapter.study))


def test_table2_headers_are_the_papers(table2, facts):
    assert table2.index.name == "Concept"
    assert list(table2.columns) == [
        "Definition",
        *facts["table2"]["columns"][2:5],
        "Illustrative quotes",
    ]


@pytest.mark.parametrize("row", [0, 1, 2])
def test_table2_published_counts_are_the_papers(table2, facts, row):
    paper = facts["table2"]["rows"][row]
    shown = table2.iloc[row]
    assert unmarked(table2.index[row]) == paper["concept"]
    assert unmarked(shown["Definition"]) == paper["definition"]
    stage2 = lines(shown["Stage 2: CRT service user interviews"])
    expected = [
        f"{c['code']}{VERBATIM}: {c['respondents']} respondents"
        for c in paper.get("stage2_codes", [])
    ]
    assert stage2[: len(expected)] == expected
    stage3 = lines(shown["Stage 3: focus groups"])
    codes = paper["stage3_codes"] if isinstance(paper["stage3_codes"], list) else []
    expected = [f"{c['code']}{VERBATIM}: {c['sources']} sources" for c in codes]
    assert [s for s in stage3 if s in expected] == expected
    if not codes:  # the paper prints a dash: no code of stage 3 speaks to the concept
        assert stage3 == ["\u2013"]


def test_table2_stage1_reads_as_the_paper(table2):
    stage1 = table2["Stage 1: evidence review findings"]
    assert stage1.iloc[0] == (
        "Interventions using peer support have currently inconclusive evidence of efficacy; "
        "however, they are widely used" + VERBATIM
    )
    assert stage1.iloc[1] == "12 of 19 reviewed programmes"
    assert stage1.iloc[2] == "19 of 19 reviewed programmes"


def test_table2_marks_every_count_by_its_measure(chapter, table2):
    cells = set()
    for cell in table2.to_numpy().ravel():
        cells.update(lines(cell))
    links = table2_links(chapter.study)
    units = {"A2-INT": "respondents", "A3-FG": "sources"}
    for link in links.itertuples():
        count = chapter.measures.sources(link.code_id)
        sign = "" if count.origin == "published" else "\u2020"
        line = f"{link.name}{NOTE[link.name_wording]}: {int(count)} {units[link.activity_id]}{sign}"
        assert line in cells, link.code_id
    relapse = table2.loc["Relapse prevention" + RECONSTRUCTION]
    assert relapse["Stage 2: CRT service user interviews"].endswith("respondents\u2020")
    assert relapse["Stage 1: evidence review findings"] == ("16\u2020 of 19 reviewed programmes")


def test_table2_says_which_quotes_were_not_recovered(table2, facts):
    quotes = table2["Illustrative quotes"]
    assert list(quotes.iloc[3:]) == [reporting.NO_QUOTE] * 5
    first = facts["table2"]["rows"][0]["quotes"][0]
    assert quotes.iloc[0] == (
        f"\u201c{first['text']}\u201d (SU28; Table 2; Milton et al. (2017)){VERBATIM}"
    )
    assert quotes.iloc[2].endswith(
        "[\u2026]\u201d (speaker: an SU label whose number was not recovered; Table 2; "
        "Milton et al. (2017))" + VERBATIM
    )


# --------------------------------------------------------------------------- Table 3


@pytest.fixture(scope="module")
def table3(chapter) -> pd.DataFrame:
    decisions = chapter.study.decisions
    return reporting.specifications(chapter, "table3", decisions[decisions["in_table"] == "table3"])


def test_table3_seen_rows_match_the_paper(table3, facts):
    shown = table3.reset_index()
    for row in facts["table3"]["rows_seen"]:
        if "decision" not in row:
            continue
        (match,) = shown.index[shown["Decision"] == row["decision"] + VERBATIM]
        rationale = row["rationale"]
        rationale = "; ".join(rationale) if isinstance(rationale, list) else rationale
        assert shown.at[match, "Area"] == row["area"]
        assert unmarked(shown.at[match, "Rationale"]) == rationale
        assert shown.at[match, "Rationale"].endswith(VERBATIM)


def test_table3_marks_reconstructed_rows(table3):
    t309 = table3.xs("T3.09", level="ID").iloc[0]
    # Seen up to "within 3", and the copy of the text goes on "months": the paper's words.
    assert t309["Decision"].endswith(VERBATIM)
    # Its rationale survives only without its stop-words, which this compendium supplies.
    assert t309["Rationale"] == (
        "1:1 support likely to be more acceptable and feasible for participants than a group "
        "programme" + RECONSTRUCTION
    )
    verbatim = table3["Decision"].str.endswith(VERBATIM)
    assert verbatim.sum() == 9


def test_table3_is_grouped_by_area_in_order_of_appearance(table3):
    areas = list(dict.fromkeys(table3.index.get_level_values("Area")))
    assert areas == [
        "Self-management resource",
        "Structure of the programme",
        "Programme values",
        "Peer support worker recruitment",
        "Training and supervision",
    ]
    ids = table3.index.get_level_values("ID")
    assert list(ids[:8]) == ["T3.01", "T3.02", "T3.03", "T3.04", "T3.05", "T3.06", "T3.07", "T3.08"]


# --------------------------------------------------------------------------- display


def test_summary_table_is_captioned_downloadable_and_credited(chapter):
    shown = reporting.summary_table(chapter, "table1", table1_rows(chapter.study))
    html = shown.data
    assert "Table 1: the development process at a glance" in html
    assert 'download="summary-table1.csv"' in html
    assert shown.compendium_reads == {"study.yaml", "findings.csv", "decisions.csv"}


def test_summary_table_escapes_data(chapter):
    rows = table1_rows(chapter.study).copy()
    rows.iloc[0, rows.columns.get_loc("text")] = "<script>alert(1)</script>"
    html = reporting.summary_table(chapter, "table1", rows).data
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_summary_tables_say_when_their_module_is_absent(chapter):
    bare = without(chapter, "programmes", "concepts", "programme_concepts", "concept_codes")
    note = reporting.summary_table(bare, "table2", table2_links(chapter.study))
    assert "needs the evidence review module (review)" in text_of(note)
    no_trace = without(chapter, "findings", "finding_evidence", "decisions", "trace")
    empty = no_trace.rows("decisions")
    assert empty.empty and "in_table" in empty.columns
    note = reporting.summary_table(no_trace, "table3", empty)
    assert "needs the findings and decisions module (trace)" in text_of(note)


def test_stage_overview_marks_reported_sample_sizes(chapter):
    html = reporting.stage_overview(chapter).to_html()
    assert "CRT service-user interviews (41 participants)" in html
    assert "Unmarked numbers" not in html  # every reported sample size is published
    assert "Review of peer-support interventions (sample size not reported)" in html


# --------------------------------------------------------------------------- the trace


def test_every_decision_has_an_expandable_block(chapter):
    html = reporting.decision_details(chapter).data
    ids = re.findall(r'<details class="decision" id="([^"]+)">', html)
    decisions = chapter.study.decisions
    summary_ids = decisions.loc[decisions["level"] == "summary", "decision_id"]
    spec_ids = decisions.loc[decisions["level"] == "specification", "decision_id"]
    assert ids == [anchor("decision", d) for d in [*summary_ids, *spec_ids]]


def test_drill_down_links_findings_components_and_parents(chapter):
    html = reporting.decision_details(chapter).data
    block = re.search(r'<details[^>]*id="decision-D1-1">.*?</details>', html, re.S).group(0)
    assert f'href="{finding_href(chapter.descriptor, "2", "F2.2")}"' in block
    assert f'href="{component_href("K01")}"' in block
    assert (
        "Evidence was promising and service users wanted more support after CRT care."
        + html_escape(PARAPHRASE)
        in block
    )
    spec = re.search(r'<details[^>]*id="decision-T3-03">.*?</details>', html, re.S).group(0)
    assert '<a href="#decision-D3-1">D3.1</a>' in spec


def test_drill_down_marks_evidence_counts_quotes_and_figures(chapter):
    html = reporting.decision_details(chapter).data
    block = re.search(r'<details[^>]*id="decision-D1-1">.*?</details>', html, re.S).group(0)
    text = re.sub(r"\s+", " ", text_of(block)).replace("&#34;", '"')
    assert f"Code A2-1.1.1 \u201cPositive view{VERBATIM}\u201d: 31 sources, 43 references" in text
    assert re.search(
        r"Code A2-3\.1 \u201c[^\u201d]+\u201d: \d+ sources\u2020, \d+ references\u2020", text
    )
    assert "(SU28; Table 2; Milton et al. (2017))" + VERBATIM in text
    assert "Figure PF03 (Positive view of peer support: participants, DS4 Table 1): 31 " in text
    d43 = re.search(r'<details[^>]*id="decision-D4-3">.*?</summary>', html, re.S).group(0)
    assert html_escape(RECONSTRUCTION) in d43


def test_completeness_display_shows_failing_ids(chapter):
    study = chapter.study
    from compendium.analysis import trace

    links = study.trace[study.trace["decision_id"] != "D4.3"]
    report = trace.completeness(study.findings, study.decisions, links, study.finding_evidence)
    html = reporting.completeness_display(chapter, report).data
    assert "\u2717 failed" in html and "D4.3" in html


def test_set_aside_display_marks_wording_and_reason(chapter):
    from compendium.analysis import trace

    aside = trace.set_aside(chapter.study.findings, chapter.study.stages)
    html = reporting.set_aside_display(chapter, aside).data
    assert (
        "Medication education features in many reviewed programmes." + html_escape(PARAPHRASE)
        in html
    )
    assert "trace-not-acted-on.csv" in html


# --------------------------------------------------------------------------- the intervention


@pytest.fixture(scope="module")
def delivered(chapter):
    activity = reporting.trial_activity(chapter)
    return activity, reporting.delivery(chapter, activity)


def test_delivery_matches_ds8_with_each_count_marked(delivered, facts):
    activity, taken_up = delivered
    assert activity == "A5-INT"
    ds8 = next(s for s in facts["stages"] if s["stage"] == 5)["attendance_DS8"]
    rows = taken_up.set_index("attendance")
    assert ds8["attended_all_ten_sessions"].startswith("Seven participants (39%")
    full = rows.loc["attended all 10 sessions offered"]
    assert (full["participants"], full["percent"], full["origin"]) == (7, 39, "published")
    assert full["percent"].origin == "published"  # the paper prints the 39% too
    assert rows.at["attended only one session", "participants"] == ds8["attended_only_one_session"]
    assert rows.at["moved house and lost touch", "participants"] == ds8["moved_house_lost_touch"]
    assert rows.at["still seeing their PSW", "participants"] == ds8["still_seeing_psw_at_interview"]
    stopped = rows.loc["attended some sessions, then stopped"]
    assert (stopped["participants"], stopped["percent"], stopped["origin"]) == (4, 22, "synthetic")
    assert taken_up.attrs["analysed"] == 18 and taken_up.attrs["analysed"].origin == "published"


def test_delivery_respects_the_small_cell_threshold(chapter, delivered, monkeypatch):
    activity, taken_up = delivered
    monkeypatch.setattr(chapter, "threshold", 3)
    shown = reporting.delivery_display(chapter, activity, taken_up).data
    text = re.sub(r"\s+", " ", text_of(shown))
    assert "attended most sessions, unsure how many <3 <3 " in text
    assert "attended all 10 sessions offered 7 39% " in text
    assert "attended some sessions, then stopped 4\u2020 22%\u2020 " in text
    assert "attended only one session <3 <3 " in text
    assert "\u2021 derived from published numbers; \u2020 synthetic." in text


def test_quantities_carry_their_recorded_origin(chapter):
    assert reporting.quantity(chapter, "K03") == "10 sessions"
    assert reporting.quantity(chapter, "K04") == "3 months"


def test_tidier_links_components_to_decisions_and_reports_delivery(chapter, delivered):
    activity, taken_up = delivered
    html = reporting.tidier(chapter, taken_up, activity).data
    assert html.count("<tr") == 1 + len(chapter.study.tidier)
    assert f'id="{anchor("component", "K02b")}"' in html
    assert f'<a href="{decision_href("T3.08")}">T3.08</a>' in html
    assert "<strong>Ten sessions</strong> (10 sessions): Ten sessions with the peer" in html
    assert "attended some sessions, then stopped: 4\u2020 (22%\u2020)" in html
    assert "attended only one session: 2 (11%\u2021)" in html
    assert "attended all 10 sessions offered: 7 (39%)" in html
    assert "of 18 participants analysed" in html
    assert "\u2021 derived from published numbers; \u2020 synthetic." in html


def test_tidier_without_a_trial_keeps_item_12_as_described(chapter):
    html = reporting.tidier(without(chapter, "attendance"), None, None).data
    assert "Session attendance in the pilot trial" in html
    assert "participants analysed" not in html
    assert "needs the trial flow and attendance module" in text_of(
        reporting.delivery_display(without(chapter, "attendance"), None, None)
    )


# --------------------------------------------------------------------------- reproduction


def test_reproduction_display_and_mismatch_lines(chapter):
    table = reproduction_table(chapter.study.published_figures, chapter.measures)
    assert summary(table) == f"{len(table)} of {len(table)} listed figures reproduced"
    assert mismatches(table) == []
    shown = reporting.reproduction_display(table)
    assert shown.at["PF02", "Origin of the paper's value"] == "reconstructed"
    assert shown.at["PF03", "Match"] == "\u2713"
    changed = table.assign(published=table["published"].where(table["figure_id"] != "PF06", 8.0))
    changed["matches"] = changed["published"] == changed["regenerated"]
    assert mismatches(changed) == [
        "PF06 (Neutral or mixed view: references, DS4 Table 1): paper 8, data 7"
    ]


def test_reproduction_note_says_plainly_what_a_match_means(chapter):
    note = text_of(reporting.reproduction_note(chapter))
    assert "generated so that these figures come out at the values the paper prints" in note
    assert "not an independent replication" in note


def test_a_real_package_is_described_as_one(chapter):
    real = without(chapter)
    real.study.__dict__["metadata"] = {}  # no x-synthetic: the study's own records
    assert not real.study.synthetic
    note = text_of(reporting.reproduction_note(real))
    assert "holds the study's own records" in note and "synthetic" not in note
    legend = text_of(reporting.origin_legend(real))
    assert "printed in the paper, or computed from the package's records" in legend
    assert reporting.number_origin(real, real.measures.participants(activity="A3-FG")) == (
        "from the data"
    )
    assert reporting.number_text(real, real.measures.participants(activity="A3-FG")) == "72"


# --------------------------------------------------------------------------- study figures


@pytest.fixture(scope="module")
def flow(chapter):
    from compendium.analysis import trace

    s = chapter.study
    return trace.flow_graph(s.stages, s.findings, s.decisions, s.trace, s.components)


def test_sankey_keeps_the_study_order_and_shows_wording_on_hover(chapter, flow):
    from compendium.presentation import study_figures

    nodes, links = flow
    shown = study_figures.trace_sankey(chapter, nodes, links)
    sankey = shown.figure.data[0]
    assert list(sankey.node.label) == nodes["label"].tolist()
    assert sum(sankey.link.value) == links["value"].sum()
    ys = pd.Series(sankey.node.y)
    assert ys.between(0, 1).all() and ys[nodes["layer"] == 0].is_monotonic_increasing
    f11 = nodes.index[nodes["key"] == "F1.1"][0]
    assert sankey.node.customdata[f11].endswith(VERBATIM)
    assert "24 findings" in shown.alt and "4 findings flow into a 'Not acted on' node" in shown.alt
    assert shown.compendium_reads >= {"findings.csv", "decisions.csv", "trace.csv"}


def test_static_flow_draws_every_node_and_names_its_columns(chapter, flow):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from compendium.presentation import study_figures

    nodes, links = flow
    figure = study_figures.trace_flow_static(chapter, nodes, links).figure
    try:
        ax = figure.axes[0]
        assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == len(nodes)
        assert {"Stage 1", "F1.4", "T3.22", "Not acted on"} <= {t.get_text() for t in ax.texts}
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "stages",
            "findings",
            "decisions",
            "components",
        ]
    finally:
        plt.close(figure)


def test_matrix_labels_the_findings_set_aside(chapter):
    import matplotlib.pyplot as plt

    from compendium.analysis import trace
    from compendium.presentation import study_figures

    s = chapter.study
    matrix = trace.finding_decision_matrix(s.findings, s.decisions, s.trace, s.stages)
    shown = study_figures.matrix_figure(chapter, matrix)
    try:
        labels = [t.get_text() for t in shown.figure.axes[0].get_yticklabels()]
        assert "F1.4 (not acted on)" in labels and "F1.1" in labels
        assert f"filled in {len(s.trace)} cells" in shown.alt
    finally:
        plt.close(shown.figure)
