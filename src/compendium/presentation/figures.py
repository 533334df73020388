"""Figures for stage chapters, each with a caption and a text alternative, drawn offline.

Every function takes the chapter (and the table the chapter computed, where it did) and
returns an :class:`AccessibleFigure`, or the chapter's not-applicable note when the package
holds no data for it. Plotly figures are rendered to an HTML fragment that relies on the
page's own ``plotly.min.js`` (served by :mod:`compendium.build.sphinx_ext`), so no figure
fetches anything; matplotlib figures become PNGs with ``alt`` text. Counts of people are
masked below the small-cell threshold, so no bar or hover label shows one.

The plotting libraries are imported inside the functions that draw, so a chapter kernel that
draws no figure does not pay for importing them.
"""

from __future__ import annotations

import base64
import io
import textwrap
from typing import Any

import pandas as pd

from compendium.analysis.disclosure import cells_to_hide, marker
from compendium.analysis.themes import analysis_codes
from compendium.presentation.html import Markup
from compendium.presentation.sections import flow_boxes, flow_hidden, theme_hidden

PALETTE = "colorblind"
#: Colour-blind-safe qualitative colours (plotly's "Safe" palette).
SAFE = [
    "rgb(136, 204, 238)",
    "rgb(204, 102, 119)",
    "rgb(221, 204, 119)",
    "rgb(17, 119, 51)",
    "rgb(51, 34, 136)",
    "rgb(170, 68, 153)",
    "rgb(68, 170, 153)",
    "rgb(153, 153, 51)",
    "rgb(136, 34, 85)",
    "rgb(102, 17, 0)",
    "rgb(136, 136, 136)",
]


def offline_html(figure_dict: dict) -> str:
    """Return a plotly figure as an HTML fragment that loads no JavaScript itself."""
    import plotly.io as pio

    return pio.to_html(
        figure_dict, include_plotlyjs=False, include_mathjax=False, full_html=False, validate=False
    )


class AccessibleFigure:
    """A figure shown as ``<figure>`` with a text alternative and a visible caption.

    A plotly figure becomes an HTML fragment with no plotly.js inside, in a ``<figure>``
    carrying ``aria-label`` (its controls are focusable, so it cannot be ``role="img"``); its
    plotly JSON is kept beside it so JupyterLab still renders it natively. A matplotlib figure
    becomes an embedded PNG ``<img>`` with ``alt`` text, and is then closed.

    Parameters
    ----------
    figure
        A plotly ``Figure`` or a matplotlib ``Figure``; its title should say what it shows.
    alt
        Text alternative for screen readers: what the figure shows and its main message.
    caption
        Visible caption under the figure.
    """

    def __init__(self, figure, alt: str, caption: str):
        self.figure = figure
        self.alt = alt
        self.caption = caption

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from compendium.presentation.html import render

        if hasattr(self.figure, "to_plotly_json"):
            # offline_html is the figure's own markup, its data JSON-encoded for a script
            body, png = Markup(offline_html(self.figure.to_dict())), None
            extra = {"application/vnd.plotly.v1+json": self.figure.to_plotly_json()}
        else:
            import matplotlib.pyplot as plt

            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=110)
            plt.close(self.figure)
            body, png = None, base64.b64encode(buffer.getvalue()).decode("ascii")
            extra = {"image/png": png}
        html = str(
            render(
                "figure.html",
                label=self.alt if png is None else None,
                alt=self.alt,
                png=png,
                body=body,
                caption=self.caption,
            )
        )
        return {"text/html": html, **extra, "text/plain": f"Figure: {self.caption}"}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _masked(values, hidden: set[int]) -> list:
    """Return counts with the hidden ones (see analysis.disclosure) as None: nothing draws them."""
    return [None if i in hidden else int(v) for i, v in enumerate(values)]


# --------------------------------------------------------------------------- themes


