"""The sections of a stage chapter: tables and notes made from what the package holds.

Each function takes the :class:`~compendium.presentation.chapter.Chapter` (and, where the
chapter computed it in view of the reader, a table) and returns something to ``show``: a
styled table, an HTML fragment, or a not-applicable note when the package holds no data for the
section. Counts of people come from the typed measures, so they carry their origin (published
or not) and pass through disclosure control here, in one place.
"""

from __future__ import annotations

import pandas as pd

from compendium.analysis import trial as trial_analysis
from compendium.analysis.characteristics import characteristics_table
from compendium.analysis.disclosure import cells_to_hide, is_small, marker
from compendium.analysis.themes import analysis_codes, code_depth
from compendium.presentation.html import fragment
from compendium.presentation.links import anchor, decision_href
from compendium.presentation.origin import legend, marked, wording_note
from compendium.presentation.tables import (
    LONG_TABLE_ROWS,
    element_id,
    grouped_table,
    sortable_table,
    style_table,
    styled_table,
    with_class,
)

# --------------------------------------------------------------------------- activities


def activities_table(chapter):
    """Return the stage's activities: method, what was collected, and the reported n."""
    activities = chapter.activities
    if activities.empty:
        return chapter.not_applicable("the package lists no activity for this stage.")
    methods = {m.id: m.label for m in chapter.descriptor.methods}
    rows = []
    for a in activities.itertuples():
        reported = (
            "not reported"
            if pd.isna(a.reported_n)
            else f"{int(a.reported_n)} {a.unit} ({a.n_origin})"
        )
        rows.append((a.label, methods[a.method], reported))
    frame = pd.DataFrame(rows, columns=["Activity", "Method", "Sample size reported"])
    return style_table(
        frame,
        f"activities-{chapter.page}",
        "What this stage collected, with the sample size the study reports for each activity.",
        counts=True,
    )


# --------------------------------------------------------------------------- participants


def characteristics(chapter, sample: pd.DataFrame, by: str = "role"):
    """Return the characteristics table of ``sample`` split by ``by``, with its caption."""
    if sample.empty:
        return chapter.not_applicable("no participant of this stage contributed data.")
    table = characteristics_table(sample, chapter.descriptor, by, chapter.threshold)
    if table.empty:
        return chapter.not_applicable("the study records no characteristic of its participants.")
    kind = "synthetic" if chapter.study.synthetic else "from the package"
    rule = (
        f"counts from 1 to {chapter.threshold - 1}, and any count they could be worked out from, are shown as {marker(chapter.threshold)}"
        if chapter.threshold > 1
        else f"no count is suppressed (small-cell threshold {chapter.threshold})"
    )
    labels = "; ".join(chapter.label(a) for a in chapter.activity_ids)
    notes = [
        f"All values are {kind}.",
        "– means not recorded for that group.",
        rule[0].upper() + rule[1:] + ".",
    ]

    def shown(value: object, percent: bool) -> str:
        if isinstance(value, str):
            return value
        if pd.isna(value):
            return "–"
        return f"{value:.0f}" if percent else f"{int(value)}"

    cells = pd.DataFrame(
        {column: [shown(v, column[1] == "%") for v in table[column]] for column in table.columns},
        index=table.index,
    )
    return grouped_table(
        cells,
        f"characteristics-{chapter.page}-{by}",
        f"Participants of {labels}: n and % of each group",
        notes,
    )


def group_table(chapter, by_role_and_site: pd.DataFrame):
    """Return the groups-by-role-and-site crosstab with declared labels."""
    if by_role_and_site.empty or by_role_and_site.loc["All", "All"] == 0:
        return chapter.not_applicable("this stage ran no focus groups.")
    d = chapter.descriptor
    sites = {s.id: s.label for s in d.sites}
    roles = {r.id: r.label for r in d.roles}
    table = by_role_and_site.rename(index=roles, columns=sites)
    table.index.name, table.columns.name = "Who took part", "Site"
    return style_table(
        table,
        f"groups-{chapter.page}",
        "Focus groups by who took part and by site, with totals.",
        hide_index=False,
        counts=True,
    )


