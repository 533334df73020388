"""Figures for the book, and the plotly renderer that shows them offline.

Plotly figures inside a Jupyter kernel normally emit only the
``application/vnd.plotly.v1+json`` MIME type, which the book builder cannot
display. :func:`use_offline_renderer` adds an HTML fragment next to it that
relies on the page's own ``plotly.min.js`` (served by :mod:`compendium.build.sphinx_ext`),
so figures render with no CDN and no copy of plotly.js per page.
"""

from __future__ import annotations

import base64
import html as _html
import io
import textwrap
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import seaborn as sns
from plotly.io.base_renderers import MimetypeRenderer

from compendium.analysis.disclosure import mask_small_counts, small_cell_threshold
from compendium.contract.loading import Study
from compendium.presentation.summaries import activity_label, shown_counts, theme_summary

RENDERER_NAME = "compendium"
DEFAULT_RENDERER = f"plotly_mimetype+{RENDERER_NAME}"


class OfflineHTMLRenderer(MimetypeRenderer):
    """Render a figure as a ``text/html`` fragment that loads no JavaScript itself.

    The fragment contains only the figure's ``<div>`` and the call to
    ``Plotly.newPlot``; ``plotly.js`` and MathJax are not embedded or fetched.
    """

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        """Return the MIME bundle for one figure.

        Parameters
        ----------
        fig_dict : dict
            The figure as a validated dictionary, as plotly passes it to renderers.

        Returns
        -------
        dict
            ``{"text/html": fragment}``.
        """
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            validate=False,
        )
        return {"text/html": html}


def use_offline_renderer() -> str:
    """Register :class:`OfflineHTMLRenderer` and make it plotly's default renderer.

    The default becomes ``"plotly_mimetype+compendium"``: JupyterLab keeps its
    native plotly display, and the built book gets the HTML fragment.

    Returns
    -------
    str
        The name of the default renderer now in force.
    """
    pio.renderers[RENDERER_NAME] = OfflineHTMLRenderer()
    pio.renderers.default = DEFAULT_RENDERER
    return DEFAULT_RENDERER


# ---------------------------------------------------------------------------
# The book's figures. Each function takes tables computed by the library and returns a
# figure with a title and axis labels; colours come from colour-blind-safe palettes.
# ---------------------------------------------------------------------------


PALETTE = "colorblind"
SAFE = px.colors.qualitative.Safe
STATUS_ORDER = ["published", "sources published", "references published", "synthetic"]


class AccessibleFigure:
    """A figure shown as ``<figure>`` with a text alternative and a visible caption.

    A plotly figure becomes the HTML fragment :class:`OfflineHTMLRenderer` makes (no
    plotly.js inside) in a ``<figure>`` carrying ``aria-label``; its plotly JSON is
    kept beside it so JupyterLab still renders it natively. A matplotlib figure becomes an
    embedded PNG ``<img>`` with ``alt`` text, and is then closed. Either way the figure is
    one output, so the chapter's provenance line can follow it.

    Parameters
    ----------
    figure : plotly.graph_objects.Figure or matplotlib.figure.Figure
        The figure; its title should already say what it shows.
    alt : str
        Text alternative for screen readers: what the figure shows and its main message.
    caption : str
        Visible caption under the figure.
    """

    def __init__(self, figure, alt: str, caption: str):
        self.figure = figure
        self.alt = alt
        self.caption = caption

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        alt = _html.escape(self.alt)
        caption = f"<figcaption>{_html.escape(self.caption)}</figcaption>"
        if isinstance(self.figure, go.Figure):
            fragment = OfflineHTMLRenderer().to_mimebundle(self.figure.to_dict())["text/html"]
            body = fragment
            extra = {"application/vnd.plotly.v1+json": self.figure.to_plotly_json()}
        else:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=110)
            plt.close(self.figure)
            png = base64.b64encode(buffer.getvalue()).decode("ascii")
            body = f'<img src="data:image/png;base64,{png}" alt="{alt}">'
            extra = {"image/png": png}
        # A plotly figure has focusable controls, so it cannot sit inside role="img": the
        # figure element itself carries the text alternative instead.
        label = f' aria-label="{alt}"' if isinstance(self.figure, go.Figure) else ""
        html = f'<figure class="compendium-figure"{label}>{body}{caption}</figure>'
        return {"text/html": html, **extra, "text/plain": f"<figure: {self.caption}>"}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def theme_counts_figure(study: Study, activity_id: str):
    """Return a seaborn bar chart of each main theme's sources and references.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    activity_id : str
        The analysis; its main themes (from :func:`compendium.presentation.summaries.theme_summary`)
        are drawn, and its label titles the figure.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the theme axis (sources, references); bars are coloured by
        whether the count is published or synthetic.
    """
    summary = theme_summary(study, activity_id)
    main = summary[summary["depth"] == 0].copy()
    main["theme"] = [_wrap(t, 34) for t in main["theme"]]
    main["sources"] = mask_small_counts(main["sources"], small_cell_threshold())
    hue_order = [s for s in STATUS_ORDER if s in set(main["counts"])]
    fig, axes = plt.subplots(
        1, 2, sharey=True, figsize=(9, 0.55 * len(main) + 1.6), layout="constrained"
    )
    for ax, measure, label in zip(
        axes,
        ["sources", "references"],
        ["Sources (participants or groups)", "References (coded segments)"],
        strict=True,
    ):
        sns.barplot(
            data=main,
            y="theme",
            x=measure,
            hue="counts",
            hue_order=hue_order,
            palette=PALETTE,
            dodge=False,
            ax=ax,
            legend=ax is axes[-1],
        )
        ax.set_xlabel(label)
        ax.set_ylabel("Main theme" if ax is axes[0] else "")
    axes[-1].legend(title="Count", loc="lower right")
    fig.suptitle(f"{activity_label(study, activity_id)}: main themes")
    return fig