def theme_counts(chapter, analysis: str) -> AccessibleFigure:
    """Return a bar chart of each main theme's sources and references in one analysis."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    codes = analysis_codes(chapter.study.codes, analysis)
    main = codes[codes["parent_id"].isna()]
    m = chapter.measures
    sources = [int(m.sources(c)) for c in main["code_id"]]
    references = [int(m.references(c)) for c in main["code_id"]]
    # the same decision as the theme table: a small source, and a reference count pinning one
    flags = [theme_hidden(chapter, analysis)[c] for c in main["code_id"]]
    hidden_s = {i for i, f in enumerate(flags) if f[0]}
    hidden_r = {i for i, f in enumerate(flags) if f[1]}
    frame = pd.DataFrame(
        {
            "theme": [_wrap(t, 34) for t in main["name"]],
            "sources": _masked(sources, hidden_s),
            "references": _masked(references, hidden_r),
        }
    )
    fig, axes = plt.subplots(
        1, 2, sharey=True, figsize=(9, 0.55 * len(frame) + 1.6), layout="constrained"
    )
    colour = sns.color_palette(PALETTE)[0]
    for ax, measure, label in zip(
        axes,
        ["sources", "references"],
        ["Sources (people or groups)", "References (coded passages)"],
        strict=True,
    ):
        sns.barplot(data=frame, y="theme", x=measure, color=colour, ax=ax)
        ax.set_xlabel(label)
        ax.set_ylabel("Main theme" if ax is axes[0] else "")
    fig.suptitle(f"{chapter.label(analysis)}: main themes")
    hidden = (
        " Sources below the small-cell threshold, and reference counts that would give one away, are not drawn."
        if chapter.threshold > 1
        else ""
    )
    return AccessibleFigure(
        fig,
        alt=f"Two horizontal bar charts sharing the theme axis for {chapter.label(analysis)}: the left shows how many sources each main theme drew on, the right how many coded passages it holds.",
        caption=f"Sources and references of each main theme of {chapter.label(analysis)}.{hidden}",
    )


def codebook_sunburst(chapter, analysis: str) -> AccessibleFigure:
    """Return an interactive sunburst of an analysis' codebook, sized by references."""
    import plotly.graph_objects as go

    codes = analysis_codes(chapter.study.codes, analysis)
    parent_of = dict(zip(codes["code_id"], codes["parent_id"].fillna(""), strict=True))
    has_children = set(parent_of.values())
    m = chapter.measures
    references = [int(m.references(c)) for c in codes["code_id"]]
    sources = [int(m.sources(c)) for c in codes["code_id"]]
    flags = [theme_hidden(chapter, analysis)[c] for c in codes["code_id"]]
    hidden_s = {i for i, f in enumerate(flags) if f[0]}
    hidden_r = {i for i, f in enumerate(flags) if f[1]}
    mark = marker(chapter.threshold)
    shown_sources = [mark if i in hidden_s else str(s) for i, s in enumerate(sources)]
    shown_references = [mark if i in hidden_r else str(r) for i, r in enumerate(references)]
    # A wedge's size is its references: a hidden count is drawn at the threshold's size.
    sizes = [chapter.threshold if i in hidden_r else r for i, r in enumerate(references)]

    def top(code: str) -> str:
        while parent_of[code]:
            code = parent_of[code]
        return code

    mains = list(codes.loc[codes["parent_id"].isna(), "code_id"])
    fig = go.Figure(
        go.Sunburst(
            ids=codes["code_id"],
            labels=[_wrap(t, 22).replace("\n", "<br>") for t in codes["name"]],
            parents=[parent_of[c] for c in codes["code_id"]],
            values=[
                0 if c in has_children else r for c, r in zip(codes["code_id"], sizes, strict=True)
            ],
            branchvalues="remainder",
            customdata=list(zip(codes["name"], shown_sources, shown_references, strict=True)),
            hovertemplate="<b>%{customdata[0]}</b><br>sources: %{customdata[1]}<br>references: %{customdata[2]}<extra></extra>",
            marker={"colors": [SAFE[mains.index(top(c)) % len(SAFE)] for c in codes["code_id"]]},
            insidetextorientation="radial",
        )
    )
    fig.update_layout(
        title=f"{chapter.label(analysis)}: codebook",
        meta={"activity_id": analysis},
        margin={"t": 60, "l": 10, "r": 10, "b": 10},
        height=560,
    )
    return AccessibleFigure(
        fig,
        alt=f"Interactive sunburst of the codebook of {chapter.label(analysis)}: main themes in the inner ring, the codes beneath them outside, wedge size by coded passages.",
        caption=f"Codebook of {chapter.label(analysis)}. Hover over a wedge for its sources and references; click to zoom into a theme."
        + (
            f" A wedge whose count is hidden ({mark}) is drawn at the size of {chapter.threshold}."
            if hidden_r
            else ""
        ),
    )


