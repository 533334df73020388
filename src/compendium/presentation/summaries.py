"""Per-stage summaries: theme tables (Additional files 2-7), breakdowns, findings and Figure 1 data.

A theme summary lists every code of an analysis in codebook order with its NVivo counts
(:func:`compendium.analysis.themes.code_counts`), says whether each count is one the paper
published, and gives one illustrative excerpt: the paper's own quotation where the
``quotes`` table holds one for that code, attributed by label and location, otherwise one
of the package's synthetic excerpts, labelled as synthetic.

A count is *published* only when a row of ``published_figures`` regenerates it with an
expression; every other count comes from the synthetic package.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from compendium.analysis import reproduction
from compendium.analysis.disclosure import is_small, small_cell_threshold
from compendium.analysis.expressions import Call, code_count_target, parse_expression
from compendium.analysis.themes import ancestor_pairs, code_counts
from compendium.contract.loading import Study
from compendium.presentation.links import anchor, decision_href

PUBLISHED = "published"
SYNTHETIC = "synthetic"
PUBLISHED_NAME = ("seen", "seed", "inferred")


def style_table(frame: pd.DataFrame, uuid: str, caption: str, hide_index: bool = True):
    """Return a Styler with a stable id, a caption and (by default) no index column.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to show.
    uuid : str
        Stable id, so the HTML is the same on every build; characters other than letters,
        digits, ``_`` and ``-`` become ``-``.
    caption : str
        Caption shown above the table.
    hide_index : bool
        Hide the row index (the default) when it carries no information.
    """
    # Styler ids become CSS selectors, where "." would start a class name.
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", uuid)
    styler = frame.style.set_uuid(safe).set_caption(html.escape(caption))
    styler = styler.format(na_rep="–", escape="html")
    return styler.hide(axis="index") if hide_index else styler


def activity_label(study: Study, activity_id: str) -> str:
    """Return an activity's label, e.g. ``"CRT service-user interviews"``."""
    labels = study.activities.set_index("activity_id")["label"]
    if activity_id not in labels.index:
        raise ValueError(f"activities.csv: no activity {activity_id!r}")
    return str(labels[activity_id])


def published_calls(published_figures: pd.DataFrame) -> dict[Call, str]:
    """Return each published figure's parsed expression, mapped to its figure id."""
    return {
        parse_expression(e): f
        for e, f in zip(
            published_figures["expression"], published_figures["figure_id"], strict=True
        )
    }


def is_published(study: Study, expression: str) -> bool:
    """Return whether the count ``expression`` (e.g. ``"sources('A2-1')"``) is one the paper published."""
    return parse_expression(expression) in published_calls(study.published_figures)


def published_code_counts(published_figures: pd.DataFrame) -> set[tuple[str, str]]:
    """Return the ``(kind, code_id)`` pairs whose count the paper published.

    ``kind`` is ``"sources"`` or ``"references"``.
    """
    targets = (code_count_target(call) for call in published_calls(published_figures))
    return {t for t in targets if t is not None}


def count_status(code_id: str, published: set[tuple[str, str]]) -> str:
    """Return which of a code's counts are published: both, one of them, or ``"synthetic"``."""
    kinds = [k for k in ("sources", "references") if (k, code_id) in published]
    if len(kinds) == 2:
        return PUBLISHED
    if kinds:
        return f"{kinds[0]} {PUBLISHED}"
    return SYNTHETIC


def quote_attribution(quote: pd.Series) -> str:
    """Return how a published quote is attributed: speaker label (if given), location, source."""
    speaker = quote["label"] if isinstance(quote["label"], str) else "speaker not labelled"
    return f"{speaker}; {quote['location']}; {quote['source']}"


