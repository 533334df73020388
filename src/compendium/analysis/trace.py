"""The trace from evidence to intervention: stage → finding → decision → component.

Everything here is computed from the ``findings``, ``trace``, ``decisions``,
``finding_evidence`` and ``components`` tables, so another study's package yields its own
trace. The completeness checks take plain DataFrames (not a loaded study) so that a test
can hand them a broken trace that the package validator would refuse to load. The rules
themselves live in :mod:`compendium.contract.validation`, which refuses a package that breaks them;
here they are run again to be shown.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import seaborn as sns
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from compendium.analysis.reproduction import reproduction_table
from compendium.analysis.themes import code_counts
from compendium.contract.loading import Study
from compendium.contract.validation import (
    findings_without_evidence,
    unaccounted_findings,
    unsupported_decisions,
)
from compendium.presentation.links import anchor, component_href, finding_href
from compendium.presentation.reporting import (
    SYNTHETIC_MARK,
    concept_review_text,
    mark_count,
    published_figure_id,
    quote_text,
)
from compendium.presentation.summaries import published_calls

NOT_ACTED_ON = "Not acted on"
LAYERS = ("stage", "finding", "decision", "component")
_SAFE = sns.color_palette("colorblind").as_hex()
KIND_COLOURS = {
    "stage": _SAFE[0],
    "finding": _SAFE[2],
    "not acted on": _SAFE[3],
    "summary": _SAFE[4],
    "specification": _SAFE[5],
    "component": _SAFE[1],
}


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


def completeness(study: Study) -> pd.DataFrame:
    """Return each completeness check of the trace with the ids that fail it.

    Returns
    -------
    pandas.DataFrame
        Indexed by check: ``checked`` (how many items), ``failing`` (list of ids) and
        ``passed`` (bool).
    """
    findings, decisions, trace = study.findings, study.decisions, study.trace
    checks = {
        "Every decision is supported by at least one finding": (
            len(decisions),
            unsupported_decisions(decisions, trace),
        ),
        "Every finding is acted on, or set aside with a reason": (
            len(findings),
            unaccounted_findings(findings, trace),
        ),
        "Every finding cites its evidence": (
            len(findings),
            findings_without_evidence(findings, study.finding_evidence),
        ),
        "Every trace link names a known finding and decision": (
            len(trace),
            dangling_links(findings, decisions, trace),
        ),
    }
    frame = pd.DataFrame(
        [(name, n, failing, not failing) for name, (n, failing) in checks.items()],
        columns=["check", "checked", "failing", "passed"],
    ).set_index("check")
    return frame


def completeness_display(report: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`completeness` with a tick or cross and the failing ids as text."""
    return pd.DataFrame(
        {
            "Items checked": report["checked"],
            "Result": report["passed"].map({True: "\u2713 passed", False: "\u2717 failed"}),
            "Failing ids": report["failing"].map(lambda ids: ", ".join(ids) or "none"),
        }
    ).rename_axis("Check")


def set_aside(study: Study) -> pd.DataFrame:
    """Return the findings not acted on, with their stage and the recorded reason."""
    findings = study.findings
    aside = findings[~findings["acted_on"].fillna(False).astype(bool)]
    frame = aside.set_index("finding_id")[["stage", "statement", "reason"]].rename(
        columns={"stage": "Stage", "statement": "Finding", "reason": "Why not acted on"}
    )
    return frame.rename_axis("Finding id")


# --------------------------------------------------------------------------- chains


def chains(study: Study) -> pd.DataFrame:
    """Return one row per trace link: stage, finding, decision and the component it shaped.

    Returns
    -------
    pandas.DataFrame
        Columns ``stage, finding_id, finding, decision_id, level, decision, component_id,
        component``, ordered by finding then decision.
    """
    findings = study.findings[["finding_id", "stage", "statement"]].rename(
        columns={"statement": "finding"}
    )
    decisions = study.decisions[["decision_id", "level", "decision", "component_id"]]
    components = study.components[["component_id", "name"]].rename(columns={"name": "component"})
    frame = (
        study.trace.merge(findings, on="finding_id", how="left")
        .merge(decisions, on="decision_id", how="left")
        .merge(components, on="component_id", how="left")
    )
    columns = ["stage", "finding_id", "finding", "decision_id", "level", "decision"]
    frame = frame[[*columns, "component_id", "component"]]
    return frame.sort_values(["finding_id", "decision_id"]).reset_index(drop=True)