def themes_by_group_role(chapter, analysis: str):
    """Return a heatmap of each main theme's sources among the groups of each role."""
    import plotly.express as px

    from compendium.analysis.themes import sources_by

    study = chapter.study
    if not study.has("focus_groups"):
        return chapter.not_applicable("the package has no focus groups.")
    groups = study.focus_groups[study.focus_groups["activity_id"] == analysis]
    if groups.empty:
        return chapter.not_applicable(f"{chapter.label(analysis)} has no groups.")
    codes = analysis_codes(study.codes, analysis)
    roles = [r for r in chapter.descriptor.roles if (groups["role"] == r.id).any()]
    role_of = groups.set_index("group_id")["role"].astype(
        pd.CategoricalDtype([r.id for r in roles])
    )
    table = sources_by(codes, study.segments, study.codings, role_of)
    main = codes[codes["parent_id"].isna()]
    values = table.loc[main["code_id"]]
    values.columns = [r.label for r in roles]
    values.index = [_wrap(t, 40).replace("\n", "<br>") for t in main["name"]]
    fig = px.imshow(
        values,
        text_auto=True,
        aspect="auto",
        color_continuous_scale="cividis",
        labels={"x": "Groups of", "y": "Main theme", "color": "Groups (sources)"},
    )
    fig.update_layout(
        title=f"{chapter.label(analysis)}: main themes by who took part",
        height=120 + 48 * len(values),
    )
    return AccessibleFigure(
        fig,
        alt=f"Heatmap of {chapter.label(analysis)}: main themes in rows, the role of each group's members in columns, each cell the number of such groups coded at the theme.",
        caption="How many groups of each kind raised each main theme (sources among those groups).",
    )


# --------------------------------------------------------------------------- trial


#: What a CONSORT box says for a count the data cannot inform: never a number.
NOT_REPORTED = "not reported"


def _count(chapter, values, used: set, hidden: bool) -> str:
    """Return the count of a CONSORT box as ``n = ...``: measured counts added up, marked.

    ``hidden`` (the flow's one disclosure decision, :func:`flow_hidden`) shows the marker
    instead. One measured count keeps its own origin; a sum of several is ``derived`` when
    every part is published or derived, else the package's own. The origin is added to
    ``used``, for the caption's legend.
    """
    from compendium.presentation.origin import combined_origin, number_origin, origin_mark

    if hidden:
        return f"n = {marker(chapter.threshold)}"
    values = list(values)
    total = sum(int(v) for v in values)
    if len(values) == 1:
        origin = number_origin(chapter, values[0])
    else:
        # No count at all (nobody in the box) is the package's own zero, as is any other sum.
        origin = combined_origin(chapter, values)
    used.add(origin)
    return f"n = {total}{origin_mark(origin)}"