def code_excerpts(study: Study, activity_id: str) -> pd.DataFrame:
    """Return one illustrative excerpt per code of an analysis.

    The paper's quote for the code comes first (lowest ``quote_id``); a code without one
    gets the first synthetic segment coded at it, or else beneath it.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``code_id``; columns ``excerpt``, ``attribution`` and ``excerpt_kind``
        (``"published quote"`` or ``"synthetic excerpt"``). Codes with no coding and no
        quote are absent.
    """
    codes = study.codes[study.codes["activity_id"] == activity_id]
    quotes = study.quotes.sort_values("quote_id").drop_duplicates("code_id")
    quotes = quotes[quotes["code_id"].isin(codes["code_id"])].set_index("code_id")
    segments = study.segments.set_index("segment_id")
    codings = study.codings[study.codings["code_id"].isin(codes["code_id"])]
    pairs = codings.merge(ancestor_pairs(codes), on="code_id")
    # Prefer a segment coded at the code itself, then the first in coding order (a stable
    # sort on one boolean: sorting on the string ids cost a second at 10^6 segments).
    indirect = (pairs["code_id"] != pairs["ancestor_id"]).to_numpy()
    pairs = pairs.iloc[np.argsort(indirect, kind="stable")]
    first = pairs.drop_duplicates("ancestor_id").set_index("ancestor_id")["segment_id"]
    rows = {}
    for code_id in codes["code_id"]:
        if code_id in quotes.index:
            q = quotes.loc[code_id]
            rows[code_id] = (q["text"], quote_attribution(q), "published quote")
        elif code_id in first.index:
            seg = segments.loc[first[code_id]]
            who = seg["group_id"] if isinstance(seg["group_id"], str) else seg["participant_id"]
            kind = "synthetic excerpt" if bool(seg["synthetic"]) else "excerpt"
            rows[code_id] = (seg["excerpt"], f"{kind}, {who}", kind)
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["excerpt", "attribution", "excerpt_kind"]
    )
    frame.index.name = "code_id"
    return frame


def code_depth(codes: pd.DataFrame) -> pd.Series:
    """Return each code's depth: 0 for a main theme, 1 for its subthemes, and so on."""
    return ancestor_pairs(codes).groupby("code_id", sort=False).size().sub(1).rename("depth")


def theme_summary(study: Study, activity_id: str, max_depth: int | None = None) -> pd.DataFrame:
    """Return an analysis' themes and subthemes with counts, their status and an excerpt.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    activity_id : str
        The analysis, e.g. ``"A2-INT"``.
    max_depth : int, optional
        Keep codes up to this depth (0 = main themes only); all by default.

    Returns
    -------
    pandas.DataFrame
        One row per code in codebook order: ``code_id``, ``parent_id``, ``depth``, ``theme``,
        ``name_status`` (``published`` or ``synthetic``), ``sources``, ``references``
        (NVivo union at parents), ``counts`` (see :func:`count_status`), ``excerpt``,
        ``attribution`` and ``excerpt_kind``.
    """
    all_codes = study.codes
    codes = all_codes[all_codes["activity_id"] == activity_id]
    if codes.empty:
        raise ValueError(f"codes.csv: no codes for analysis {activity_id!r}")
    # Count only this analysis' codings and the segments they code.
    codings = study.codings[study.codings["code_id"].isin(codes["code_id"])]
    segments = study.segments[study.segments["segment_id"].isin(codings["segment_id"])]
    counts = code_counts(codes, segments, codings)
    published = published_code_counts(study.published_figures)
    depth = code_depth(codes)
    summary = pd.DataFrame(
        {
            "code_id": codes["code_id"].to_numpy(),
            "parent_id": codes["parent_id"].to_numpy(),
            "depth": depth.reindex(codes["code_id"]).to_numpy(),
            "theme": codes["name"].to_numpy(),
            "name_status": [
                PUBLISHED if s in PUBLISHED_NAME else SYNTHETIC for s in codes["name_status"]
            ],
        }
    )
    summary = summary.join(counts, on="code_id")
    summary["counts"] = [count_status(c, published) for c in summary["code_id"]]
    summary = summary.join(code_excerpts(study, activity_id), on="code_id")
    if max_depth is not None:
        summary = summary[summary["depth"] <= max_depth]
    return summary.reset_index(drop=True)


def shown_counts(counts: pd.Series, threshold: int) -> pd.Series:
    """Return source counts for display, with small cells (people) replaced by ``"<threshold"``."""
    if not any(is_small(n, threshold) for n in counts):
        return counts
    return counts.map(lambda n: f"<{threshold}" if is_small(n, threshold) else n)


