"""Tables 1-3, the final intervention and the reproduction summary, against the paper."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compendium import paths
from compendium.analysis.reproduction import reproduction_table
from compendium.presentation import reporting

FACTS_PATH = Path(paths.ROOT).parent / "shared" / "reference" / "paper_facts.yaml"


@pytest.fixture(scope="module")
def facts() -> dict:
    return yaml.safe_load(FACTS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def table1(study):
    return reporting.table1(study)


@pytest.fixture(scope="module")
def table2(study):
    return reporting.table2(study)


def stage_column(table: pd.DataFrame, stage: int):
    (column,) = [c for c in table.columns if c[1].startswith(f"Stage {stage}:")]
    return table[column]


# --------------------------------------------------------------------------- Table 1


@pytest.mark.parametrize("stage", [1, 2, 3, 4, 5])
def test_table1_method_and_key_findings_are_the_papers(table1, facts, stage):
    column = stage_column(table1, stage)
    assert column["Method"] == facts["table1"]["method"][f"stage_{stage}"]
    assert column["Key findings"].split("\n") == facts["table1"]["key_findings"][f"stage_{stage}"]


def test_table1_decisions_are_the_papers(table1, facts):
    decisions = facts["table1"]["intervention_development_decisions"]
    stage_1_2 = [
        *stage_column(table1, 1)["Intervention development decisions"].split("\n"),
        *stage_column(table1, 2)["Intervention development decisions"].split("\n"),
    ]
    assert stage_1_2 == decisions["stage_1_2"]
    assert (
        stage_column(table1, 3)["Intervention development decisions"].split("\n")
        == decisions["stage_3"]
    )
    stage4 = stage_column(table1, 4)["Intervention development decisions"]
    assert stage4.startswith(decisions["stage_4"]["seen"])


def test_table1_header_groups_stages_by_mrc_phase(table1, facts):
    groups = {}
    for phase, stage in table1.columns:
        groups.setdefault(phase, []).append(int(re.match(r"Stage (\d)", stage).group(1)))
    paper = [
        [int(s.split("_")[1]) for s in stages]
        for stages in facts["table1"]["column_groups"].values()
    ]
    assert list(groups.values()) == paper
    assert list(groups) == ["MRC phase: development", "MRC phase: feasibility and piloting"]
    assert list(table1.index) == list(reporting.TABLE1_ROWS)


# --------------------------------------------------------------------------- Table 2


def paper_row(facts: dict, concept: str) -> dict:
    return next(r for r in facts["table2"]["rows"] if r["concept"] == concept)


@pytest.mark.parametrize("concept", ["Peer support", "Recovery"])
def test_table2_published_counts_are_the_papers(table2, facts, concept):
    row = paper_row(facts, concept)
    expected2 = [f"{c['code']}: {c['respondents']} respondents" for c in row["stage2_codes"]]
    expected3 = [f"{c['code']}: {c['sources']} sources" for c in row["stage3_codes"]]
    assert table2.at[concept, "Stage 2: Developing theory"].split("\n") == expected2
    assert sorted(table2.at[concept, "Stage 3: Modelling"].split("\n")) == sorted(expected3)
    assert table2.at[concept, "Definition"] == row["definition"]


def test_table2_stage1_reads_as_the_paper(table2, facts):
    assert table2.at["Recovery", "Stage 1: Evidence reviews"] == "12 of 19 reviewed programmes"
    assert "12 of 19" in paper_row(facts, "Recovery")["stage1"]
    assert table2.at["Psycho-education", "Stage 1: Evidence reviews"] == (
        "19 of 19 reviewed programmes"
    )
    # Peer support is in no reviewed programme: the paper's statement stands instead.
    assert (
        table2.at["Peer support", "Stage 1: Evidence reviews"]
        == paper_row(facts, "Peer support")["stage1"]
    )


def test_table2_marks_synthetic_counts_and_empty_cells(table2, study):
    mark = reporting.SYNTHETIC_MARK
    relapse = table2.at["Relapse prevention", "Stage 2: Developing theory"]
    assert relapse.endswith(f"respondents{mark}")
    assert table2.at["Relapse prevention", "Stage 1: Evidence reviews"].endswith(mark)
    assert mark not in table2.at["Peer support", "Stage 2: Developing theory"]
    assert table2.at["Psycho-education", "Stage 3: Modelling"] == reporting.NONE_MARK
    evidence = reporting.table2_evidence(study)
    assert evidence.loc[evidence["code_id"] == "A2-2.1", "figure_id"].item() == "PF49"
    assert pd.isna(evidence.loc[evidence["code_id"] == "A2-2.5", "figure_id"].item())


def test_table2_quotes_are_attributed(table2, facts):
    quotes = table2.at["Recovery", "Illustrative quotes"].split("\n")
    paper = paper_row(facts, "Recovery")["quotes"]
    assert len(quotes) == len(paper)
    for shown, printed in zip(quotes, paper, strict=True):
        assert printed["text"] in shown
        assert printed["label"].split()[-1] in shown  # e.g. SU26, "Focus Group 4"
        assert "Table 2" in shown
    # The psycho-education quote was recovered only in part; the cut is marked.
    assert "[\u2026]" in table2.at["Psycho-education", "Illustrative quotes"]


# --------------------------------------------------------------------------- Table 3


def test_table3_seen_rows_match_the_paper(study, facts):
    table = reporting.table3(study).reset_index()
    for shown, printed in zip(table.itertuples(), facts["table3"]["rows_seen"], strict=False):
        assert shown.Area == printed["area"]
        assert shown.Decision.startswith(
            printed.get("decision", printed.get("decision_seen_prefix"))
        )
        if "rationale" in printed:
            rationale = printed["rationale"]
            expected = "; ".join(rationale) if isinstance(rationale, list) else rationale
            assert shown.Rationale == expected


def test_table3_is_grouped_by_area_in_paper_order(study):
    table = reporting.table3(study)
    areas = list(dict.fromkeys(table.index.get_level_values("Area")))
    assert areas == [
        "Self-management resource",
        "Structure of the programme",
        "Programme values",
        "Peer support worker recruitment",
        "Training and supervision",
    ]
    specs = study.decisions[study.decisions["level"] == "specification"]
    assert len(table) == len(specs)
    for _, group in table.groupby(level="Area", sort=False):
        ids = list(group.index.get_level_values("ID"))
        assert ids == sorted(ids)


# --------------------------------------------------------------------------- display


def test_csv_download_link_embeds_the_table(table1):
    link = reporting.csv_download_link(table1, "table1.csv")
    match = re.fullmatch(
        r'<a download="table1.csv" href="data:text/csv;base64,([A-Za-z0-9+/=]+)">.*</a>', link
    )
    assert match
    decoded = base64.b64decode(match.group(1)).decode("utf-8")
    assert decoded == reporting.csv_text(table1)
    frame = pd.read_csv(io.StringIO(decoded))
    assert frame.columns[1] == "MRC phase: development / Stage 1: Evidence reviews"
    assert list(frame.iloc[:, 0]) == list(reporting.TABLE1_ROWS)


def test_csv_of_a_grouped_table_keeps_its_index(study):
    frame = pd.read_csv(io.StringIO(reporting.csv_text(reporting.table3(study))))
    assert list(frame.columns) == ["Area", "ID", "Decision", "Rationale"]


def test_styled_table_is_deterministic_and_lists_multiline_cells(table1):
    first = reporting.styled_table(table1, "table1", "Table 1").to_html()
    second = reporting.styled_table(table1, "table1", "Table 1").to_html()
    assert first == second
    assert 'id="T_table1"' in first
    assert "<li>Peer-provided support was acceptable to most CRT service users</li>" in first
    assert "<caption>Table 1</caption>" in first


def test_downloadable_table_shows_table_then_link(study):
    shown = reporting.downloadable_table(reporting.table3(study), "table3", "Table 3").data
    assert shown.index("<table") < shown.index('<a download="table3.csv"')


def test_styled_table_escapes_html():
    frame = pd.DataFrame({"text": ["<script>x</script>"]})
    assert "<script>" not in reporting.styled_table(frame, "t", "c").to_html()


# --------------------------------------------------------------------------- intervention


def test_quantities_come_from_components(study, facts):
    spec = facts["intervention_spec"]
    assert reporting.quantity_text(study, "sessions") == f"{spec['n_sessions']['value']} sessions"
    assert reporting.quantity_text(study, "months") == "3 months"
    with pytest.raises(ValueError, match=r"components.csv: .*'weeks', found 0"):
        reporting.quantity_text(study, "weeks")


def test_recovery_plan_has_four_sections(study, facts):
    plan = reporting.structured_components(study)
    assert list(plan.index) == ["K02"]
    assert (
        plan.at["K02", "parts"]
        == facts["intervention_spec"]["recovery_plan_sections"]["count"]["value"]
    )
    assert plan.at["K02", "part_names"][0] == "Moving on after crisis"


def test_pilot_attendance_matches_ds8(study, facts):
    ds8 = next(s for s in facts["stages"] if s["stage"] == 5)["attendance_DS8"]
    attendance = reporting.pilot_attendance(study)
    assert ds8["attended_all_ten_sessions"].startswith("Seven participants (39%")
    assert attendance.at["attended all ten sessions", "participants"] == 7
    assert attendance.at["attended all ten sessions", "percent"] == 39
    assert (
        attendance.at["attended only one session", "participants"]
        == ds8["attended_only_one_session"]
    )
    assert (
        attendance.at["moved house and lost touch", "participants"] == ds8["moved_house_lost_touch"]
    )
    assert (
        attendance.at["still seeing their PSW", "participants"]
        == ds8["still_seeing_psw_at_interview"]
    )
    assert attendance["participants"].sum() == 18
    assert reporting.attended_all_sessions(study) == (7, 18)


def test_pilot_attendance_respects_small_cell_threshold(study, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "3")
    attendance = reporting.pilot_attendance(study)
    assert attendance.at["attended only one session", "participants"] == "<3"
    assert attendance.at["attended only one session", "percent"] == "<3"
    assert attendance.at["attended all ten sessions", "participants"] == 7


def test_tidier_html_links_components_to_decisions(study):
    page = reporting.tidier_html(study)
    assert page.count("<tr><td") == 12
    assert 'id="component-K02a"' in page
    assert page.index('id="component-K02"') < page.index('id="component-K02d"')
    assert '<a href="trace.html#decision-T3-04">T3.04</a>' in page
    assert "(10 sessions)" in page
    assert "attended all ten sessions: 7 (39%)" in page


# --------------------------------------------------------------------------- reproduction


def test_reproduction_summary_counts_matches(study):
    table = reproduction_table(study)
    n = len(study.published_figures)
    assert reporting.reproduction_summary(table) == f"{n} of {n} published figures reproduced"
    broken = table.assign(matches=[False] + [True] * (n - 1))
    assert reporting.reproduction_summary(broken).startswith(f"{n - 1} of {n} ")
    shown = reporting.reproduction_display(broken)
    assert shown.iloc[0]["Match"] == "\u2717"
    assert shown.loc["PF03", "Paper"] == "31"