def trial_flow(chapter, flow: pd.DataFrame):
    """Return the trial's participant flow laid out as CONSORT's flow diagram, in HTML.

    The layout is that of the CONSORT 2010 flow diagram, which its extension to randomised
    pilot and feasibility trials keeps: enrolment (assessed for eligibility, excluded with
    reasons, randomised), then one column per arm through allocation (allocated, received or
    not the allocated intervention), follow-up (lost to follow-up with reasons, discontinued
    intervention) and analysis (analysed, excluded from analysis with reasons). A study
    without arms has one column, headed by those recruited and offered the intervention.

    Counts come from ``flow`` (:func:`compendium.presentation.sections.participant_flow`):
    a status whose people did not take part is a reason for loss to follow-up; one whose
    people took part but were not analysed, a reason for exclusion from analysis
    (:func:`compendium.presentation.sections.flow_boxes`). The flow table and this diagram
    hide the same counts, boxes included (:func:`flow_hidden`). Each count carries its
    origin's mark, explained in the caption. Boxes the data cannot inform (eligibility,
    exclusions before randomisation, receipt of the intervention, discontinuation) say "not
    reported", never a number.

    It is drawn in HTML rather than as an image so that its text reflows: it stays legible on
    a phone, in print and to a screen reader.
    """
    from compendium.presentation.html import fragment
    from compendium.presentation.origin import legend_text

    if flow.empty or int(flow["participants"].iloc[0]) == 0:
        return chapter.not_applicable("the package records no trial allocation for this stage.")
    statuses = {s.id: s for s in chapter.descriptor.statuses}
    arm_labels = {
        a.id: a.label for a in (chapter.descriptor.trial.arms if chapter.descriptor.trial else ())
    }
    row_hidden, box_hidden = flow_hidden(chapter, flow)
    boxes = flow_boxes(chapter, flow)
    used: set[str] = set()

    def row(i: int) -> str:
        return _count(chapter, [flow["participants"].iloc[i]], used, row_hidden[i])

    def box(key) -> str:
        parts = [flow["participants"].iloc[i] for i in boxes[key]]
        return _count(chapter, parts, used, box_hidden[key]) if parts else "n = 0"

    steps = list(flow["step"])
    recruited = steps.index("recruited")
    arms = [(i, flow["arm"].iloc[i]) for i, step in enumerate(steps) if step == "allocated"]
    randomised = bool(arms)
    columns = arms or [(None, None)]
    allocation, follow_up, analysis = [], [], []
    given = "allocated" if randomised else "offered"
    for position, arm in columns:

        def reasons(key) -> list[str]:
            return [f"{statuses[flow['status'].iloc[i]].label} ({row(i)})" for i in boxes[key]]

        allocation.append(
            {
                "title": (
                    f"Allocated to {arm_labels[arm]} ({row(position)})"
                    if position is not None
                    else f"Offered the intervention ({row(recruited)})"
                ),
                "lines": [
                    f"Received the {given} intervention: {NOT_REPORTED}",
                    f"Did not receive the {given} intervention: {NOT_REPORTED}",
                ],
            }
        )
        follow_up.append(
            {
                "title": f"Lost to follow-up ({box((arm, 'lost'))})",
                "lines": [f"Reason: {line}" for line in reasons((arm, "lost"))]
                + [f"Discontinued the intervention: {NOT_REPORTED}"],
            }
        )
        analysis.append(
            {
                "title": f"Analysed ({box((arm, 'analysed'))})",
                "lines": [f"Excluded from analysis ({box((arm, 'excluded'))})"]
                + [f"Reason: {line}" for line in reasons((arm, "excluded"))],
            }
        )
    first = "Randomised" if randomised else "Recruited"
    entered = f"{first} ({row(recruited)})"
    caption = (
        "Participant flow in the layout of the CONSORT 2010 flow diagram, as its extension to "
        "randomised pilot and feasibility trials recommends. Boxes the data do not inform say "
        "'not reported'."
    )
    return fragment(
        "consort.html",
        arms=len(columns),
        enrolment={
            "assessed": f"Assessed for eligibility (n = {NOT_REPORTED})",
            "excluded": f"Excluded (n = {NOT_REPORTED})",
            "reasons": [
                f"Not meeting inclusion criteria: {NOT_REPORTED}",
                f"Declined to participate: {NOT_REPORTED}",
                f"Other reasons: {NOT_REPORTED}",
            ],
            "entered": entered,
        },
        phases=[
            {"label": "Allocation", "boxes": allocation},
            {"label": "Follow-up", "boxes": follow_up},
            {"label": "Analysis", "boxes": analysis},
        ],
        caption=caption + legend_text(used),
    )