# --------------------------------------------------------------------------- themes


def _hidden_counts(
    sources: list[int], references: list[int], threshold: int
) -> tuple[list[str], list[str]]:
    """Return sources and references as shown: small sources hidden, and references that would reveal them."""
    shown_sources, shown_references = [], []
    for s, r in zip(sources, references, strict=True):
        hide = is_small(s, threshold)
        shown_sources.append(marker(threshold) if hide else str(s))
        # One reference pins its source count to one: hide small references of hidden sources.
        shown_references.append(marker(threshold) if hide and r < threshold else str(r))
    return shown_sources, shown_references


def theme_table(chapter, themes: pd.DataFrame, analysis: str):
    """Return an analysis' codebook with its counts, indented by depth, and their origins.

    Parameters
    ----------
    chapter
        The chapter.
    themes
        The analysis' ``codes`` joined to :func:`compendium.analysis.themes.code_counts`.
    analysis
        The activity id.
    """
    ordered = analysis_codes(themes, analysis)
    depth = code_depth(ordered).reindex(ordered["code_id"]).to_numpy()
    m = chapter.measures
    sources = [m.sources(c) for c in ordered["code_id"]]
    references = [m.references(c) for c in ordered["code_id"]]
    shown_s, shown_r = _hidden_counts(
        [int(s) for s in sources], [int(r) for r in references], chapter.threshold
    )
    frame = pd.DataFrame(
        {
            "Code": ordered["code_id"].to_numpy(),
            "Theme": ordered["name"].to_numpy(),
            "Sources": [marked(chapter.study, v, s) for v, s in zip(sources, shown_s, strict=True)],
            "References": [
                marked(chapter.study, v, s) for v, s in zip(references, shown_r, strict=True)
            ],
            "Name's wording": ordered["name_wording"].map(wording_note).to_numpy(),
        }
    )
    method = chapter.descriptor.method(
        chapter.activities.set_index("activity_id").at[analysis, "method"]
    )
    unit = "groups" if method.group_sources else "people"
    caption = (
        f"{chapter.label(analysis)}: themes and the codes beneath them, with sources ({unit} "
        "coded there or beneath) and references (coded passages); a parent counts each once."
        + legend(chapter.study, sources + references)
    )
    styler = style_table(frame, f"themes-{analysis}", caption, counts=True)
    indent = [
        f"padding-left: {0.3 + 1.2 * d}em; {'font-weight: bold' if d == 0 else ''}" for d in depth
    ]
    styler = styler.apply(lambda _: indent, subset=["Theme"])
    styler = styler.set_properties(subset=["Code"], **{"white-space": "nowrap"})
    # A long codebook is a reference too: a reader can sort it by its counts or filter it.
    return sortable_table(styler) if len(frame) > LONG_TABLE_ROWS else styler


