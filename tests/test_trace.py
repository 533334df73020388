"""The evidence → decision trace: completeness checks, flows, matrix and drill-down."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from compendium.analysis import trace
from compendium.contract.loading import Study
from compendium.presentation.links import anchor, component_href, finding_href


def with_tables(study: Study, **tables: pd.DataFrame) -> Study:
    """A study whose named tables are replaced: a package the validator would refuse."""
    return Study(study.data_dir, {**study.tables, **tables})


# --------------------------------------------------------------------------- completeness


def test_committed_trace_is_complete(study):
    report = trace.completeness(study)
    assert report["passed"].all()
    assert report["failing"].map(len).sum() == 0
    assert report["checked"].tolist() == [
        len(study.decisions),
        len(study.findings),
        len(study.findings),
        len(study.trace),
    ]


def test_dangling_decision_is_reported(study):
    extra = pd.DataFrame(
        [{"decision_id": "D9.9", "stage": 5, "level": "summary", "decision": "Unsupported"}]
    )
    decisions = pd.concat([study.decisions, extra], ignore_index=True)
    assert trace.unsupported_decisions(decisions, study.trace) == ["D9.9"]
    report = trace.completeness(with_tables(study, decisions=decisions))
    check = "Every decision is supported by at least one finding"
    assert report.at[check, "failing"] == ["D9.9"]
    assert not report.at[check, "passed"]
    shown = trace.completeness_display(report)
    assert shown.at[check, "Failing ids"] == "D9.9"
    assert shown.at[check, "Result"] == "\u2717 failed"


def test_decision_losing_its_only_finding_is_reported(study):
    links = study.trace[study.trace["decision_id"] != "D4.3"]
    assert trace.unsupported_decisions(study.decisions, links) == ["D4.3"]


def test_finding_set_aside_without_reason_is_reported(study):
    findings = study.findings.copy()
    findings.loc[findings["finding_id"] == "F1.4", "reason"] = pd.NA
    assert trace.unaccounted_findings(findings, study.trace) == ["F1.4"]


def test_finding_flag_contradicting_trace_is_reported(study):
    findings = study.findings.copy()
    findings.loc[findings["finding_id"] == "F2.1", "acted_on"] = False
    findings.loc[findings["finding_id"] == "F2.1", "reason"] = "changed our minds"
    assert trace.unaccounted_findings(findings, study.trace) == ["F2.1"]
    # Acted on, but linked to nothing.
    links = study.trace[study.trace["finding_id"] != "F3.5"]
    assert trace.unaccounted_findings(study.findings, links) == ["F3.5"]


def test_finding_without_evidence_is_reported(study):
    evidence = study.finding_evidence[study.finding_evidence["finding_id"] != "F3.4"]
    assert trace.findings_without_evidence(study.findings, evidence) == ["F3.4"]


def test_link_to_unknown_decision_is_reported(study):
    links = pd.concat(
        [study.trace, pd.DataFrame([{"finding_id": "F1.1", "decision_id": "D7.7"}])],
        ignore_index=True,
    )
    assert trace.dangling_links(study.findings, study.decisions, links) == ["F1.1 -> D7.7"]


def test_set_aside_lists_the_papers_unused_findings(study):
    aside = trace.set_aside(study)
    assert list(aside.index) == ["F1.4", "F2.4", "F2.5", "F5.3"]
    assert aside["Why not acted on"].str.len().gt(20).all()
    assert "medication" in aside.at["F1.4", "Finding"].lower()


# --------------------------------------------------------------------------- chains and flows


def test_chains_follow_every_link(study):
    chains = trace.chains(study)
    assert len(chains) == len(study.trace)
    row = chains[(chains["finding_id"] == "F3.4") & (chains["decision_id"] == "T3.03")].iloc[0]
    assert row["stage"] == 3
    assert row["component"] == "Adapted Personal Recovery Plan"
    assert chains["component_id"].notna().all()


def test_flow_graph_nodes_and_conserved_flows(study):
    nodes, links = trace.flow_graph(study)
    used_components = study.decisions["component_id"].nunique()
    assert len(nodes) == (
        len(study.stages) + len(study.findings) + len(study.decisions) + 1 + used_components
    )
    assert nodes["key"].is_unique
    inflow = links.groupby("target")["value"].sum()
    outflow = links.groupby("source")["value"].sum()
    for i, node in nodes.iterrows():
        if node["kind"] in ("finding", "summary", "specification"):
            assert inflow[i] == outflow[i], node["key"]
    # Stage 2 feeds its findings one unit per decision they informed, plus one per set-aside one.
    stage2 = nodes.index[nodes["key"] == "S2"][0]
    stage2_findings = study.findings[study.findings["stage"] == 2]["finding_id"]
    set_aside = (~stage2_findings.isin(study.trace["finding_id"])).sum()
    assert set_aside == 2  # F2.4 and F2.5
    expected = study.trace["finding_id"].isin(stage2_findings).sum() + set_aside
    assert outflow[stage2] == expected
    not_acted = nodes.index[nodes["key"] == trace.NOT_ACTED_ON][0]
    assert inflow[not_acted] == 4


def test_sankey_figure_keeps_nodes_in_order(study):
    nodes, links = trace.flow_graph(study)
    figure = trace.sankey_figure(nodes, links)
    sankey = figure.data[0]
    assert sankey.type == "sankey"
    assert list(sankey.node.label) == nodes["label"].tolist()
    assert sum(sankey.link.value) == links["value"].sum()
    ys = pd.Series(sankey.node.y)
    assert ys.between(0, 1).all()
    stages = ys[nodes["layer"] == 0]
    assert stages.is_monotonic_increasing
    assert "Promising evidence" in sankey.node.customdata[nodes.index[nodes["key"] == "F1.1"][0]]


def test_static_flow_figure_draws_every_node(study):
    nodes, links = trace.flow_graph(study)
    figure = trace.static_flow_figure(nodes, links)
    try:
        rectangles = [p for p in figure.axes[0].patches if isinstance(p, Rectangle)]
        assert len(rectangles) == len(nodes)
        labels = {t.get_text() for t in figure.axes[0].texts}
        assert {"Stage 1", "F1.4", "T3.22", trace.NOT_ACTED_ON} <= labels
    finally:
        plt.close(figure)


def test_flow_layout_stacks_without_overlap(study):
    nodes, links = trace.flow_graph(study)
    layout = trace.flow_layout(nodes, links, gap=0.5)
    for _, column in layout.groupby("layer"):
        bottoms = (column["top"] + column["size"]).to_numpy()
        assert (column["top"].to_numpy()[1:] >= bottoms[:-1] + 0.5 - 1e-9).all()
    assert (layout["top"] + layout["size"]).max() <= layout["height"].iloc[0] + 1e-9


# --------------------------------------------------------------------------- matrix


def test_finding_decision_matrix(study):
    matrix = trace.finding_decision_matrix(study.findings, study.decisions, study.trace)
    assert matrix.shape == (len(study.findings), len(study.decisions))
    assert matrix.to_numpy().sum() == len(study.trace)
    assert matrix.at["F3.4", "T3.03"] == 1
    assert matrix.loc[["F1.4", "F2.4", "F2.5", "F5.3"]].to_numpy().sum() == 0
    figure = trace.matrix_figure(matrix, study.findings)
    try:
        labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
        assert "F1.4 (not acted on)" in labels
        assert "F1.1" in labels
    finally:
        plt.close(figure)


# --------------------------------------------------------------------------- drill-down


@pytest.fixture(scope="module")
def details(study) -> str:
    return trace.decision_details_html(study)


def test_every_decision_has_an_expandable_block(study, details):
    ids = re.findall(r'<details class="decision" id="([^"]+)">', details)
    assert ids == [anchor("decision", d) for d in sorted(study.decisions["decision_id"])]


def test_drill_down_links_findings_components_and_parents(details):
    block = re.search(r'<details[^>]*id="decision-D1-1">.*?</details>', details).group(0)
    assert f'href="{finding_href(2, "F2.2")}"' in block
    assert f'href="{component_href("K01")}"' in block
    assert "Evidence was promising" in block
    spec = re.search(r'<details[^>]*id="decision-T3-03">.*?</details>', details).group(0)
    assert '<a href="#decision-D3-1">D3.1</a>' in spec


def test_drill_down_shows_evidence_counts_quotes_and_figures(details):
    block = re.search(r'<details[^>]*id="decision-D1-1">.*?</details>', details).group(0)
    assert "Code A2-1.1.1 \u201cPositive view\u201d: 31 sources, 43 references" in block
    assert re.search(
        "Code A2-3.1 \u201cStraight after CRT discharge\u201d: \\d+ sources\u2020", block
    )
    assert "SU28; Table 2; Milton et al. (2017)" in block
    assert "Figure PF03 (Positive view of peer support: participants, DS4 Table 1): 31" in block
    assert "Interventions using peer support have currently inconclusive evidence" in block