def sessions_attended(chapter, trial: pd.DataFrame):
    """Return a bar chart of how many participants attended each number of sessions."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    known = (
        trial["sessions_attended"].dropna().astype(int)
        if "sessions_attended" in trial
        else pd.Series(dtype=int)
    )
    if known.empty:
        return chapter.not_applicable("the package records no sessions attended for this stage.")
    offered = (
        chapter.descriptor.trial.sessions_offered
        if chapter.descriptor.trial and chapter.descriptor.trial.sessions_offered
        else int(known.max())
    )
    counts = known.value_counts().reindex(range(offered + 1), fill_value=0)
    # The bars add up to the participants whose attendance is known, a number shown
    # elsewhere: a lone hidden bar would be that number less the others.
    hidden = cells_to_hide(list(counts), chapter.threshold)
    frame = pd.DataFrame(
        {"sessions": counts.index, "participants": _masked(counts.to_numpy(), hidden)}
    )
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    sns.barplot(
        data=frame, x="sessions", y="participants", color=sns.color_palette(PALETTE)[0], ax=ax
    )
    ax.set_xlabel("Sessions attended")
    ax.set_ylabel("Participants")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Sessions attended")
    hidden = (
        f" Bars of fewer than {chapter.threshold} people, and any bar they could be worked out from, are not drawn."
        if chapter.threshold > 1
        else ""
    )
    kind = " The numbers are synthetic." if chapter.study.synthetic else ""
    return AccessibleFigure(
        fig,
        alt=f"Bar chart with sessions attended, from none to {offered}, on the horizontal axis and the number of participants on the vertical axis.",
        caption=f"Sessions attended by each participant whose attendance is known.{kind}{hidden}",
    )


# --------------------------------------------------------------------------- survey


def survey_answers(chapter, items: pd.DataFrame, answers: pd.DataFrame):
    """Return stacked bars of the share of respondents giving each answer, per item (and group)."""
    import matplotlib.pyplot as plt

    if items.empty:
        return chapter.not_applicable("this stage asked no survey questions.")
    comparison = chapter.descriptor.comparison
    people = chapter.study.participants.set_index("participant_id")
    answers = answers.assign(
        group=answers["participant_id"].map(people[comparison.name])
        if comparison
        else "All respondents"
    )
    groups = [
        g
        for g in (comparison.values if comparison else ["All respondents"])
        if (answers["group"] == g).any()
    ]
    fig, axes = plt.subplots(
        1,
        len(groups),
        sharey=True,
        figsize=(4.6 * len(groups) + 2, 0.5 * len(items) + 2),
        layout="constrained",
        squeeze=False,
    )
    ordered = items.sort_values("position")
    labels = [_wrap(t, 40) for t in ordered["text"]]
    scale_values: list[Any] = []
    for item in ordered.itertuples():
        for v in chapter.descriptor.scale(item.scale_id).values:
            if v not in scale_values:
                scale_values.append(v)
    colours = plt.get_cmap("RdYlBu")(
        [i / max(len(scale_values) - 1, 1) for i in range(len(scale_values))]
    )
    for ax, group in zip(axes[0], groups, strict=True):
        own = answers[answers["group"] == group]
        left = [0.0] * len(ordered)
        # Each item's answers add up to its respondents: hide as the survey table does.
        hidden = {}
        for item in ordered.itertuples():
            given = own[(own["item_id"] == item.item_id) & own["response"].notna()]
            counts = [int((given["response"] == value).sum()) for value in scale_values]
            hidden[item.item_id] = (given, counts, cells_to_hide(counts, chapter.threshold))
        for j, (colour, value) in enumerate(zip(colours, scale_values, strict=True)):
            shares = []
            for item in ordered.itertuples():
                given, counts, hide = hidden[item.item_id]
                shares.append(0 if j in hide or given.empty else 100 * counts[j] / len(given))
            ax.barh(labels, shares, left=left, color=colour, edgecolor="white", label=value)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of respondents")
        ax.set_title(str(group))
        ax.invert_yaxis() if ax is axes[0][0] else None
    axes[0][-1].legend(title="Answer", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    split = f", separately for each {comparison.label.lower()} group" if comparison else ""
    return AccessibleFigure(
        fig,
        alt=f"Stacked horizontal bars, one per survey item{split}, divided by the share of respondents giving each answer from the first to the last point of the scale.",
        caption=f"Share of respondents giving each answer to each item{split}.",
    )


# --------------------------------------------------------------------------- review


def concept_programmes(chapter, per_concept: pd.Series):
    """Return a bar chart of how many reviewed programmes hold each concept."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    study = chapter.study
    if per_concept.empty or not study.has("programmes"):
        return chapter.not_applicable("the package holds no evidence review (review module).")
    concepts = study.concepts.sort_values("position")
    total = len(study.programmes)
    frame = pd.DataFrame(
        {
            "concept": [_wrap(c, 28) for c in concepts["name"]],
            "programmes": per_concept.reindex(concepts["concept_id"], fill_value=0).to_numpy(),
        }
    )
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(frame) + 1.4), layout="constrained")
    sns.barplot(data=frame, y="concept", x="programmes", color=sns.color_palette(PALETTE)[0], ax=ax)
    ax.set_xlim(0, total)
    ax.set_xlabel(f"Reviewed programmes holding the concept (of {total})")
    ax.set_ylabel("Concept")
    ax.set_title("Concepts in the reviewed programmes")
    return AccessibleFigure(
        fig,
        alt="Horizontal bar chart: one bar per intervention concept, its length the number of reviewed programmes that contain it.",
        caption="How many of the reviewed programmes contain each concept.",
    )