def theme_quotes(chapter, analysis: str):
    """Return one illustration per main theme: the paper's quotation, else a synthetic excerpt.

    A published quotation is attributed by speaker label, location and citation; a newly
    written excerpt says it is synthetic.
    """
    study = chapter.study
    codes = analysis_codes(study.codes, analysis)
    main = codes[codes["parent_id"].isna()]
    from compendium.analysis.themes import main_theme_of

    top = main_theme_of(codes)
    quotes = study.quotes if study.has("quotes") else None
    codings = study.codings[study.codings["code_id"].isin(codes["code_id"])]
    coded = codings.assign(main=codings["code_id"].map(top)).drop_duplicates("main")
    segments = study.segments.set_index("segment_id")
    blocks = []
    for theme in main.itertuples():
        quote = None
        if quotes is not None:
            own = quotes[quotes["code_id"].map(top) == theme.code_id].sort_values("quote_id")
            quote = own.iloc[0] if len(own) else None
        if quote is not None:
            citation = chapter.descriptor.citation(quote["citation_id"])
            speaker = (
                quote["label"]
                if isinstance(quote["label"], str)
                else f"speaker not named ({quote['label_note']})"
            )
            blocks.append(
                {
                    "theme": theme.name,
                    "text": quote["text"],
                    "kind": "published-quote",
                    "attribution": f"Quotation, verbatim: {speaker}; {quote['location']}; {citation.short}",
                }
            )
            continue
        first = coded.loc[coded["main"] == theme.code_id, "segment_id"]
        if first.empty:
            continue
        segment = segments.loc[first.iloc[0]]
        kind = "synthetic excerpt, newly written" if bool(segment["synthetic"]) else "excerpt"
        source = (
            segment["group_id"]
            if isinstance(segment["group_id"], str)
            else segment["participant_id"]
        )
        blocks.append(
            {
                "theme": theme.name,
                "text": segment["excerpt"],
                "kind": "synthetic-excerpt" if bool(segment["synthetic"]) else "excerpt",
                "attribution": f"{kind.capitalize()}; source {source}",
            }
        )
    if not blocks:
        return chapter.not_applicable("no passage of this analysis is coded.")
    return fragment("quotes.html", blocks=blocks)


def themes_by_comparison(chapter, analysis: str, comparison):
    """Return each main theme's sources within each comparison group (people only)."""
    if comparison is None:
        return chapter.not_applicable("the study declares no comparison group.")
    from compendium.analysis.themes import sources_by

    study = chapter.study
    method = chapter.descriptor.method(
        chapter.activities.set_index("activity_id").at[analysis, "method"]
    )
    if method.group_sources:
        return chapter.not_applicable(
            f"{chapter.label(analysis)} has groups, not people, as sources."
        )
    codes = analysis_codes(study.codes, analysis)
    people = study.participants.set_index("participant_id")[comparison.name]
    groups = people.astype(pd.CategoricalDtype(list(comparison.values or ["true", "false"])))
    table = sources_by(codes, study.segments, study.codings, groups)
    main = codes[codes["parent_id"].isna()]
    sizes = (
        study.participants[study.participants["activity_id"] == analysis]
        .groupby(comparison.name)
        .size()
    )
    shown = pd.DataFrame(index=main["name"].to_numpy())
    for group in table.columns:
        counts = table.loc[main["code_id"], group].to_numpy()
        shown[f"{group} (n = {int(sizes.get(group, 0))})"] = [
            marker(chapter.threshold) if is_small(c, chapter.threshold) else int(c) for c in counts
        ]
    shown.index.name = "Main theme"
    caption = f"{chapter.label(analysis)}: sources of each main theme within each {comparison.label.lower()} group."
    return style_table(shown, f"comparison-{analysis}", caption, hide_index=False, counts=True)


# --------------------------------------------------------------------------- breakdowns


def breakdown_rows(chapter, breakdown, children: pd.DataFrame) -> pd.DataFrame:
    """Return a code's children and the code itself (last) with their counts as measures.

    ``percent`` holds each row's sources as a whole percentage of the breakdown's
    denominator (``percent_of`` in ``study.yaml``), rounded as declared.
    """
    m = chapter.measures
    ordered = list(children.sort_values("position")["code_id"]) + [breakdown.code]
    names = chapter.study.codes.set_index("code_id")["name"]
    rows = pd.DataFrame(
        {
            "code_id": ordered,
            "code": [names[c] for c in ordered],
            # object columns keep each measured count's origin and people (an int64 column would not)
            "sources": pd.Series([m.sources(c) for c in ordered], dtype=object),
            "references": pd.Series([m.references(c) for c in ordered], dtype=object),
        }
    )
    if breakdown.percent_of:
        denominator = m.participants(**dict(breakdown.percent_of))
        rows["percent"] = pd.Series(
            [m.percent(s, denominator, breakdown.rounding) for s in rows["sources"]], dtype=object
        )
    return rows