def theme_summary_styler(summary: pd.DataFrame, uuid: str, caption: str):
    """Return a Styler for :func:`theme_summary`: indented subthemes, status and excerpt columns."""
    shown = pd.DataFrame(
        {
            "Code": summary["code_id"],
            "Theme": summary["theme"],
            "Name": summary["name_status"],
            "Sources": shown_counts(summary["sources"], small_cell_threshold()),
            "References": summary["references"],
            "Counts": summary["counts"],
            "Illustrative excerpt": summary["excerpt"].fillna("–"),
            "Excerpt from": summary["attribution"].fillna("–"),
        }
    )
    indent = [f"padding-left: {0.3 + 1.2 * d}em" for d in summary["depth"]]
    bold = ["font-weight: bold" if d == 0 else "" for d in summary["depth"]]
    styler = style_table(shown, uuid, caption)
    styler = styler.apply(
        lambda _: [f"{i}; {b}" for i, b in zip(indent, bold, strict=True)], subset=["Theme"]
    )
    styler = styler.set_properties(subset=["Code"], **{"white-space": "nowrap"})
    styler = styler.set_properties(subset=["Illustrative excerpt"], **{"min-width": "22em"})
    return styler.apply(
        lambda col: ["font-style: italic" if s == SYNTHETIC else "" for s in col],
        subset=["Counts", "Name"],
    )


def code_breakdown(
    study: Study, parent_id: str, percent_of: str | None = None, rounding: str = "half_up"
) -> pd.DataFrame:
    """Return a code's children and the code itself (as the last row) with their counts.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    parent_id : str
        The code to break down, e.g. ``"A2-1.1"``.
    percent_of : str, optional
        A measure expression for the denominator, e.g.
        ``"participants('A4-INT', status='interviewed')"``; when given, ``percent`` holds
        each row's sources as a whole percentage of it.
    rounding : str
        ``"half_up"`` or ``"floor"``, as the paper rounded that table.

    Returns
    -------
    pandas.DataFrame
        Columns ``code_id``, ``code``, ``sources``, ``references``, ``counts`` (published
        or synthetic) and optionally ``percent``. The parent's counts are the union of its
        children's, so they can be smaller than the children's sum.
    """
    codes = study.codes
    activity = codes.loc[codes["code_id"] == parent_id, "activity_id"]
    if activity.empty:
        raise ValueError(f"codes.csv: no code {parent_id!r}")
    summary = theme_summary(study, activity.iloc[0]).set_index("code_id")
    children = codes.loc[codes["parent_id"] == parent_id, "code_id"].tolist()
    rows = summary.loc[children + [parent_id], ["theme", "sources", "references", "counts"]]
    rows = rows.rename(columns={"theme": "code"}).reset_index()
    if percent_of is not None:
        rows["percent"] = [
            int(reproduction.measure(study, f"percent(sources({c!r}), {percent_of}, {rounding!r})"))
            for c in rows["code_id"]
        ]
    return rows


def theme_sources_by(
    study: Study, activity_id: str, column: str = "stakeholder_type"
) -> pd.DataFrame:
    """Return, per main theme, how many sources of each kind (a focus-group column) spoke to it.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    activity_id : str
        A focus-group analysis, e.g. ``"A3-FG"``.
    column : str
        The ``focus_groups`` column that splits the groups (default: stakeholder type).

    Returns
    -------
    pandas.DataFrame
        Main themes (rows, codebook order, indexed by theme name) by values of ``column``
        (columns, schema order): NVivo sources among that kind of group only.
    """
    codes = study.codes[study.codes["activity_id"] == activity_id]
    groups = study.focus_groups[study.focus_groups["activity_id"] == activity_id]
    segments = study.segments
    kinds = [k for k in groups[column].drop_duplicates()]
    main = codes[codes["parent_id"].isna()]
    table = {}
    for kind in kinds:
        own = segments[segments["group_id"].isin(groups.loc[groups[column] == kind, "group_id"])]
        own_codings = study.codings[study.codings["segment_id"].isin(own["segment_id"])]
        counts = code_counts(study.codes, own, own_codings)
        table[kind.replace("_", " ").capitalize()] = counts.loc[
            main["code_id"], "sources"
        ].to_numpy()
    return pd.DataFrame(table, index=pd.Index(main["name"].to_numpy(), name="theme"))


