"""The trace from evidence to intervention: stage → finding → decision → component.

Pure functions of the trace module's tables (``findings``, ``finding_evidence``, ``decisions``,
``trace``), of the study's stage table (``study.stages``) and, where the package has the
intervention module, of ``components``. They take DataFrames, not a loaded study, so a test can
hand them a broken trace that the validator would refuse to load, and so a chapter can show the
same pandas steps beside them. The completeness rules live in
:mod:`compendium.contract.validation`, which refuses a package that breaks them; here they are
run again to be shown.

Orders are the study's, never the ids' sort order: findings by stage (in the order the study
declares its stages) then position; decisions summary before specification, each in the order
of ``decisions.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from compendium.contract.validation import (
    findings_without_evidence,
    unaccounted_findings,
    unsupported_decisions,
)

__all__ = [
    "LAYERS",
    "NOT_ACTED_ON",
    "acted_on",
    "chains",
    "completeness",
    "dangling_links",
    "finding_decision_matrix",
    "findings_without_evidence",
    "flow_graph",
    "flow_layout",
    "ordered_decisions",
    "ordered_findings",
    "set_aside",
    "unaccounted_findings",
    "unsupported_decisions",
]

NOT_ACTED_ON = "Not acted on"
#: The columns of the flow, left to right.
LAYERS = ("stage", "finding", "decision", "component")
#: Decision levels in the order they are listed.
LEVELS = ("summary", "specification")


# --------------------------------------------------------------------------- orders


def acted_on(findings: pd.DataFrame) -> pd.Series:
    """Return each finding's ``acted_on`` flag as plain booleans (a missing flag is False)."""
    return findings["acted_on"].fillna(False).astype(bool)