def flow_graph(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the nodes and links of the stage → finding → decision → component flow.

    Each trace link carries one unit of flow, so a finding's band is as wide as the number
    of decisions it informed, and a decision's as wide as the findings behind it. A finding
    that was not acted on flows (one unit) into a single "Not acted on" node.

    Returns
    -------
    nodes : pandas.DataFrame
        ``key`` (unique), ``label``, ``hover``, ``kind`` and ``layer`` (0-3), in drawing order.
    links : pandas.DataFrame
        ``source``, ``target`` (node positions) and ``value``.
    """
    stages = study.stages.sort_values("stage")
    findings = study.findings.sort_values(["stage", "position"])
    decisions = study.decisions.sort_values("decision_id")
    components = study.components
    trace = study.trace
    out_degree = trace.groupby("finding_id").size()
    in_degree = trace.groupby("decision_id").size()

    nodes: list[dict] = []
    for s in stages.itertuples():
        nodes.append(
            _node(f"S{s.stage}", f"Stage {s.stage}", f"Stage {s.stage}: {s.name}", "stage", 0)
        )
    for f in findings.itertuples():
        kind = "finding" if f.finding_id in out_degree.index else "not acted on"
        nodes.append(_node(f.finding_id, f.finding_id, f.statement, kind, 1))
    for d in decisions.itertuples():
        nodes.append(_node(d.decision_id, d.decision_id, d.decision, d.level, 2))
    aside = [f for f in findings["finding_id"] if f not in out_degree.index]
    if aside:
        nodes.append(_node(NOT_ACTED_ON, NOT_ACTED_ON, NOT_ACTED_ON, "not acted on", 2))
    used = decisions["component_id"].dropna().unique()
    for c in components[components["component_id"].isin(used)].itertuples():
        nodes.append(_node(c.component_id, c.name, c.description, "component", 3))
    frame = pd.DataFrame(nodes)
    position = {key: i for i, key in enumerate(frame["key"])}

    links = []
    for f in findings.itertuples():
        width = int(out_degree.get(f.finding_id, 1))
        links.append((position[f"S{f.stage}"], position[f.finding_id], width))
    for t in trace.itertuples():
        links.append((position[t.finding_id], position[t.decision_id], 1))
    for f in aside:
        links.append((position[f], position[NOT_ACTED_ON], 1))
    for d in decisions.dropna(subset=["component_id"]).itertuples():
        links.append(
            (
                position[d.decision_id],
                position[d.component_id],
                int(in_degree.get(d.decision_id, 1)),
            )
        )
    # Sorted so that bands leave and enter each node in node order (fewer crossings).
    links = pd.DataFrame(links, columns=["source", "target", "value"])
    return frame, links.sort_values(["source", "target"], ignore_index=True)


def _node(key: str, label: str, hover: str, kind: str, layer: int) -> dict:
    return {"key": key, "label": label, "hover": hover, "kind": kind, "layer": layer}


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


def sankey_figure(nodes: pd.DataFrame, links: pd.DataFrame, height: int | None = None) -> go.Figure:
    """Return the flow as an interactive plotly Sankey diagram (hover shows the full text).

    Nodes start where :func:`flow_layout` puts them, so stages, findings and decisions keep
    their order (a reader can still drag them). The gap between nodes is converted from
    plotly's pixel padding, so the given positions match the sizes plotly draws.
    """
    pad, margin = 4, {"l": 10, "r": 10, "t": 20, "b": 20}
    per_layer = nodes.groupby("layer").size()
    height = height or max(700, 22 * int(per_layer.max()))
    plot_height = height - margin["t"] - margin["b"]
    value = flow_layout(nodes, links, gap=0)["size"].groupby(nodes["layer"]).sum()
    pixels_per_unit = ((plot_height - (per_layer - 1) * pad) / value).min()
    layout = flow_layout(nodes, links, gap=pad / pixels_per_unit)
    span = plot_height / pixels_per_unit
    last = max(len(LAYERS) - 1, 1)
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": nodes["label"].tolist(),
                "customdata": nodes["hover"].tolist(),
                "hovertemplate": "%{label}: %{customdata}<extra></extra>",
                "color": nodes["kind"].map(KIND_COLOURS).tolist(),
                "x": (0.001 + 0.998 * layout["layer"] / last).tolist(),
                "y": ((layout["top"] + layout["size"] / 2) / span).clip(0.001, 0.999).tolist(),
                "pad": pad,
                "thickness": 14,
            },
            link={
                "source": links["source"].tolist(),
                "target": links["target"].tolist(),
                "value": links["value"].tolist(),
                "color": "rgba(120, 120, 120, 0.25)",
            },
        )
    )
    figure.update_layout(height=height, margin=margin, font={"size": 11})
    return figure


def static_flow_figure(nodes: pd.DataFrame, links: pd.DataFrame) -> plt.Figure:
    """Return the same flow as a static matplotlib image, for print and for pages without JavaScript.

    Nodes sit where :func:`flow_layout` puts them; each link is a band drawn as a filled
    cubic Bézier curve between its two nodes.
    """
    layout = flow_layout(nodes, links)
    width = 0.12
    height = float(layout["height"].iloc[0])
    fig, ax = plt.subplots(figsize=(11, max(7.0, height * 0.11)))
    out_used = pd.Series(0.0, index=nodes.index)
    in_used = pd.Series(0.0, index=nodes.index)
    for link in links.itertuples():
        s, t, v = link.source, link.target, link.value
        xs, xt = layout.at[s, "layer"] + width, layout.at[t, "layer"]
        ys, yt = layout.at[s, "top"] + out_used[s], layout.at[t, "top"] + in_used[t]
        out_used[s] += v
        in_used[t] += v
        mid = (xs + xt) / 2
        verts = [
            (xs, ys), (mid, ys), (mid, yt), (xt, yt),
            (xt, yt + v), (mid, yt + v), (mid, ys + v), (xs, ys + v), (xs, ys),
        ]  # fmt: skip
        codes = [MplPath.MOVETO] + [MplPath.CURVE4] * 3 + [MplPath.LINETO]
        codes += [MplPath.CURVE4] * 3 + [MplPath.CLOSEPOLY]
        colour = KIND_COLOURS[nodes.at[t, "kind"]]
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colour, alpha=0.25, lw=0))
    for i, node in nodes.iterrows():
        top, size = layout.at[i, "top"], layout.at[i, "size"]
        ax.add_patch(Rectangle((node["layer"], top), width, size, color=KIND_COLOURS[node["kind"]]))
        right = node["layer"] == len(LAYERS) - 1
        ax.text(
            node["layer"] + (-0.02 if right else width + 0.02),
            top + size / 2,
            node["label"],
            va="center",
            ha="right" if right else "left",
            fontsize=7,
        )
    ax.set_xlim(-0.1, len(LAYERS) - 1 + width + 0.1)
    ax.set_ylim(height, -0.6)
    ax.set_xticks([i + width / 2 for i in range(len(LAYERS))], [f"{k}s" for k in LAYERS])
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- matrix


def finding_decision_matrix(
    findings: pd.DataFrame, decisions: pd.DataFrame, trace: pd.DataFrame
) -> pd.DataFrame:
    """Return a 0/1 matrix: findings (rows, stage order) by decisions (columns, id order)."""
    rows = findings.sort_values(["stage", "position"])["finding_id"]
    columns = decisions.sort_values("decision_id")["decision_id"]
    matrix = pd.crosstab(trace["finding_id"], trace["decision_id"]).clip(upper=1)
    return matrix.reindex(index=rows, columns=columns, fill_value=0).astype(int)


def matrix_figure(matrix: pd.DataFrame, findings: pd.DataFrame) -> plt.Figure:
    """Return the finding × decision matrix as a seaborn heatmap; set-aside findings are marked."""
    acted = findings.set_index("finding_id")["acted_on"].fillna(False).astype(bool)
    labels = [f if acted.get(f, False) else f"{f} ({NOT_ACTED_ON.lower()})" for f in matrix.index]
    fig, ax = plt.subplots(figsize=(0.26 * matrix.shape[1] + 2.5, 0.26 * matrix.shape[0] + 1.2))
    sns.heatmap(
        matrix.set_axis(labels, axis=0),
        cmap=sns.light_palette(KIND_COLOURS["finding"], as_cmap=True),
        cbar=False,
        linewidths=0.5,
        linecolor="#dddddd",
        square=True,
        ax=ax,
    )
    ax.set_xlabel("Decision")
    ax.set_ylabel("Finding")
    ax.tick_params(labelsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- drill-down


def _evidence_items(study: Study, finding_id: str, counts: pd.DataFrame, figures) -> list[str]:
    evidence = study.finding_evidence
    evidence = evidence[evidence["finding_id"] == finding_id]
    codes = study.codes.set_index("code_id")
    concepts = study.concepts.set_index("concept_id")
    quotes = study.quotes.set_index("quote_id")
    published = published_calls(study.published_figures)
    items = []
    for e in evidence.itertuples():
        key = e.evidence_id
        if e.evidence_type == "code":
            parts = [
                mark_count(
                    f"{int(counts.at[key, kind])} {kind}",
                    published_figure_id(published, kind, key) is not None,
                )
                for kind in ("sources", "references")
            ]
            text = f"Code {key} \u201c{codes.at[key, 'name']}\u201d: {', '.join(parts)}"
        elif e.evidence_type == "quote":
            text = f"Quote {key}: {quote_text(quotes.loc[key])}"
        elif e.evidence_type == "concept":
            name = concepts.at[key, "name"]
            text = f"Concept \u201c{name}\u201d: {concept_review_text(study, key)}"
        else:  # a published figure, with the value the analysis code regenerates
            row = figures.loc[key]
            text = f"Figure {key} ({row['description']}, {row['location']}): {row['regenerated']:g}"
        items.append(f"<li>{html.escape(text)}</li>")
    return items


def decision_details_html(study: Study) -> str:
    """Return every decision as an expandable ``<details>`` element with its evidence.

    Each element has the id ``anchor("decision", id)`` and shows the decision's area,
    level and rationale, the decision it refines, the component it shaped (linked to the
    intervention page), and each supporting finding (linked to its stage page) with that
    finding's evidence: code counts (synthetic ones marked), quotes with attribution,
    concept programme counts and published figures as regenerated from the data.
    """
    decisions = study.decisions.sort_values("decision_id")
    findings = study.findings.set_index("finding_id")
    components = study.components.set_index("component_id")
    trace = study.trace
    counts = code_counts(study.codes, study.segments, study.codings)
    figures = reproduction_table(study).set_index("figure_id")
    blocks = []
    for d in decisions.itertuples():
        facts = [
            f"<p><strong>Area:</strong> {html.escape(d.area)}; <strong>level:</strong> "
            f"{html.escape(d.level)}; <strong>stage:</strong> {d.stage}</p>",
            f"<p><strong>Rationale:</strong> {html.escape(d.rationale)}</p>",
        ]
        if pd.notna(d.parent_id):
            facts.append(
                f'<p><strong>Refines:</strong> <a href="#{anchor("decision", d.parent_id)}">'
                f"{html.escape(d.parent_id)}</a></p>"
            )
        if pd.notna(d.component_id):
            name = components.at[d.component_id, "name"]
            facts.append(
                f'<p><strong>Shaped:</strong> <a href="{component_href(d.component_id)}">'
                f"{html.escape(d.component_id)} {html.escape(name)}</a></p>"
            )
        items = []
        for f in trace.loc[trace["decision_id"] == d.decision_id, "finding_id"].sort_values():
            finding = findings.loc[f]
            evidence = "".join(_evidence_items(study, f, counts, figures))
            items.append(
                f'<li><a href="{finding_href(finding["stage"], f)}">{html.escape(f)}</a> '
                f"{html.escape(finding['statement'])}<ul>{evidence}</ul></li>"
            )
        facts.append(f"<p><strong>Supported by:</strong></p><ul>{''.join(items)}</ul>")
        blocks.append(
            f'<details class="decision" id="{anchor("decision", d.decision_id)}">'
            f"<summary><strong>{html.escape(d.decision_id)}</strong> "
            f"{html.escape(d.decision)}</summary>{''.join(facts)}</details>"
        )
    note = (
        f'<p class="drill-down-note">Counts marked {SYNTHETIC_MARK} are synthetic; '
        "unmarked counts are figures the paper published, regenerated from the data.</p>"
    )
    return note + "".join(blocks)