def sessions_figure(attendance: pd.DataFrame, sessions: int, title: str):
    """Return a seaborn bar chart of how many sessions each participant attended.

    Parameters
    ----------
    attendance : pandas.DataFrame
        Output of :func:`compendium.analysis.characteristics.attendance`; unknown counts are left out.
    sessions : int
        Sessions in the programme: the x axis runs from 0 to this.
    title : str
        Figure title.
    """
    known = attendance["sessions_attended"].dropna().astype(int)
    counts = known.value_counts().reindex(range(sessions + 1), fill_value=0)
    frame = pd.DataFrame({"sessions": counts.index, "participants": counts.to_numpy()})
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    sns.barplot(
        data=frame, x="sessions", y="participants", color=sns.color_palette(PALETTE)[0], ax=ax
    )
    ax.set_xlabel("Sessions attended")
    ax.set_ylabel("Participants interviewed")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    return fig


def codebook_sunburst(study: Study, activity_id: str) -> go.Figure:
    """Return an interactive sunburst of an analysis' codebook.

    Wedges are sized by the references coded at leaf codes (a parent's wedge spans its
    children); hovering shows each code's NVivo sources and references, where a parent
    counts the union of its children.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    activity_id : str
        The analysis; its label titles the figure.
    """
    summary = theme_summary(study, activity_id)
    parent_of = dict(zip(summary["code_id"], summary["parent_id"].fillna(""), strict=True))
    has_children = set(parent_of.values())
    leaf_refs = [
        0 if c in has_children else int(r)
        for c, r in zip(summary["code_id"], summary["references"], strict=True)
    ]

    def main_theme(code: str) -> str:
        while parent_of[code]:
            code = parent_of[code]
        return code

    mains = list(summary.loc[summary["depth"] == 0, "code_id"])
    colours = [SAFE[mains.index(main_theme(c)) % len(SAFE)] for c in summary["code_id"]]
    fig = go.Figure(
        go.Sunburst(
            ids=summary["code_id"],
            labels=[_wrap(t, 22).replace("\n", "<br>") for t in summary["theme"]],
            parents=[parent_of[c] for c in summary["code_id"]],
            values=leaf_refs,
            branchvalues="remainder",
            customdata=summary[["theme", "sources", "references", "counts"]]
            .assign(sources=shown_counts(summary["sources"], small_cell_threshold()))
            .to_numpy(),
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>sources: %{customdata[1]}<br>"
                "references: %{customdata[2]}<br>counts: %{customdata[3]}<extra></extra>"
            ),
            marker={"colors": colours},
            insidetextorientation="radial",
        )
    )
    title = f"{activity_label(study, activity_id)}: codebook"
    fig.update_layout(
        title=title,
        meta={"activity_id": activity_id},
        margin={"t": 60, "l": 10, "r": 10, "b": 10},
        height=560,
    )
    return fig


def theme_heatmap(table: pd.DataFrame, title: str, x_label: str, value_label: str) -> go.Figure:
    """Return an interactive heatmap of a themes × groups table of counts.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows are themes, columns groups, values counts (e.g.
        :func:`compendium.presentation.summaries.theme_sources_by`).
    title, x_label, value_label : str
        Figure title, x-axis title and the name of the counted quantity.
    """
    fig = px.imshow(
        mask_small_counts(table, small_cell_threshold()),
        text_auto=True,
        aspect="auto",
        color_continuous_scale="cividis",
        labels={"x": x_label, "y": "Main theme", "color": value_label},
    )
    fig.update_layout(title=title, height=120 + 48 * len(table))
    fig.update_xaxes(title=x_label)
    fig.update_yaxes(title="Main theme")
    return fig


