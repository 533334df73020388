"""Figures of the study as a whole: the stages by phase, the trace as a flow, the trace as a matrix.

Each function takes the :class:`~compendium.presentation.chapter.Chapter` (and, where the
chapter computed it in view of the reader, a table) and returns an
:class:`~compendium.presentation.figures.AccessibleFigure` with a caption, a text alternative
and the package files it was drawn from, or the chapter's not-applicable note when the package
lacks the module it needs. Words drawn from the data keep the note of where their wording
comes from (:func:`compendium.presentation.reporting.worded`), in the figure itself or in its
hover text.

The plotting libraries are imported inside the functions that draw.
"""

from __future__ import annotations

import textwrap

import pandas as pd

from compendium.analysis import trace as trace_analysis
from compendium.presentation.figures import AccessibleFigure
from compendium.presentation.origin import wording_note
from compendium.presentation.reporting import _reads, worded

#: Colour-blind-safe colours (seaborn's "colorblind" palette), by kind of node in the flow.
KIND_COLOURS = {
    "stage": "#0173b2",
    "finding": "#029e73",
    "not acted on": "#d55e00",
    "summary": "#cc78bc",
    "specification": "#ca9161",
    "component": "#de8f05",
}
#: Hatches that tell phases apart without colour.
PHASE_HATCHES = ("", "//", "..", "xx", "\\\\", "++")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


# --------------------------------------------------------------------------- stages by phase


def stage_decisions(chapter) -> pd.DataFrame:
    """Return each stage in order with its phase and its summary decisions (text and wording).

    Without the trace module every stage has an empty list of decisions.
    """
    stages = chapter.study.stages
    decisions = None
    if chapter.study.has("decisions"):
        decisions = chapter.study.decisions
        decisions = decisions[decisions["level"] == "summary"]
    rows = []
    for s in stages.itertuples():
        own = decisions[decisions["stage_id"] == s.stage_id] if decisions is not None else None
        rows.append(
            {
                "stage_id": s.stage_id,
                "name": s.name,
                "phase": s.phase,
                "phase_label": s.phase_label,
                "decisions": []
                if own is None
                else list(zip(own["decision"], own["wording"], strict=True)),
            }
        )
    return pd.DataFrame(rows)