def breakdown_table(chapter, breakdown, rows: pd.DataFrame):
    """Return :func:`breakdown_rows` styled, the parent's row last and in bold."""
    shown_s, shown_r = _hidden_counts(
        [int(s) for s in rows["sources"]], [int(r) for r in rows["references"]], chapter.threshold
    )
    study = chapter.study
    frame = pd.DataFrame(
        {
            "Code": rows["code"],
            "Sources": [marked(study, v, s) for v, s in zip(rows["sources"], shown_s, strict=True)],
            "References": [
                marked(study, v, s) for v, s in zip(rows["references"], shown_r, strict=True)
            ],
        }
    )
    values = list(rows["sources"]) + list(rows["references"])
    if "percent" in rows.columns:
        frame["% of sources"] = [
            marker(chapter.threshold) if is_small(int(s), chapter.threshold) else marked(study, p)
            for s, p in zip(rows["sources"], rows["percent"], strict=True)
        ]
        values += list(rows["percent"])
    parent = rows["code"].iloc[-1]
    denominator = ""
    if breakdown.percent_of:
        filters = dict(breakdown.percent_of)
        denominator = f" Percentages are of {int(chapter.measures.participants(**filters))} participants ({chapter.label(filters['activity'])}), rounded {'down' if breakdown.rounding == 'floor' else 'half up'}."
    caption = (
        f"'{parent}' and the codes beneath it. The last row is the code itself, counting each "
        f"person and passage once.{denominator}{legend(study, values)}"
    )
    last = len(frame) - 1
    styler = style_table(frame, f"breakdown-{breakdown.code}", caption, counts=True)
    return styler.apply(
        lambda r: ["font-weight: bold" if r.name == last else "" for _ in r], axis=1
    )


# --------------------------------------------------------------------------- concepts


def concept_endorsement(chapter, analysis: str):
    """Return, per intervention concept, this analysis' codes that speak to it and their sources."""
    study = chapter.study
    if not study.has("concept_codes"):
        return chapter.not_applicable(
            "the package has no intervention concepts (evidence review module)."
        )
    codes = study.codes[study.codes["activity_id"] == analysis].set_index("code_id")
    links = study.concept_codes[study.concept_codes["code_id"].isin(codes.index)]
    if links.empty:
        return chapter.not_applicable(
            f"no code of {chapter.label(analysis)} is linked to a concept."
        )
    concepts = study.concepts.sort_values("position")
    rows, values = [], []
    for concept in concepts.itertuples():
        for code in links.loc[links["concept_id"] == concept.concept_id, "code_id"]:
            sources = chapter.measures.sources(code)
            hidden = (
                marker(chapter.threshold) if is_small(int(sources), chapter.threshold) else None
            )
            rows.append((concept.name, codes.at[code, "name"], marked(study, sources, hidden)))
            values.append(sources)
    frame = pd.DataFrame(rows, columns=["Concept", "Code", "Sources"])
    caption = (
        f"Intervention concepts and the codes of {chapter.label(analysis)} that speak to them, "
        f"with their sources.{legend(study, values)}"
    )
    return style_table(frame, f"endorsement-{analysis}", caption, counts=True)


# --------------------------------------------------------------------------- findings


def findings(chapter):
    """Return the stage's findings with anchors, wording notes and links to their decisions."""
    study = chapter.study
    if not study.has("findings"):
        return chapter.not_applicable(
            "the package records no findings (findings and decisions module)."
        )
    own = study.findings[study.findings["stage_id"] == chapter.stage.id].sort_values("position")
    if own.empty:
        return chapter.not_applicable("the package records no finding for this stage.")
    decisions = study.decisions.set_index("decision_id")["decision"]
    trace = study.trace.sort_values("decision_id")
    items = []
    for f in own.itertuples():
        linked = trace.loc[trace["finding_id"] == f.finding_id, "decision_id"]
        items.append(
            {
                "id": f.finding_id,
                "anchor": anchor("finding", f.finding_id),
                "statement": f.statement,
                "wording": f.wording,
                "wording_note": wording_note(f.wording),
                "decisions": [
                    {"id": d, "href": decision_href(d), "text": decisions[d]} for d in linked
                ],
                "reason": None
                if bool(f.acted_on)
                else (f.reason if isinstance(f.reason, str) else "no reason recorded"),
            }
        )
    return fragment("findings.html", findings=items)