def flow_sankey(flow: pd.DataFrame, title: str) -> go.Figure:
    """Return a Sankey diagram of a trial's participant flow.

    Parameters
    ----------
    flow : pandas.DataFrame
        Output of :func:`compendium.analysis.characteristics.participant_flow`.
    title : str
        Figure title.
    """
    recruited = flow[flow["step"] == "recruited"]["participants"].iloc[0]
    arms = flow[flow["step"] == "randomised"]
    outcomes = flow[flow["step"] == "outcome"]
    nodes = [f"Recruited ({recruited})"]
    nodes += [
        f"{a.capitalize()} arm ({n})"
        for a, n in zip(arms["arm"], arms["participants"], strict=True)
    ]
    nodes += [
        f"{a.capitalize()}: {s.replace('_', ' ')} ({n})"
        for a, s, n in zip(
            outcomes["arm"], outcomes["status"], outcomes["participants"], strict=True
        )
    ]
    arm_index = {a: 1 + i for i, a in enumerate(arms["arm"])}
    source = [0] * len(arms) + [arm_index[a] for a in outcomes["arm"]]
    target = list(arm_index.values()) + list(range(1 + len(arms), len(nodes)))
    value = list(arms["participants"]) + list(outcomes["participants"])
    fig = go.Figure(
        go.Sankey(
            node={
                "label": nodes,
                "color": [SAFE[i % len(SAFE)] for i in range(len(nodes))],
                "pad": 18,
            },
            link={"source": source, "target": target, "value": [int(v) for v in value]},
        )
    )
    fig.update_layout(title=title, height=380, font={"size": 13})
    return fig


def stage_decision_figure(stages: pd.DataFrame, title: str):
    """Return a diagram of the study's stages and the decisions taken after each (the paper's Figure 1).

    Parameters
    ----------
    stages : pandas.DataFrame
        Output of :func:`compendium.presentation.summaries.stage_decisions`.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One column per stage: the stage box on top, its summary decisions beneath, and an
        arrow from each stage to the next; boxes are coloured by MRC phase.
    """
    phases = list(dict.fromkeys(stages["mrc_phase"]))
    colours = dict(zip(phases, sns.color_palette(PALETTE, len(phases)), strict=True))
    n = len(stages)
    fig, ax = plt.subplots(figsize=(2.6 * n, 4.8), layout="constrained")
    ax.set_xlim(0, n)
    ax.set_ylim(0, 1)
    ax.axis("off")
    for i, row in enumerate(stages.itertuples()):
        x = i + 0.5
        ax.text(
            x,
            0.86,
            f"Stage {row.stage}\n{row.name}\n\n{_wrap(row.label, 24)}",
            ha="center",
            va="center",
            fontsize=8.5,
            bbox={
                "boxstyle": "round,pad=0.5",
                "facecolor": (*colours[row.mrc_phase], 0.35),
                "edgecolor": "black",
            },
        )
        if i < n - 1:
            ax.annotate(
                "",
                xy=(i + 1.08, 0.86),
                xytext=(i + 0.92, 0.86),
                arrowprops={"arrowstyle": "->", "lw": 1.5},
            )
        ax.annotate("", xy=(x, 0.66), xytext=(x, 0.74), arrowprops={"arrowstyle": "->", "lw": 1.2})
        text = "\n\n".join(_wrap(d, 26) for d in row.decisions) or "(no decision recorded)"
        ax.text(
            x,
            0.64,
            text,
            ha="center",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "grey"},
        )
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=(*colours[p], 0.35), edgecolor="black")
        for p in phases
    ]
    ax.legend(
        handles,
        [f"MRC phase: {p}" for p in phases],
        loc="lower center",
        ncols=len(phases),
        frameon=False,
    )
    ax.text(
        0.0,
        0.7,
        "Decisions",
        fontsize=9,
        style="italic",
        ha="left",
        va="center",
        transform=ax.transData,
    )
    fig.suptitle(title)
    return fig


def concept_programmes_figure(counts: pd.DataFrame, title: str):
    """Return a seaborn bar chart of how many reviewed programmes contain each concept.

    Parameters
    ----------
    counts : pandas.DataFrame
        Output of :func:`compendium.presentation.summaries.concept_programme_counts`.
    title : str
        Figure title.
    """
    frame = counts.assign(concept=[_wrap(c, 28) for c in counts["concept"]])
    hue_order = [s for s in STATUS_ORDER if s in set(frame["counts"])]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(frame) + 1.4), layout="constrained")
    sns.barplot(
        data=frame,
        y="concept",
        x="programmes",
        hue="counts",
        hue_order=hue_order,
        palette=PALETTE,
        dodge=False,
        ax=ax,
    )
    ax.set_xlim(0, int(counts["of"].max()))
    ax.set_xlabel(f"Reviewed programmes containing the concept (of {int(counts['of'].max())})")
    ax.set_ylabel("Concept")
    ax.legend(title="Count", loc="lower right")
    ax.set_title(title)
    return fig
