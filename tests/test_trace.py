"""The evidence → decision trace: orders, completeness checks, flows and the matrix."""

from __future__ import annotations

import pandas as pd
import pytest

from compendium.analysis import trace


@pytest.fixture(scope="module")
def tables(study) -> dict[str, pd.DataFrame]:
    return {
        "stages": study.stages,
        "findings": study.findings,
        "decisions": study.decisions,
        "trace": study.trace,
        "finding_evidence": study.finding_evidence,
        "components": study.components,
    }


@pytest.fixture(scope="module")
def flow(tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = ("stages", "findings", "decisions", "trace", "components")
    return trace.flow_graph(*(tables[name] for name in names))


# --------------------------------------------------------------------------- orders


def test_findings_follow_the_declared_stage_order_not_the_ids(tables):
    stages = tables["stages"].assign(position=tables["stages"]["position"].to_numpy()[::-1])
    ordered = trace.ordered_findings(tables["findings"], stages)
    assert ordered["stage_id"].iloc[0] == "5"
    assert ordered["finding_id"].iloc[0] == "F5.1"
    assert ordered["finding_id"].iloc[-1] == "F1.4"


def test_decisions_list_summaries_before_specifications_in_file_order(tables):
    decisions = tables["decisions"]
    shuffled = pd.concat([decisions.iloc[8:], decisions.iloc[:8]], ignore_index=True)
    ordered = trace.ordered_decisions(shuffled)
    levels = ordered["level"].tolist()
    assert levels == sorted(levels, key=("summary", "specification").index)
    summaries = ordered.loc[ordered["level"] == "summary", "decision_id"].tolist()
    assert summaries == ["D5.2", "D1.1", "D2.1", "D3.1", "D3.2", "D4.1", "D4.2", "D4.3", "D5.1"]


# --------------------------------------------------------------------------- completeness


def completeness(tables, **replaced):
    merged = {**tables, **replaced}
    return trace.completeness(
        merged["findings"], merged["decisions"], merged["trace"], merged["finding_evidence"]
    )


def test_committed_trace_is_complete(tables):
    report = completeness(tables)
    assert report["passed"].all()
    assert report["failing"].map(len).sum() == 0
    assert report["checked"].tolist() == [
        len(tables["decisions"]),
        len(tables["findings"]),
        len(tables["findings"]),
        len(tables["trace"]),
    ]


def test_dangling_decision_is_reported(tables):
    extra = tables["decisions"].iloc[:1].assign(decision_id="D9.9")
    decisions = pd.concat([tables["decisions"], extra], ignore_index=True)
    report = completeness(tables, decisions=decisions)
    check = "Every decision is supported by at least one finding"
    assert report.at[check, "failing"] == ["D9.9"]
    assert not report.at[check, "passed"]


def test_decision_losing_its_only_finding_is_reported(tables):
    links = tables["trace"][tables["trace"]["decision_id"] != "D4.3"]
    assert trace.unsupported_decisions(tables["decisions"], links) == ["D4.3"]


def test_finding_set_aside_without_reason_is_reported(tables):
    findings = tables["findings"].copy()
    findings.loc[findings["finding_id"] == "F1.4", "reason"] = pd.NA
    report = completeness(tables, findings=findings)
    assert report.at["Every finding is acted on, or set aside with a reason", "failing"] == ["F1.4"]


def test_finding_flag_contradicting_trace_is_reported(tables):
    findings = tables["findings"].copy()
    findings.loc[findings["finding_id"] == "F2.1", ["acted_on", "reason"]] = [False, "changed"]
    check = "Every finding is acted on, or set aside with a reason"
    assert completeness(tables, findings=findings).at[check, "failing"] == ["F2.1"]
    # Acted on, but linked to nothing.
    links = tables["trace"][tables["trace"]["finding_id"] != "F3.5"]
    assert completeness(tables, trace=links).at[check, "failing"] == ["F3.5"]


def test_finding_without_evidence_is_reported(tables):
    evidence = tables["finding_evidence"]
    report = completeness(tables, finding_evidence=evidence[evidence["finding_id"] != "F3.4"])
    assert report.at["Every finding cites its evidence", "failing"] == ["F3.4"]


def test_link_to_unknown_decision_is_reported(tables):
    extra = pd.DataFrame([{"finding_id": "F1.1", "decision_id": "D7.7"}])
    links = pd.concat([tables["trace"], extra], ignore_index=True)
    assert trace.dangling_links(tables["findings"], tables["decisions"], links) == ["F1.1 -> D7.7"]


def test_set_aside_lists_the_unused_findings_in_study_order(tables):
    aside = trace.set_aside(tables["findings"], tables["stages"])
    assert list(aside.index) == ["F1.4", "F2.4", "F2.5", "F5.3"]
    assert list(aside.columns) == ["stage_id", "statement", "wording", "reason"]
    assert aside["reason"].str.len().gt(20).all()
    assert "medication" in aside.at["F1.4", "statement"].lower()


# --------------------------------------------------------------------------- chains and flows


def test_chains_follow_every_link(tables):
    chains = trace.chains(
        tables["findings"], tables["decisions"], tables["trace"], tables["components"]
    )
    assert len(chains) == len(tables["trace"])
    row = chains[(chains["finding_id"] == "F3.4") & (chains["decision_id"] == "T3.03")].iloc[0]
    assert row["stage_id"] == "3"
    assert row["component"] == "Adapted Personal Recovery Plan"
    assert row["decision_wording"] == "verbatim"
    assert chains["component"].notna().all()


def test_chains_without_the_intervention_module_leave_components_empty(tables):
    chains = trace.chains(tables["findings"], tables["decisions"], tables["trace"])
    assert chains["component"].isna().all()
    assert chains["component_id"].notna().all()


def test_flow_graph_nodes_and_conserved_flows(tables, flow):
    nodes, links = flow
    used = tables["decisions"]["component_id"].nunique()
    expected = len(tables["stages"]) + len(tables["findings"]) + len(tables["decisions"]) + 1 + used
    assert len(nodes) == expected
    assert nodes["key"].is_unique
    inflow = links.groupby("target")["value"].sum()
    outflow = links.groupby("source")["value"].sum()
    for i, node in nodes.iterrows():
        if node["kind"] in ("finding", "summary", "specification"):
            assert inflow[i] == outflow[i], node["key"]
    # Stage 2 feeds its findings one unit per decision they informed, plus one per set-aside one.
    stage2 = nodes.index[nodes["key"] == "stage:2"][0]
    own = tables["findings"].loc[tables["findings"]["stage_id"] == "2", "finding_id"]
    aside = int((~own.isin(tables["trace"]["finding_id"])).sum())
    assert aside == 2  # F2.4 and F2.5
    assert outflow[stage2] == tables["trace"]["finding_id"].isin(own).sum() + aside
    not_acted = nodes.index[nodes["key"] == trace.NOT_ACTED_ON][0]
    assert inflow[not_acted] == 4
    f11 = nodes.set_index("key").loc["F1.1"]
    assert (f11["wording"], f11["kind"], f11["layer"]) == ("verbatim", "finding", 1)


def test_flow_graph_stops_at_decisions_without_components(tables):
    for components in (None, tables["components"].iloc[0:0]):
        nodes, links = trace.flow_graph(
            tables["stages"], tables["findings"], tables["decisions"], tables["trace"], components
        )
        assert set(nodes["layer"]) == {0, 1, 2}
        assert links["target"].max() < len(nodes)


def test_flow_layout_stacks_without_overlap(flow):
    nodes, links = flow
    layout = trace.flow_layout(nodes, links, gap=0.5)
    for _, column in layout.groupby("layer"):
        bottoms = (column["top"] + column["size"]).to_numpy()
        assert (column["top"].to_numpy()[1:] >= bottoms[:-1] + 0.5 - 1e-9).all()
    assert (layout["top"] + layout["size"]).max() <= layout["height"].iloc[0] + 1e-9


# --------------------------------------------------------------------------- matrix


def test_finding_decision_matrix(tables):
    matrix = trace.finding_decision_matrix(
        tables["findings"], tables["decisions"], tables["trace"], tables["stages"]
    )
    assert matrix.shape == (len(tables["findings"]), len(tables["decisions"]))
    assert matrix.to_numpy().sum() == len(tables["trace"])
    assert matrix.at["F3.4", "T3.03"] == 1
    assert matrix.loc[["F1.4", "F2.4", "F2.5", "F5.3"]].to_numpy().sum() == 0
    assert list(matrix.columns[:2]) == ["D1.1", "D2.1"]
    assert matrix.columns[-1] == "T3.22"


def test_empty_trace_gives_empty_results():
    findings = pd.DataFrame(
        {
            c: pd.Series(dtype="str")
            for c in ("finding_id", "stage_id", "statement", "wording", "reason")
        }
    ).assign(position=pd.Series(dtype="Int64"), acted_on=pd.Series(dtype="boolean"))
    decisions = pd.DataFrame(
        {
            c: pd.Series(dtype="str")
            for c in ("decision_id", "level", "decision", "wording", "component_id")
        }
    )
    links = pd.DataFrame(
        {"finding_id": pd.Series(dtype="str"), "decision_id": pd.Series(dtype="str")}
    )
    stages = pd.DataFrame({"stage_id": ["1"], "position": [1], "name": ["One"]})
    matrix = trace.finding_decision_matrix(findings, decisions, links, stages)
    assert matrix.shape == (0, 0)
    assert trace.set_aside(findings, stages).empty
    report = trace.completeness(findings, decisions, links, pd.DataFrame({"finding_id": []}))
    assert report["checked"].sum() == 0