def concept_endorsement(study: Study, activity_id: str) -> pd.DataFrame:
    """Return, for each intervention concept, the analysis' codes that speak to it and their sources.

    Returns
    -------
    pandas.DataFrame
        Columns ``concept``, ``code_id``, ``code``, ``sources``, ``counts``; concepts in
        their order, codes in codebook order.
    """
    concepts = study.concepts.sort_values("position")
    summary = theme_summary(study, activity_id).set_index("code_id")
    links = study.concept_codes[study.concept_codes["code_id"].isin(summary.index)]
    rows = []
    for concept in concepts.itertuples():
        for code_id in links.loc[links["concept_id"] == concept.concept_id, "code_id"]:
            s = summary.loc[code_id]
            status = PUBLISHED if s["counts"] in (PUBLISHED, f"sources {PUBLISHED}") else SYNTHETIC
            rows.append((concept.name, code_id, s["theme"], int(s["sources"]), status))
    return pd.DataFrame(rows, columns=["concept", "code_id", "code", "sources", "counts"])


def programme_concept_matrix(study: Study) -> pd.DataFrame:
    """Return which concepts each reviewed programme contains.

    Returns
    -------
    pandas.DataFrame
        One row per programme (``programme``, ``facilitator``), one boolean column per
        concept (named by the concept), in concept order.
    """
    concepts = study.concepts.sort_values("position")
    links = study.programme_concepts.assign(present=True)
    wide = links.pivot_table(
        index="programme_id",
        columns="concept_id",
        values="present",
        aggfunc="any",
        fill_value=False,
    )
    wide = wide.reindex(
        index=study.programmes["programme_id"], columns=concepts["concept_id"], fill_value=False
    ).astype(bool)
    wide.columns = concepts["name"].tolist()
    programmes = study.programmes.set_index("programme_id")
    front = pd.DataFrame(
        {"programme": programmes["label"], "facilitator": programmes["facilitator"]}
    )
    return front.join(wide).reset_index(drop=True)


def concept_programme_counts(study: Study) -> pd.DataFrame:
    """Return, per concept, how many reviewed programmes contain it and whether the paper published that count.

    Returns
    -------
    pandas.DataFrame
        Columns ``concept_id``, ``concept``, ``programmes``, ``of``, ``counts``, in concept
        order.
    """
    concepts = study.concepts.sort_values("position")
    links = study.programme_concepts
    total = len(study.programmes)
    return pd.DataFrame(
        {
            "concept_id": concepts["concept_id"].to_numpy(),
            "concept": concepts["name"].to_numpy(),
            "programmes": [int((links["concept_id"] == c).sum()) for c in concepts["concept_id"]],
            "of": total,
            "counts": [
                PUBLISHED if is_published(study, f"programmes({c!r})") else SYNTHETIC
                for c in concepts["concept_id"]
            ],
        }
    )


def matrix_styler(matrix: pd.DataFrame, uuid: str, caption: str):
    """Return a Styler showing a programme × concept matrix with ticks and blanks."""
    concept_columns = [c for c in matrix.columns if matrix[c].dtype == bool]
    styler = style_table(matrix, uuid, caption)
    return styler.format(lambda v: "✓" if v else "", subset=concept_columns)


def group_crosstab(study: Study, activity_id: str) -> pd.DataFrame:
    """Return the number of focus groups per stakeholder type (rows) and site (columns), with totals."""
    groups = study.focus_groups[study.focus_groups["activity_id"] == activity_id]
    sites = study.sites.set_index("site_id")["label"]
    table = pd.crosstab(
        groups["stakeholder_type"].str.replace("_", " ").str.capitalize(),
        groups["site_id"].map(sites),
        margins=True,
        margins_name="Total",
    )
    table.index.name = "Stakeholder type"
    table.columns.name = "Site"
    return table