# --------------------------------------------------------------------------- trial


def participant_flow(chapter, trial: pd.DataFrame) -> pd.DataFrame:
    """Return the trial flow of :func:`compendium.analysis.trial.participant_flow`, counts as measures."""
    flow = trial_analysis.participant_flow(trial, chapter.descriptor)
    if trial.empty:
        return flow
    activity = sorted(trial["activity_id"].unique())
    activity = activity[0] if len(activity) == 1 else activity
    m = chapter.measures
    counts = []
    for row in flow.itertuples():
        filters = {"activity": activity}
        if row.step == "recruited":
            filters["arm"] = list(trial["arm"].dropna().unique()) or None
        if not pd.isna(row.arm):
            filters["arm"] = row.arm
        if not pd.isna(row.status):
            filters["status"] = row.status
        counts.append(m.participants(**{k: v for k, v in filters.items() if v is not None}))
    flow["participants"] = pd.Series(counts, dtype=object)  # keeps each count's origin
    return flow


def flow_table(chapter, flow: pd.DataFrame):
    """Return the trial flow as a table: each step, its count (protected) and the count's origin."""
    if flow.empty or int(flow["participants"].iloc[0]) == 0:
        return chapter.not_applicable(
            "the package records no trial allocation or attendance for this stage."
        )
    shown = []
    for step, group in flow.groupby("step", sort=False):
        hidden = cells_to_hide(
            list(group["participants"]), chapter.threshold, total_known=step != "recruited"
        )
        shown += [
            marked(chapter.study, v, marker(chapter.threshold) if i in hidden else None)
            for i, v in enumerate(group["participants"])
        ]
    frame = pd.DataFrame(
        {"Step": flow["step"].str.capitalize(), "Who": flow["label"], "Participants": shown}
    )
    caption = "Participants from recruitment to follow-up, by arm and by what happened to them."
    return style_table(
        frame,
        f"flow-{chapter.page}",
        caption + legend(chapter.study, flow["participants"]),
        counts=True,
    )


def attendance_table(chapter, patterns: pd.Series):
    """Return how many people described each attendance pattern, with each count's origin."""
    if patterns.empty:
        return chapter.not_applicable("no participant of this stage described their attendance.")
    activity = (
        chapter.rows("participants")
        .merge(chapter.rows("attendance"), on="participant_id")["activity_id"]
        .iloc[0]
    )
    m = chapter.measures
    counts = [m.participants(activity=activity, attendance_pattern=p) for p in patterns.index]
    hidden = cells_to_hide([int(c) for c in counts], chapter.threshold)
    frame = pd.DataFrame(
        {
            "Attendance, as described": list(patterns.index),
            "Participants": [
                marked(chapter.study, c, marker(chapter.threshold) if i in hidden else None)
                for i, c in enumerate(counts)
            ],
        }
    )
    caption = "Attendance as participants described it at interview."
    return style_table(
        frame, f"attendance-{chapter.page}", caption + legend(chapter.study, counts), counts=True
    )


# --------------------------------------------------------------------------- survey