def ordered_findings(findings: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Return findings in the study's order: by declared stage order, then position."""
    rank = stages.set_index("stage_id")["position"]
    key = findings["stage_id"].map(rank)
    return (
        findings.assign(_stage=key)
        .sort_values(["_stage", "position"], kind="stable")
        .drop(columns="_stage")
    )


def ordered_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """Return decisions summary first, then specifications, each in file order."""
    rank = decisions["level"].map({level: i for i, level in enumerate(LEVELS)})
    return decisions.assign(_level=rank).sort_values("_level", kind="stable").drop(columns="_level")


# --------------------------------------------------------------------------- completeness


def dangling_links(
    findings: pd.DataFrame, decisions: pd.DataFrame, trace: pd.DataFrame
) -> list[str]:
    """Return ``"F -> D"`` for each trace link that names an unknown finding or decision."""
    known_f, known_d = set(findings["finding_id"]), set(decisions["decision_id"])
    return [
        f"{f} -> {d}"
        for f, d in zip(trace["finding_id"], trace["decision_id"], strict=True)
        if f not in known_f or d not in known_d
    ]


def completeness(
    findings: pd.DataFrame,
    decisions: pd.DataFrame,
    trace: pd.DataFrame,
    finding_evidence: pd.DataFrame,
) -> pd.DataFrame:
    """Return each completeness check of the trace with the ids that fail it.

    Returns
    -------
    pandas.DataFrame
        Indexed by check: ``checked`` (how many items), ``failing`` (list of ids) and
        ``passed`` (bool).
    """
    # The validator's rules read text flags ("true"/"false"), as the CSV holds them.
    flags = acted_on(findings).map({True: "true", False: "false"})
    checks = {
        "Every decision is supported by at least one finding": (
            len(decisions),
            unsupported_decisions(decisions, trace),
        ),
        "Every finding is acted on, or set aside with a reason": (
            len(findings),
            unaccounted_findings(findings.assign(acted_on=flags), trace),
        ),
        "Every finding cites its evidence": (
            len(findings),
            findings_without_evidence(findings, finding_evidence),
        ),
        "Every trace link names a known finding and decision": (
            len(trace),
            dangling_links(findings, decisions, trace),
        ),
    }
    return pd.DataFrame(
        [(name, n, failing, not failing) for name, (n, failing) in checks.items()],
        columns=["check", "checked", "failing", "passed"],
    ).set_index("check")


def set_aside(findings: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Return the findings not acted on, in the study's order, with stage, wording and reason.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``finding_id``: ``stage_id``, ``statement``, ``wording`` and ``reason``.
    """
    ordered = ordered_findings(findings, stages)
    aside = ordered[~acted_on(ordered)]
    return aside.set_index("finding_id")[["stage_id", "statement", "wording", "reason"]]


# --------------------------------------------------------------------------- chains


def chains(
    findings: pd.DataFrame,
    decisions: pd.DataFrame,
    trace: pd.DataFrame,
    components: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return one row per trace link: stage, finding, decision and the component it shaped.

    Parameters
    ----------
    findings, decisions, trace
        The trace module's tables.
    components
        The intervention module's components, if the package has them; without them the
        ``component`` column holds only missing values.

    Returns
    -------
    pandas.DataFrame
        Columns ``stage_id, finding_id, finding, finding_wording, decision_id, level,
        decision, decision_wording, component_id, component``, in trace-file order.
    """
    finding = findings[["finding_id", "stage_id", "statement", "wording"]].rename(
        columns={"statement": "finding", "wording": "finding_wording"}
    )
    decision = decisions[["decision_id", "level", "decision", "wording", "component_id"]].rename(
        columns={"wording": "decision_wording"}
    )
    frame = trace[["finding_id", "decision_id"]].merge(finding, on="finding_id", how="left")
    frame = frame.merge(decision, on="decision_id", how="left")
    if components is not None:
        names = components.set_index("component_id")["name"]
        frame["component"] = frame["component_id"].map(names).astype("str")
    else:
        frame["component"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    columns = ["stage_id", "finding_id", "finding", "finding_wording", "decision_id", "level"]
    return frame[[*columns, "decision", "decision_wording", "component_id", "component"]]


def flow_graph(
    stages: pd.DataFrame,
    findings: pd.DataFrame,
    decisions: pd.DataFrame,
    trace: pd.DataFrame,
    components: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the nodes and links of the stage → finding → decision → component flow.

    Each trace link carries one unit of flow, so a finding's band is as wide as the number
    of decisions it informed, and a decision's as wide as the findings behind it. A finding
    that was not acted on flows (one unit) into a single "Not acted on" node. Decisions that
    shaped a component flow on into it when ``components`` is given; without the intervention
    module (``components`` None or empty) the flow stops at the decisions.

    Returns
    -------
    nodes : pandas.DataFrame
        ``key`` (unique), ``label``, ``text`` (the full wording), ``wording`` (where that
        text comes from, missing for stages and the "not acted on" node), ``kind``
        (``stage``, ``finding``, ``not acted on``, a decision level, or ``component``) and
        ``layer`` (0-3), in drawing order.
    links : pandas.DataFrame
        ``source``, ``target`` (node positions) and ``value``.
    """
    findings = ordered_findings(findings, stages)
    decisions = ordered_decisions(decisions)
    out_degree = trace.groupby("finding_id").size()
    in_degree = trace.groupby("decision_id").size()

    nodes: list[dict] = []
    for s in stages.sort_values("position").itertuples():
        nodes.append(_node(f"stage:{s.stage_id}", f"Stage {s.stage_id}", s.name, pd.NA, "stage", 0))
    for f in findings.itertuples():
        kind = "finding" if f.finding_id in out_degree.index else "not acted on"
        nodes.append(_node(f.finding_id, f.finding_id, f.statement, f.wording, kind, 1))
    for d in decisions.itertuples():
        nodes.append(_node(d.decision_id, d.decision_id, d.decision, d.wording, d.level, 2))
    aside = [f for f in findings["finding_id"] if f not in out_degree.index]
    if aside:
        nodes.append(_node(NOT_ACTED_ON, NOT_ACTED_ON, NOT_ACTED_ON, pd.NA, "not acted on", 2))
    shaped = decisions.dropna(subset=["component_id"])
    if components is not None:
        shaped = shaped[shaped["component_id"].isin(components["component_id"])]
        used = set(shaped["component_id"])
        for c in components[components["component_id"].isin(used)].itertuples():
            text = f"{c.name}: {c.description}"
            nodes.append(_node(c.component_id, c.name, text, c.wording, "component", 3))
    frame = pd.DataFrame(nodes)
    position = {key: i for i, key in enumerate(frame["key"])}

    links = []
    for f in findings.itertuples():
        width = int(out_degree.get(f.finding_id, 1))
        links.append((position[f"stage:{f.stage_id}"], position[f.finding_id], width))
    for t in trace.itertuples():
        links.append((position[t.finding_id], position[t.decision_id], 1))
    for f in aside:
        links.append((position[f], position[NOT_ACTED_ON], 1))
    if components is not None:
        for d in shaped.itertuples():
            width = int(in_degree.get(d.decision_id, 1))
            links.append((position[d.decision_id], position[d.component_id], width))
    # Sorted so that bands leave and enter each node in node order (fewer crossings).
    links = pd.DataFrame(links, columns=["source", "target", "value"])
    return frame, links.sort_values(["source", "target"], ignore_index=True)


def _node(key: str, label: str, text: str, wording, kind: str, layer: int) -> dict:
    return {
        "key": key,
        "label": label,
        "text": text,
        "wording": wording,
        "kind": kind,
        "layer": layer,
    }


def flow_layout(nodes: pd.DataFrame, links: pd.DataFrame, gap: float = 0.6) -> pd.DataFrame:
    """Return where each node of the flow sits: its top, size and column, in flow units.

    Nodes are stacked in their layer's column in the order given, ``gap`` units apart, each
    as tall as the larger of its in- and out-flow; every column is centred on the tallest.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``nodes``: ``layer``, ``top``, ``size``, and ``height`` (the tallest
        column, the same on every row).
    """
    size = np.maximum(
        links.groupby("source")["value"].sum().reindex(nodes.index, fill_value=0),
        links.groupby("target")["value"].sum().reindex(nodes.index, fill_value=0),
    ).astype(float)
    top = pd.Series(0.0, index=nodes.index)
    totals = {}
    for layer, members in nodes.groupby("layer").groups.items():
        offsets = (size[members] + gap).cumsum() - (size[members] + gap)
        top[members] = offsets
        totals[layer] = float((size[members] + gap).sum())
    height = max(totals.values())
    top += nodes["layer"].map(lambda layer: (height - totals[layer]) / 2)
    return pd.DataFrame(
        {"layer": nodes["layer"], "top": top, "size": size, "height": height}, index=nodes.index
    )


# --------------------------------------------------------------------------- matrix


def finding_decision_matrix(
    findings: pd.DataFrame, decisions: pd.DataFrame, trace: pd.DataFrame, stages: pd.DataFrame
) -> pd.DataFrame:
    """Return a 0/1 matrix: findings (rows, study order) by decisions (columns, study order)."""
    rows = ordered_findings(findings, stages)["finding_id"]
    columns = ordered_decisions(decisions)["decision_id"]
    matrix = pd.crosstab(trace["finding_id"], trace["decision_id"]).clip(upper=1)
    return matrix.reindex(index=rows, columns=columns, fill_value=0).astype(int)