def stage_findings(study: Study, stage: int) -> pd.DataFrame:
    """Return a stage's findings in order, each with the decisions it informed.

    Returns
    -------
    pandas.DataFrame
        The ``findings`` rows of the stage plus ``decisions``: a list of
        ``(decision_id, decision)`` pairs, in decision order.
    """
    findings = study.findings[study.findings["stage"] == stage].sort_values("position")
    decisions = study.decisions.set_index("decision_id")["decision"]
    trace = study.trace.sort_values("decision_id")
    linked = {
        f: [(d, decisions[d]) for d in group["decision_id"]]
        for f, group in trace.groupby("finding_id", sort=False)
    }
    findings = findings.copy()
    findings["decisions"] = [linked.get(f, []) for f in findings["finding_id"]]
    return findings.reset_index(drop=True)


def findings_html(study: Study, stage: int) -> str:
    """Return a stage's key findings as an HTML list with anchors and links to decisions.

    Each item has the id :func:`compendium.presentation.links.anchor` ``("finding", id)``, says whether
    the wording is the paper's (``source``) or this project's paraphrase, and links every
    decision it informed to the trace page; a finding not acted on gives its reason.
    """
    items = []
    for f in stage_findings(study, stage).itertuples():
        wording = "our paraphrase" if f.source == "paraphrase" else f"wording from {f.source}"
        body = f"<strong>{html.escape(f.finding_id)}</strong> {html.escape(f.statement)} <em>({html.escape(wording)})</em>"
        if f.decisions:
            links = "; ".join(
                f'<a href="{decision_href(d)}">{html.escape(d)}</a>: {html.escape(text)}'
                for d, text in f.decisions
            )
            body += f"<br>Informed: {links}"
        if not bool(f.acted_on):
            reason = f.reason if isinstance(f.reason, str) else "no reason recorded"
            body += f"<br>Not acted on: {html.escape(reason)}"
        items.append(f'<li id="{anchor("finding", f.finding_id)}">{body}</li>')
    return f'<ul class="findings">{"".join(items)}</ul>'


def stage_decisions(study: Study) -> pd.DataFrame:
    """Return each stage with its summary decisions, for a Figure-1-style diagram.

    Returns
    -------
    pandas.DataFrame
        One row per stage in order: ``stage``, ``name``, ``label``, ``mrc_phase`` and
        ``decisions`` (a list of summary decision texts).
    """
    decisions = study.decisions[study.decisions["level"] == "summary"].sort_values("decision_id")
    stages = study.stages.sort_values("stage")
    return pd.DataFrame(
        {
            "stage": stages["stage"].astype(int).to_numpy(),
            "name": stages["name"].to_numpy(),
            "label": stages["table1_label"].to_numpy(),
            "mrc_phase": stages["mrc_phase"].to_numpy(),
            "decisions": [
                decisions.loc[decisions["stage"] == s, "decision"].tolist() for s in stages["stage"]
            ],
        }
    )


def theme_table(study: Study, activity_id: str, max_depth: int | None = None):
    """Return the styled theme summary of an analysis (an Additional file 2-7 equivalent).

    The HTML id is stable (``themes-<activity>``); the caption names the analysis and
    explains the status columns.
    """
    caption = (
        f"{activity_label(study, activity_id)}: themes and subthemes with NVivo sources and "
        "references (a parent counts the union of what lies beneath it). 'Name' and 'Counts' "
        "say whether the paper published the value; synthetic values are in italics. The "
        "excerpt is the paper's quotation where it gives one, otherwise a synthetic excerpt."
    )
    return theme_summary_styler(
        theme_summary(study, activity_id, max_depth), f"themes-{activity_id}", caption
    )


def breakdown_table(
    study: Study, parent_id: str, percent_of: str | None = None, rounding: str = "half_up"
):
    """Return :func:`code_breakdown` styled, the parent's row last and in bold."""
    rows = code_breakdown(study, parent_id, percent_of, rounding)
    parent = rows["code"].iloc[-1]
    caption = (
        f"'{parent}' and the codes beneath it: sources and references. The last row is the "
        "parent itself, counting each person or segment once."
    )
    shown = rows.drop(columns="code_id").rename(columns=str.capitalize)
    last = len(shown) - 1
    styler = style_table(shown, f"breakdown-{parent_id}", caption)
    return styler.apply(
        lambda r: ["font-weight: bold" if r.name == last else "" for _ in r], axis=1
    )