def stage_overview_figure(chapter, stages: pd.DataFrame | None = None) -> AccessibleFigure:
    """Return the diagram of the study's stages, grouped by phase, with the decisions after each.

    Stage boxes run left to right, joined by arrows, under a band naming their framework phase
    (phases also differ by hatching, never only by colour). Beneath each stage are the summary
    decisions recorded after it, each followed by its wording's note. It is drawn from
    ``study.yaml`` and ``decisions.csv``; it redraws no figure of the paper.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    stages = stage_decisions(chapter) if stages is None else stages
    has_decisions = chapter.study.has("decisions")
    phases = list(dict.fromkeys(stages["phase"]))
    colours = dict(zip(phases, plt.get_cmap("Pastel1").colors, strict=False))
    hatches = {p: PHASE_HATCHES[i % len(PHASE_HATCHES)] for i, p in enumerate(phases)}
    n = len(stages)
    texts = [
        "\n\n".join(_wrap(worded(d, w), 22) for d, w in row) or "(no summary decision recorded)"
        for row in stages["decisions"]
    ]
    # Lay out in inches from the top, so the figure is as tall as its longest column needs.
    line = 0.14
    below = max(t.count("\n") + 1 for t in texts) * line + 0.25 if has_decisions else 0
    height = 1.55 + below
    fig, ax = plt.subplots(figsize=(max(1.75 * n, 5.5), height + 0.45), layout="constrained")
    ax.set_xlim(0, n)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for phase, members in stages.groupby("phase", sort=False).groups.items():
        first, last = min(members), max(members)
        ax.add_patch(
            FancyBboxPatch(
                (first + 0.04, 0.05),
                last - first + 0.92,
                0.32,
                boxstyle="round,pad=0.01",
                facecolor=colours[phase],
                hatch=hatches[phase],
                edgecolor="black",
                linewidth=0.8,
            )
        )
        ax.text(
            (first + last + 1) / 2,
            0.21,
            f"Phase: {stages.loc[first, 'phase_label']}",
            ha="center",
            va="center",
            fontsize=9,
            weight="bold",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
        )
    for i, row in enumerate(stages.itertuples()):
        x = i + 0.5
        ax.text(
            x,
            0.8,
            f"Stage {row.stage_id}\n{_wrap(row.name, 18)}",
            ha="center",
            va="center",
            fontsize=9,
            # The stage sits under its phase's labelled, hatched band; its box stays plain to read.
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": colours[row.phase],
                "edgecolor": "black",
            },
        )
        if i < n - 1:
            ax.annotate(
                "",
                xy=(i + 1.12, 0.8),
                xytext=(i + 0.88, 0.8),
                arrowprops={"arrowstyle": "->", "lw": 1.4},
            )
        if not has_decisions:
            continue
        ax.annotate("", xy=(x, 1.42), xytext=(x, 1.12), arrowprops={"arrowstyle": "->"})
        ax.text(
            x,
            1.5,
            texts[i],
            ha="center",
            va="top",
            fontsize=8,
            linespacing=1.15,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "grey"},
        )
    framework = chapter.descriptor.framework.name
    decisions = [w for ds in stages["decisions"] for _, w in ds]
    counts = pd.Series(decisions, dtype="str").value_counts()
    marks = ", ".join(f"{k} noted as {wording_note(w)}" for w, k in counts.items())
    if has_decisions:
        title = "The study's stages by phase, with the summary decisions recorded after each"
        alt = (
            f"Diagram of {n} stages in {len(phases)} phases of the {framework}, left to right "
            f"and joined by arrows; beneath each stage a box lists the summary decisions recorded "
            f"after it, {len(decisions)} in all, each followed by a note of where its wording "
            f"comes from ({marks or 'none recorded'})."
        )
        caption = (
            f"Stages as study.yaml declares them, grouped by phase of the {framework} (phases "
            "differ by hatching as well as colour). Beneath each stage are the summary decisions "
            "recorded in decisions.csv, each followed by a note of where its wording comes from. The "
            "diagram is drawn from the data package; it is not a copy of any figure of the paper."
        )
        files = ("study.yaml", "decisions.csv")
    else:
        title = "The study's stages by phase"
        alt = (
            f"Diagram of {n} stages in {len(phases)} phases of the {framework}, left to right and "
            "joined by arrows."
        )
        caption = (
            f"Stages as study.yaml declares them, grouped by phase of the {framework} (phases "
            "differ by hatching as well as colour). The package records no decisions (no trace "
            "module), so none are drawn."
        )
        files = ("study.yaml",)
    fig.suptitle(title)
    return _reads(chapter, AccessibleFigure(fig, alt=alt, caption=caption), *files)


# --------------------------------------------------------------------------- the flow


def _hover(nodes: pd.DataFrame) -> list[str]:
    return [
        worded(text, w) if isinstance(w, str) else str(text)
        for text, w in zip(nodes["text"], nodes["wording"], strict=True)
    ]


def _flow_summary(nodes: pd.DataFrame) -> str:
    kinds = nodes["kind"].value_counts()
    decisions = int(kinds.get("summary", 0) + kinds.get("specification", 0))
    aside = int((nodes["kind"].eq("not acted on") & nodes["layer"].eq(1)).sum())
    parts = [
        f"{int(kinds.get('stage', 0))} stages flow into "
        f"{int(kinds.get('finding', 0)) + aside} findings",
        f"which flow into {decisions} decisions",
    ]
    if kinds.get("component", 0):
        parts.append(f"and on to the {int(kinds['component'])} components they shaped")
    text = ", ".join(parts)
    if aside:
        text += f"; {aside} findings flow into a '{trace_analysis.NOT_ACTED_ON}' node"
    return text


_FLOW_FILES = ("study.yaml", "findings.csv", "decisions.csv", "trace.csv", "components.csv")


def trace_sankey(chapter, nodes: pd.DataFrame, links: pd.DataFrame, height: int | None = None):
    """Return the flow as an interactive plotly Sankey diagram; hover shows each node's full wording.

    Nodes start where :func:`compendium.analysis.trace.flow_layout` puts them, so stages,
    findings and decisions keep the study's order (a reader can still drag them). The gap
    between nodes is converted from plotly's pixel padding, so the positions match the sizes
    plotly draws.
    """
    if links.empty:
        return chapter.not_applicable("the package records no link from a finding to a decision.")
    import plotly.graph_objects as go

    pad, margin = 4, {"l": 10, "r": 10, "t": 30, "b": 20}
    per_layer = nodes.groupby("layer").size()
    height = height or max(700, 22 * int(per_layer.max()))
    plot_height = height - margin["t"] - margin["b"]
    value = trace_analysis.flow_layout(nodes, links, gap=0)["size"].groupby(nodes["layer"]).sum()
    pixels_per_unit = ((plot_height - (per_layer - 1) * pad) / value).min()
    layout = trace_analysis.flow_layout(nodes, links, gap=pad / pixels_per_unit)
    span = plot_height / pixels_per_unit
    last = max(int(nodes["layer"].max()), 1)
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": nodes["label"].tolist(),
                "customdata": _hover(nodes),
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
    columns = " → ".join(f"{k}s" for k in trace_analysis.LAYERS[: last + 1])
    figure.update_layout(
        title={"text": f"The trace: {columns}", "font": {"size": 13}},
        height=height,
        margin=margin,
        font={"size": 11},
    )
    alt = f"Sankey diagram: {_flow_summary(nodes)}. Every link is one band of the same width."
    caption = (
        f"{columns.capitalize()}, as trace.csv records the links. Node labels are ids (hover for "
        "the full wording and where it comes from); colours mark the kind of node: stage, finding, "
        "finding not acted on, summary decision, specification, component."
    )
    return _reads(chapter, AccessibleFigure(figure, alt=alt, caption=caption), *_FLOW_FILES)


def trace_flow_static(chapter, nodes: pd.DataFrame, links: pd.DataFrame):
    """Return the same flow as a static matplotlib image, for print and for pages without JavaScript.

    Nodes sit where :func:`compendium.analysis.trace.flow_layout` puts them; each link is a band
    drawn as a filled cubic Bézier curve between its two nodes, and each column is named.
    """
    if links.empty:
        return chapter.not_applicable("the package records no link from a finding to a decision.")
    import matplotlib.pyplot as plt
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    layout = trace_analysis.flow_layout(nodes, links)
    width = 0.12
    height = float(layout["height"].iloc[0])
    last = int(nodes["layer"].max())
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
        node_top, size = layout.at[i, "top"], layout.at[i, "size"]
        ax.add_patch(
            Rectangle((node["layer"], node_top), width, size, color=KIND_COLOURS[node["kind"]])
        )
        right = node["layer"] == last and last > 0
        ax.text(
            node["layer"] + (-0.02 if right else width + 0.02),
            node_top + size / 2,
            node["label"],
            va="center",
            ha="right" if right else "left",
            fontsize=7,
        )
    layers = trace_analysis.LAYERS[: last + 1]
    ax.set_xlim(-0.1, last + width + 0.1)
    ax.set_ylim(height, -0.6)
    ax.set_xticks([i + width / 2 for i in range(len(layers))], [f"{k}s" for k in layers])
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    alt = (
        f"Static flow diagram in {len(layers)} columns ({', '.join(f'{k}s' for k in layers)}) "
        f"joined by bands, one per trace link: {_flow_summary(nodes)}."
    )
    caption = (
        "The trace as a static image. Band widths count trace links; colours mark the kind of "
        "node, and each column is named above it."
    )
    return _reads(chapter, AccessibleFigure(fig, alt=alt, caption=caption), *_FLOW_FILES)


# --------------------------------------------------------------------------- the matrix


def matrix_figure(chapter, matrix: pd.DataFrame):
    """Return the finding × decision matrix as a seaborn heatmap; set-aside findings are labelled."""
    if matrix.empty or matrix.shape[1] == 0:
        return chapter.not_applicable("the package records no findings or no decisions.")
    import matplotlib.pyplot as plt
    import seaborn as sns

    findings = chapter.study.findings
    acted = dict(zip(findings["finding_id"], trace_analysis.acted_on(findings), strict=True))
    labels = [
        f if acted.get(f, False) else f"{f} ({trace_analysis.NOT_ACTED_ON.lower()})"
        for f in matrix.index
    ]
    fig, ax = plt.subplots(figsize=(0.26 * matrix.shape[1] + 2.8, 0.26 * matrix.shape[0] + 1.4))
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
    filled = int(matrix.to_numpy().sum())
    alt = (
        f"Heatmap of {matrix.shape[0]} findings (rows) against {matrix.shape[1]} decisions "
        f"(columns), filled in {filled} cells where a finding informed a decision; rows of "
        "findings not acted on are labelled so and left empty."
    )
    caption = (
        "Findings against decisions, as trace.csv records the links. A filled cell is a link; "
        "summary decisions come before specifications, each in the order of decisions.csv."
    )
    return _reads(
        chapter,
        AccessibleFigure(fig, alt=alt, caption=caption),
        "study.yaml",
        "findings.csv",
        "decisions.csv",
        "trace.csv",
    )


__all__ = [
    "KIND_COLOURS",
    "matrix_figure",
    "stage_decisions",
    "stage_overview_figure",
    "trace_flow_static",
    "trace_sankey",
]
