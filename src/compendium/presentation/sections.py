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
from compendium.analysis.disclosure import (
    Sum,
    cells_to_hide,
    coded_counts_to_hide,
    marker,
    shown_count,
    suppress,
)
from compendium.analysis.themes import analysis_codes, code_depth
from compendium.presentation.html import fragment
from compendium.presentation.links import anchor, decision_href
from compendium.presentation.origin import (
    legend,
    legend_text,
    marked,
    number_origin,
    origin_mark,
    records_origin,
    worded,
    wording_note,
)
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
    methods = {m.id: m for m in chapter.descriptor.methods}
    rows = []
    for a in activities.itertuples():
        # A reported n counts people unless the activity reviewed documents or counted groups.
        people = methods[a.method].kind != "review" and "group" not in str(a.unit).lower()
        n = a.reported_n
        if pd.isna(n):
            reported = "not reported"
        else:
            shown = shown_count(n, chapter.threshold) if people else str(int(n))
            mark = origin_mark(a.n_origin) if shown == str(int(n)) else ""
            reported = f"{shown}{mark} {a.unit}"
        rows.append((a.label, methods[a.method].label, reported))
    frame = pd.DataFrame(rows, columns=["Activity", "Method", "Sample size reported"])
    return style_table(
        frame,
        f"activities-{chapter.page}",
        "What this stage collected, with the sample size the study reports for each activity."
        + legend_text(set(activities["n_origin"].dropna())),
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
    # The split is counted from the records; the total is the measure of the stage's groups,
    # which carries its own origin (the number of groups a paper prints, say).
    split = records_origin(chapter)
    cells = table.astype(object).map(lambda n: f"{n}{origin_mark(split)}")
    origins = {split}
    held = list(dict.fromkeys(chapter.rows("focus_groups")["activity_id"]))
    if len(held) == 1 and chapter.measures.groups(held[0]) == table.iloc[-1, -1]:
        measured = chapter.measures.groups(held[0])
        cells.iloc[-1, -1] = marked(chapter, measured)
        origins.add(number_origin(chapter, measured))
    return style_table(
        cells,
        f"groups-{chapter.page}",
        "Focus groups by who took part and by site, with totals." + legend_text(origins),
        hide_index=False,
        counts=True,
    )


# --------------------------------------------------------------------------- themes


def theme_hidden(chapter, analysis: str) -> dict[str, tuple[bool, bool]]:
    """Return, per code of an analysis, whether its sources and its references are hidden.

    One decision over the whole codebook (every code's people bounded by its passages, its
    parent's people and its children's: see
    :func:`compendium.analysis.disclosure.coded_counts_to_hide`), which the theme table, the
    breakdowns, the concept tables, the prose and the figures all show, so that no display
    gives away what another hides.
    """
    cache = chapter.__dict__.setdefault("_theme_hidden", {})
    key = (analysis, chapter.threshold)
    if key not in cache:
        codes = analysis_codes(chapter.study.codes, analysis)
        ids = list(codes["code_id"])
        position = {code: i for i, code in enumerate(ids)}
        parents = [position.get(p) if isinstance(p, str) else None for p in codes["parent_id"]]
        m = chapter.measures
        hidden_s, hidden_r = coded_counts_to_hide(
            [int(m.sources(c)) for c in ids],
            [int(m.references(c)) for c in ids],
            chapter.threshold,
            parents,
        )
        cache[key] = {c: (i in hidden_s, i in hidden_r) for i, c in enumerate(ids)}
    return cache[key]


def code_hidden(chapter, code_id: str) -> tuple[bool, bool]:
    """Return whether one code's sources and references are hidden (see :func:`theme_hidden`)."""
    analysis = chapter.study.codes.set_index("code_id").at[code_id, "activity_id"]
    return theme_hidden(chapter, analysis)[code_id]


def _hidden_counts(chapter, codes, sources, references) -> tuple[list[str], list[str]]:
    """Return sources and references of ``codes`` as shown (see :func:`theme_hidden`)."""
    mark = marker(chapter.threshold)
    flags = [code_hidden(chapter, c) for c in codes]
    shown_sources = [mark if f[0] else str(int(s)) for f, s in zip(flags, sources, strict=True)]
    shown_references = [
        mark if f[1] else str(int(r)) for f, r in zip(flags, references, strict=True)
    ]
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
    shown_s, shown_r = _hidden_counts(chapter, ordered["code_id"], sources, references)
    frame = pd.DataFrame(
        {
            "Code": ordered["code_id"].to_numpy(),
            "Theme": ordered["name"].to_numpy(),
            "Sources": [marked(chapter, v, s) for v, s in zip(sources, shown_s, strict=True)],
            "References": [marked(chapter, v, s) for v, s in zip(references, shown_r, strict=True)],
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
        + legend(chapter, sources + references)
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
    counts = table.loc[main["code_id"]]
    # A theme's groups add up to its people, which the theme table shows: one sum per row.
    width = len(counts.columns)
    values = [int(v) for v in counts.to_numpy().ravel()]
    sums = [
        Sum(
            tuple(range(r * width, (r + 1) * width)), known=sum(values[r * width : (r + 1) * width])
        )
        for r in range(len(counts))
    ]
    hidden = suppress(values, chapter.threshold, sums)
    shown = pd.DataFrame(index=main["name"].to_numpy())
    for j, group in enumerate(counts.columns):
        size = shown_count(sizes.get(group, 0), chapter.threshold)
        shown[f"{group} (n = {size})"] = [
            marker(chapter.threshold) if r * width + j in hidden else values[r * width + j]
            for r in range(len(counts))
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


def breakdown_shown(chapter, rows: pd.DataFrame) -> dict[str, list[str | None]]:
    """Return, per column of :func:`breakdown_rows`, each row's marker when it is hidden, else None.

    The one decision the table, the prose and the figures of a breakdown share.
    """
    shown_s, shown_r = _hidden_counts(chapter, rows["code_id"], rows["sources"], rows["references"])
    mark = marker(chapter.threshold)
    sources = [mark if s == mark else None for s in shown_s]
    return {
        "sources": sources,
        "references": [mark if r == mark else None for r in shown_r],
        "percent": sources,
    }


def breakdown_table(chapter, breakdown, rows: pd.DataFrame):
    """Return :func:`breakdown_rows` styled, the parent's row last and in bold."""
    shown_s, shown_r = _hidden_counts(chapter, rows["code_id"], rows["sources"], rows["references"])
    frame = pd.DataFrame(
        {
            "Code": rows["code"],
            "Sources": [
                marked(chapter, v, s) for v, s in zip(rows["sources"], shown_s, strict=True)
            ],
            "References": [
                marked(chapter, v, s) for v, s in zip(rows["references"], shown_r, strict=True)
            ],
        }
    )
    values = list(rows["sources"]) + list(rows["references"])
    if "percent" in rows.columns:
        frame["% of sources"] = [
            marker(chapter.threshold) if s == marker(chapter.threshold) else marked(chapter, p)
            for s, p in zip(shown_s, rows["percent"], strict=True)
        ]
        values += list(rows["percent"])
    parent = rows["code"].iloc[-1]
    denominator = ""
    if breakdown.percent_of:
        filters = dict(breakdown.percent_of)
        denominator = f" Percentages are of {int(chapter.measures.participants(**filters))} participants ({chapter.label(filters['activity'])}), rounded {'down' if breakdown.rounding == 'floor' else 'half up'}."
    caption = (
        f"'{parent}' and the codes beneath it. The last row is the code itself, counting each "
        f"person and passage once.{denominator}{legend(chapter, values)}"
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
            hidden = marker(chapter.threshold) if code_hidden(chapter, code)[0] else None
            rows.append((concept.name, codes.at[code, "name"], marked(chapter, sources, hidden)))
            values.append(sources)
    frame = pd.DataFrame(rows, columns=["Concept", "Code", "Sources"])
    caption = (
        f"Intervention concepts and the codes of {chapter.label(analysis)} that speak to them, "
        f"with their sources.{legend(chapter, values)}"
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
    decisions = study.decisions.set_index("decision_id")
    decisions = pd.Series(
        [worded(t, w) for t, w in zip(decisions["decision"], decisions["wording"], strict=True)],
        index=decisions.index,
    )
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


def flow_boxes(chapter, flow: pd.DataFrame) -> dict[tuple[object, str], list[int]]:
    """Return the rows of the trial flow each box of the CONSORT diagram adds up.

    Keys are (arm, box): the arm's id (None when the trial has no arms) and ``lost`` (a status
    whose people did not take part), ``analysed`` (took part and analysed) or ``excluded``
    (took part, not analysed); values are positions of ``followed up`` rows.
    """
    statuses = {s.id: s for s in chapter.descriptor.statuses}
    steps = list(flow["step"])
    arms = [flow["arm"].iloc[i] for i, step in enumerate(steps) if step == "allocated"] or [None]
    boxes = {(arm, box): [] for arm in arms for box in ("lost", "analysed", "excluded")}
    for i, row in enumerate(flow.itertuples()):
        if row.step != "followed up":
            continue
        status = statuses[row.status]
        box = "lost" if not status.took_part else "analysed" if status.analysed else "excluded"
        boxes[(row.arm if arms != [None] else None, box)].append(i)
    return boxes


def flow_hidden(chapter, flow: pd.DataFrame) -> tuple[list[bool], dict[tuple[object, str], bool]]:
    """Return which counts of the trial flow are hidden: per row, and per CONSORT box.

    The arms add up to those recruited, and each arm's outcomes to the arm; with no arms,
    the outcomes add up to those recruited. The diagram also shows each box of
    :func:`flow_boxes`, a sum of outcome rows. One decision over all these cells serves the
    table and the diagram, so that neither gives away a count the other hides.
    """
    values = [int(v) for v in flow["participants"]]
    steps = list(flow["step"])
    recruited = steps.index("recruited") if "recruited" in steps else None
    arms = {row.arm: i for i, row in enumerate(flow.itertuples()) if row.step == "allocated"}
    sums = []
    if arms and recruited is not None:
        sums.append(Sum(tuple(arms.values()), total=recruited))
    outcomes: dict[object, list[int]] = {}
    for i, row in enumerate(flow.itertuples()):
        if row.step == "followed up":
            outcomes.setdefault(row.arm if arms else None, []).append(i)
    for arm, rows in outcomes.items():
        total = arms.get(arm) if arms else recruited
        if total is not None:
            sums.append(Sum(tuple(rows), total=total))
    boxes = flow_boxes(chapter, flow)
    box_cells = {}
    for key, parts in boxes.items():
        if parts:
            box_cells[key] = len(values)
            values.append(sum(values[i] for i in parts))
            sums.append(Sum(tuple(parts), total=box_cells[key]))
    hidden = suppress(values, chapter.threshold, sums)
    rows = [i in hidden for i in range(len(flow))]
    return rows, {key: box_cells.get(key) in hidden for key in boxes}


def flow_table(chapter, flow: pd.DataFrame):
    """Return the trial flow as a table: each step, its count (protected) and the count's origin."""
    if flow.empty or int(flow["participants"].iloc[0]) == 0:
        return chapter.not_applicable(
            "the package records no trial allocation or attendance for this stage."
        )
    hidden, _ = flow_hidden(chapter, flow)
    shown = [
        marked(chapter, v, marker(chapter.threshold) if hide else None)
        for v, hide in zip(flow["participants"], hidden, strict=True)
    ]
    frame = pd.DataFrame(
        {"Step": flow["step"].str.capitalize(), "Who": flow["label"], "Participants": shown}
    )
    caption = "Participants from recruitment to follow-up, by arm and by what happened to them."
    return style_table(
        frame,
        f"flow-{chapter.page}",
        caption + legend(chapter, flow["participants"]),
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
                marked(chapter, c, marker(chapter.threshold) if i in hidden else None)
                for i, c in enumerate(counts)
            ],
        }
    )
    caption = "Attendance as participants described it at interview."
    return style_table(
        frame, f"attendance-{chapter.page}", caption + legend(chapter, counts), counts=True
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
    "agreement_table",
    "agreement_text",
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
            "Programmes": [marked(chapter, c) for c in counts],
            "Of": len(study.programmes),
        }
    )
    caption = "Reviewed programmes holding each concept, out of all reviewed programmes."
    return style_table(
        frame, f"concept-counts-{chapter.page}", caption + legend(chapter, counts), counts=True
    )


# --------------------------------------------------------------------------- agreement


def agreement_text(value: float) -> str:
    """Return an agreement coefficient as prose and tables show it: two decimals, or ``not defined``."""
    return "not defined" if pd.isna(value) else f"{value:.2f}"


def agreement_table(chapter, agreement: pd.DataFrame, analysis: str):
    """Return one analysis's inter-coder agreement, per main theme and pooled, with its caption.

    Parameters
    ----------
    chapter
        The chapter.
    agreement
        The analysis's rows of :func:`compendium.analysis.agreement.agreement_table`.
    analysis
        The activity id.

    Returns
    -------
    pandas.io.formats.style.Styler or NotApplicable
        Per theme, then for all themes pooled: the passages coded twice, how many of them each
        coder coded at the theme, the share of judgements they agree on, Krippendorff's alpha
        (nominal) and Cohen's kappa to two decimals, and why a coefficient is not defined where
        it is not. A note instead when the package holds no second coding, or none of this
        analysis.
    """
    study = chapter.study
    if not study.has("double_codings"):
        return chapter.not_applicable(
            f"no passage of {chapter.label(analysis)} was coded twice: the package holds no "
            "second coding (the agreement module, double_codings.csv)."
        )
    if agreement.empty or int(agreement["n_segments"].max()) == 0:
        return chapter.not_applicable(f"no passage of {chapter.label(analysis)} was coded twice.")

    def shown(value, text: str) -> str:
        return "–" if pd.isna(value) else f"{text}{origin_mark(number_origin(chapter, value))}"

    rows = agreement.itertuples()
    frame = pd.DataFrame(
        [
            {
                "Theme": r.theme,
                "Passages coded twice": shown(r.n_segments, str(r.n_segments)),
                "Coded here (first / second coder)": f"{r.first_coded} / {r.second_coded}",
                "Agreed": shown(r.observed, f"{r.observed:.0%}"),
                "Krippendorff's α": shown(r.alpha, agreement_text(r.alpha)),
                "Cohen's κ": shown(r.kappa, agreement_text(r.kappa)),
                "Note": r.reason,
            }
            for r in rows
        ]
    )
    if not frame["Note"].astype(bool).any():
        frame = frame.drop(columns="Note")
    pooled = agreement[agreement["theme_id"].isna()].iloc[0]
    figures = [v for v in agreement[["n_segments", "observed", "alpha", "kappa"]].stack()]
    caption = (
        f"{chapter.label(analysis)}: agreement between two coders on the "
        f"{pooled['n_segments']} passages both coded, for each main theme (was the passage "
        "coded at the theme or beneath it?) and for all themes pooled, each passage-theme "
        "judgement counted once. Agreed: the share of judgements on which the coders agree; "
        "α and κ correct it for the agreement chance alone would give." + legend(chapter, figures)
    )
    styler = style_table(frame, f"agreement-{analysis}", caption)
    last = len(frame) - 1
    return styler.apply(
        lambda row: ["font-weight: bold" if row.name == last else "" for _ in row], axis=1
    )