def stage_overview(study: Study) -> pd.DataFrame:
    """Return one row per stage: its name, MRC phase, method and the data it collected.

    Returns
    -------
    pandas.DataFrame
        Columns ``Stage``, ``Name``, ``MRC phase``, ``Method`` and ``Data collected`` (each
        activity's label with its reported sample size and unit, where the paper gives one).
    """
    activities = study.activities
    collected = []
    for stage in study.stages["stage"]:
        own = activities[activities["stage"] == stage]
        parts = [
            f"{a.label} ({int(a.reported_n)} {a.unit})" if not pd.isna(a.reported_n) else a.label
            for a in own.itertuples()
        ]
        collected.append("; ".join(parts))
    return pd.DataFrame(
        {
            "Stage": study.stages["stage"].astype(int).to_numpy(),
            "Name": study.stages["name"].to_numpy(),
            "MRC phase": study.stages["mrc_phase"].to_numpy(),
            "Method": study.stages["method"].to_numpy(),
            "Data collected": collected,
        }
    )


def review_conclusions_html(study: Study) -> str:
    """Return the evidence reviews' published conclusions per concept as attributed quotations.

    Concepts whose ``stage1_statement`` is empty are left out.
    """
    concepts = study.concepts.sort_values("position")
    source = study.quotes["source"].dropna().iloc[0] if len(study.quotes) else "the paper"
    blocks = [
        f'<blockquote id="{anchor("review", c.concept_id)}"><p>{html.escape(c.stage1_statement)}</p>'
        f"<footer>Stage 1 evidence on {html.escape(c.name.lower())}: Table 2 of "
        f"{html.escape(source)}</footer></blockquote>"
        for c in concepts.itertuples()
        if isinstance(c.stage1_statement, str)
    ]
    return "".join(blocks)


def breakdown_values(rows: pd.DataFrame) -> dict[str, int]:
    """Return the numbers of a :func:`code_breakdown` that prose may cite, as a flat dict.

    Keys are ``<code_id>_<column>`` for every count (and percentage), plus
    ``children_sources`` / ``children_references`` (the sum over the child rows) and
    ``overlap_sources`` / ``overlap_references`` (how much larger that sum is than the
    parent's own, NVivo-style union count).
    """
    values = {}
    columns = [c for c in ("sources", "references", "percent") if c in rows.columns]
    for row in rows.itertuples(index=False):
        for column in columns:
            values[f"{row.code_id}_{column}"] = int(getattr(row, column))
    children, parent = rows.iloc[:-1], rows.iloc[-1]
    for column in ("sources", "references"):
        values[f"children_{column}"] = int(children[column].sum())
        values[f"overlap_{column}"] = int(children[column].sum() - parent[column])
    return values


def glue_values(prefix: str, values: dict) -> None:
    """Glue each value for use in a chapter's prose as ``{glue:text}`<prefix>_<key>```."""
    from myst_nb import glue

    for key, value in values.items():
        glue(f"{prefix}_{key}", value, display=False)


def attendance_pattern_table(study: Study, activity_id: str) -> pd.DataFrame:
    """Return how many of a trial's participants gave each attendance pattern, and if it was published.

    Counts are evaluated with the same measure expressions as the published figures
    (``participants('<activity>', attendance_pattern='<pattern>')``).

    Returns
    -------
    pandas.DataFrame
        Columns ``attendance pattern``, ``participants`` and ``counts`` (published or
        synthetic), most common pattern first.
    """
    people = study.participants
    patterns = people.loc[people["activity_id"] == activity_id, "attendance_pattern"].dropna()
    rows = []
    for pattern in patterns.value_counts().index:
        expression = f"participants({activity_id!r}, attendance_pattern={pattern!r})"
        status = PUBLISHED if is_published(study, expression) else SYNTHETIC
        rows.append((pattern, int(reproduction.measure(study, expression)), status))
    return pd.DataFrame(rows, columns=["attendance pattern", "participants", "counts"])