def survey_table(chapter, items: pd.DataFrame, answers: pd.DataFrame):
    """Return, per item, how many respondents chose each scale value (protected counts)."""
    if items.empty:
        return chapter.not_applicable("this stage asked no survey questions.")
    from compendium.analysis.survey import item_responses

    long = item_responses(items, answers, chapter.descriptor)
    rows = []
    for _, group in long.groupby("item_id", sort=False):
        hidden = cells_to_hide(list(group["respondents"]), chapter.threshold)
        for i, r in enumerate(group.itertuples()):
            rows.append(
                (
                    r.position,
                    r.text,
                    r.response,
                    marker(chapter.threshold) if i in hidden else str(r.respondents),
                )
            )
    frame = pd.DataFrame(rows, columns=["Item", "Question", "Answer", "Respondents"]).set_index(
        ["Item", "Question", "Answer"]
    )
    wide = frame["Respondents"].unstack("Answer")
    scale_values = [v for s in chapter.descriptor.scales for v in s.values]
    wide = wide[
        [c for c in scale_values if c in wide.columns]
        + [c for c in wide.columns if c not in scale_values]
    ]
    return style_table(
        wide.fillna("–"),
        f"survey-{chapter.page}",
        "Respondents choosing each answer to each item.",
        hide_index=False,
        counts=True,
    )


# --------------------------------------------------------------------------- review


def review_matrix(chapter, links: pd.DataFrame):
    """Return the programme × concept matrix with ticks, or a note when there is no review."""
    study = chapter.study
    if links.empty or not study.has("programmes"):
        return chapter.not_applicable("the package holds no evidence review (review module).")
    from compendium.analysis.review import programme_concept_matrix

    matrix = programme_concept_matrix(study.programmes, study.concepts, links)
    concepts = [c for c in matrix.columns if matrix[c].dtype == bool]
    kind = " (synthetic stand-ins)" if study.programmes["synthetic"].all() else ""
    styler = style_table(
        matrix.rename(columns={"programme": "Programme", "facilitator": "Facilitator"}),
        f"matrix-{chapter.page}",
        f"Reviewed programmes{kind} and the concepts each contains.",
    )
    # A column per concept: their headings run upwards, so the matrix fits the column.
    styler = with_class(styler, "compendium-matrix")
    return styler.format(lambda v: "✓" if v else "", subset=concepts)


def review_conclusions(chapter):
    """Return the review's statement on each concept, attributed, with its wording."""
    study = chapter.study
    if not study.has("concepts"):
        return chapter.not_applicable("the package holds no evidence review (review module).")
    citation = chapter.descriptor.study_citation
    source = citation.short if citation else "the study"
    concepts = study.concepts.sort_values("position")
    items = [
        {
            "anchor": anchor("review", c.concept_id),
            "statement": c.review_statement,
            "name": c.name.lower(),
            "source": source,
            "wording_note": wording_note(c.statement_wording),
        }
        for c in concepts.itertuples()
        if isinstance(c.review_statement, str)
    ]
    if not items:
        return chapter.not_applicable("the study states no conclusion of its review in words.")
    return fragment("review_conclusions.html", concepts=items)


__all__ = [
    "activities_table",
    "attendance_table",
    "breakdown_rows",
    "breakdown_table",
    "characteristics",
    "concept_counts",
    "concept_endorsement",
    "element_id",
    "findings",
    "flow_table",
    "group_table",
    "participant_flow",
    "review_conclusions",
    "review_matrix",
    "styled_table",
    "survey_table",
    "theme_quotes",
    "theme_table",
    "themes_by_comparison",
]


def concept_counts(chapter, per_concept: pd.Series):
    """Return, per concept, how many reviewed programmes hold it, with the count's origin."""
    study = chapter.study
    if per_concept.empty or not study.has("programmes"):
        return chapter.not_applicable("the package holds no evidence review (review module).")
    concepts = study.concepts.sort_values("position")
    counts = [chapter.measures.programmes(c) for c in concepts["concept_id"]]
    frame = pd.DataFrame(
        {
            "Concept": concepts["name"].to_numpy(),
            "Programmes": [marked(study, c) for c in counts],
            "Of": len(study.programmes),
        }
    )
    caption = "Reviewed programmes holding each concept, out of all reviewed programmes."
    return style_table(
        frame, f"concept-counts-{chapter.page}", caption + legend(study, counts), counts=True
    )
