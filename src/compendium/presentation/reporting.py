"""The study-wide displays: origin marks, the paper's summary tables, TIDieR, the trace drill-down.

Everything here takes the :class:`~compendium.presentation.chapter.Chapter` and returns
something to show: a table (with an offline CSV download), an HTML fragment rendered through
:func:`compendium.presentation.html.render`, or the chapter's not-applicable note when the
package lacks the module a display needs. The pandas steps behind each number stay in the
chapters; these helpers style, caption and mark.

**Origin marks.** Words and numbers say where they come from the way the whole book says it
(:mod:`compendium.presentation.origin`): a piece of text is followed by its wording's note in
parentheses, e.g. "(the paper's words)" (:func:`worded`); a number carries its origin's mark, none
when the paper prints it, ``‡`` derived, ``*`` reconstructed, ``†`` synthetic (:func:`number_text`),
and a table's caption ends with the legend of the marks it uses (:func:`legend`). A page that
shows many opens with the whole legend (:func:`origin_legend`).

**Summary tables by kind.** A study declares the paper's tables in ``study.yaml`` (``tables``);
each has a kind the engine knows how to rebuild: ``stage_summary`` (method, key findings and
decisions per stage, grouped by framework phase), ``concept_evidence`` (intervention concepts
against each stage's evidence, counted by the analysis code) and ``specifications``
(specification-level decisions by area, with their rationale). Rows belong to a table through
their ``in_table`` column.
"""

from __future__ import annotations

import pandas as pd

from compendium.contract.descriptor import Table
from compendium.presentation.html import fragment
from compendium.presentation.links import (
    anchor,
    component_href,
    decision_href,
    finding_href,
)
from compendium.presentation.origin import (
    MARKS,
    WORDING_NOTES,
    hidden_text,
    legend,
    legend_text,
    number_origin,
    number_text,
    origin_mark,
    worded,
    wording_note,
)
from compendium.presentation.origin import worded_list as worded_list  # for the chapters
from compendium.presentation.sections import code_hidden
from compendium.presentation.tables import (
    LONG_TABLE_ROWS,
    NONE_MARK,
    downloadable_table,
    styled_table,
    with_class,
)

#: The TIDieR checklist's item "How well (actual)" (Hoffmann et al. 2014, item 12).
TIDIER_ACTUAL = 12
#: Rows of a stage-summary table.
STAGE_SUMMARY_ROWS = ("Method", "Key findings", "Intervention development decisions")
#: Where a quotation's missing speaker label is said.
NO_LABEL = "speaker not labelled"
#: What a concept-evidence cell says when the package holds no quotation for the concept.
NO_QUOTE = "no quotation recovered"


# --------------------------------------------------------------------------- module presence


def _missing(chapter, module: str, what: str):
    """Return the note for a display whose module the package lacks."""
    from compendium.contract.schema import modules

    label = next((m.label for m in modules() if m.name == module), module).lower()
    label = label.removeprefix("the ")
    return chapter.not_applicable(
        f"{what} needs the {label} module ({module}), which this package does not include."
    )


def _present(chapter) -> set[str]:
    """Return the files of the package: its CSV files and both descriptors."""
    return {f"{name}.csv" for name in chapter.study.tables} | {"study.yaml", "datapackage.json"}


def _reads(chapter, obj, *files: str):
    """Record on ``obj`` the package files it was made from (those the package has), for its provenance line."""
    obj.compendium_reads = set(files) & _present(chapter)
    return obj


# --------------------------------------------------------------------------- origin marks


def origin_legend(chapter):
    """Return the whole legend of the marks, as the pages that show many open with it."""
    published = (
        "printed in the paper, and regenerated here from the synthetic records"
        if chapter.study.synthetic
        else "printed in the paper, or computed from the package's records"
    )
    items = [{"mark": "no mark", "meaning": f"a number {published}"}]
    meanings = {
        "derived": "computed from numbers the paper prints",
        "reconstructed": "inferred from the paper; it does not print it as such",
        "synthetic": "computed from the synthetic records; the paper does not print it",
    }
    items += [{"mark": MARKS[o], "meaning": f"a number {m}"} for o, m in meanings.items()]
    items += [
        {"mark": f"({note})", "meaning": f"text: {meaning}"}
        for note, meaning in [
            (WORDING_NOTES["verbatim"], "printed so in the paper"),
            (WORDING_NOTES["paraphrase"], "the paper's content, in this compendium's words"),
            (
                WORDING_NOTES["reconstruction"],
                "inferred by this compendium; the paper does not print it",
            ),
            (WORDING_NOTES["synthetic"], "written for the synthetic data; not the paper's"),
        ]
    ]
    return fragment(
        "origin_legend.html",
        intro=(
            "Each number drawn from the study carries a mark after it, and each piece of text a "
            "note in parentheses. Counts of this compendium's own files, rows and checks carry "
            "neither."
        ),
        marks=items,
    )


# --------------------------------------------------------------------------- the paper's tables


def _table(chapter, table_id: str) -> Table:
    return chapter.descriptor.table(table_id)


def stage_summary(chapter, table_id: str, table_rows: pd.DataFrame) -> pd.DataFrame:
    """Return a ``stage_summary`` table: method, key findings and decisions of each stage.

    Parameters
    ----------
    chapter
        The chapter.
    table_id
        The table's id in ``study.yaml``.
    table_rows
        The findings and decisions that belong to the table, one per row: ``stage_id``,
        ``row`` (a row name of :data:`STAGE_SUMMARY_ROWS`), ``text`` and ``wording``, in the
        order they are listed.

    Returns
    -------
    pandas.DataFrame
        Columns are a two-level header (framework phase, ``Stage <id>: <name>``), one per
        stage the table declares (every stage when it declares none); rows are
        :data:`STAGE_SUMMARY_ROWS`. The method row is the column label the table declares, or
        the stage's methods; every line carries its wording mark, and an empty cell reads
        :data:`~compendium.presentation.tables.NONE_MARK`.
    """
    table = _table(chapter, table_id)
    declared = {c.stage: c for c in table.columns}
    stages = [s for s in chapter.descriptor.stages if not declared or s.id in declared]
    columns, cells = [], []
    for stage in stages:
        phase = chapter.descriptor.framework.phase_label(stage.phase)
        columns.append((phase, f"Stage {stage.id}: {stage.name}"))
        if stage.id in declared:
            column = [worded(declared[stage.id].label, declared[stage.id].wording)]
        else:
            column = [", ".join(chapter.descriptor.method(m).label for m in stage.methods)]
        own = table_rows[table_rows["stage_id"] == stage.id]
        for row in STAGE_SUMMARY_ROWS[1:]:
            lines = own[own["row"] == row]
            column.append(
                "\n".join(
                    worded(t, w) for t, w in zip(lines["text"], lines["wording"], strict=True)
                )
            )
        cells.append(column)
    frame = pd.DataFrame(
        list(zip(*cells, strict=True)) if cells else [],
        index=pd.Index(STAGE_SUMMARY_ROWS),
        columns=pd.MultiIndex.from_tuples(columns, names=["Phase", "Stage"]),
    )
    return frame.replace("", NONE_MARK)


def _unit(chapter, activity_id: str) -> str:
    """Return what a code's sources are called in an analysis: sources (groups) or respondents."""
    activities = chapter.study.activities.set_index("activity_id")["method"]
    method = chapter.descriptor.method(activities[activity_id])
    return "sources" if method.group_sources else "respondents"


def _quote_text(chapter, quote) -> str:
    """Return a quotation as a table cell prints it: in quotation marks, attributed, marked."""
    cut = " [\u2026]" if bool(quote["truncated"]) else ""
    if isinstance(quote["label"], str):
        speaker = quote["label"]
    elif isinstance(quote["label_note"], str):
        speaker = f"speaker: {quote['label_note']}"
    else:
        speaker = NO_LABEL
    source = chapter.descriptor.citation(quote["citation_id"]).short
    text = f"\u201c{quote['text']}{cut}\u201d ({speaker}; {quote['location']}; {source})"
    return worded(text, "verbatim")


def concept_evidence_rows(chapter, table_id: str, links: pd.DataFrame) -> pd.DataFrame:
    """Return a ``concept_evidence`` table's evidence in long form, one row per piece of evidence.

    A stage whose methods include an evidence review gives, per concept, the reviewed
    programmes holding it (``measures.programmes(concept)`` of ``measures.programmes()``) and
    the review's statement on it, if any. Any other stage gives each code that ``links``
    ties to the concept within that stage, with its sources (``measures.sources(code)``).

    Parameters
    ----------
    chapter
        The chapter.
    table_id
        The table's id in ``study.yaml``.
    links
        ``concept_codes`` joined to each code's ``activity_id``, ``name``, ``name_wording``
        and its activity's ``stage_id``, in the order the table lists them.

    Returns
    -------
    pandas.DataFrame
        ``concept_id``, ``stage_id``, ``kind`` (``programmes``, ``statement`` or ``code``),
        ``text`` (the cell line, marked) and ``value`` (the measured count, or missing).
    """
    study, measures, table = chapter.study, chapter.measures, _table(chapter, table_id)
    stage_ids = [c.stage for c in table.columns] or [s.id for s in chapter.descriptor.stages]
    review_kinds = {m.id for m in chapter.descriptor.methods if m.kind == "review"}
    concepts = study.concepts.sort_values("position")
    result = []
    for stage_id in stage_ids:
        if review_kinds & set(chapter.descriptor.stage(stage_id).methods):
            total = measures.programmes()
            for c in concepts.itertuples():
                held = measures.programmes(c.concept_id)
                if held:
                    text = (
                        f"{number_text(chapter, held)} of {number_text(chapter, total)} "
                        "reviewed programmes"
                    )
                    result.append((c.concept_id, stage_id, "programmes", text, held))
                if isinstance(c.review_statement, str):
                    text = worded(c.review_statement, c.statement_wording)
                    result.append((c.concept_id, stage_id, "statement", text, pd.NA))
            continue
        for link in links[links["stage_id"] == stage_id].itertuples():
            count = measures.sources(link.code_id)
            hidden = code_hidden(chapter, link.code_id)[0]
            shown = hidden_text(chapter, count, hidden, _unit(chapter, link.activity_id))
            if hidden:
                shown += f" {_unit(chapter, link.activity_id)}"
            text = f"{worded(link.name, link.name_wording)}: {shown}"
            result.append((link.concept_id, stage_id, "code", text, count))
    frame = pd.DataFrame(result, columns=["concept_id", "stage_id", "kind", "text", "value"])
    order = {c: i for i, c in enumerate(concepts["concept_id"])}
    return frame.sort_values(
        "concept_id", key=lambda s: s.map(order), kind="stable", ignore_index=True
    )


def concept_evidence(chapter, table_id: str, links: pd.DataFrame) -> pd.DataFrame:
    """Return a ``concept_evidence`` table: each concept's definition, its evidence per stage, quotes.

    Columns are ``Definition``, one per declared column (headed by its declared label; by the
    stage's name when the table declares none), and ``Illustrative quotes``: the paper's
    quotations tied to the concept, attributed and marked verbatim, or :data:`NO_QUOTE`. The
    index is the concept's name, marked. ``links`` is as :func:`concept_evidence_rows` takes it.
    """
    study, table = chapter.study, _table(chapter, table_id)
    evidence = concept_evidence_rows(chapter, table_id, links)
    headings = {c.stage: c.label for c in table.columns} or {
        s.id: f"Stage {s.id}: {s.name}" for s in chapter.descriptor.stages
    }
    quotes = study.quotes if study.has("quotes") else None
    result = {}
    for c in study.concepts.sort_values("position").itertuples():
        row = {"Definition": worded(c.definition, c.wording)}
        own = evidence[evidence["concept_id"] == c.concept_id]
        for stage_id, heading in headings.items():
            row[heading] = "\n".join(own.loc[own["stage_id"] == stage_id, "text"]) or NONE_MARK
        said = quotes[quotes["concept_id"] == c.concept_id] if quotes is not None else None
        if said is not None and len(said):
            row["Illustrative quotes"] = "\n".join(
                _quote_text(chapter, q) for _, q in said.iterrows()
            )
        else:
            row["Illustrative quotes"] = NO_QUOTE
        result[worded(c.name, c.wording)] = row
    frame = pd.DataFrame.from_dict(result, orient="index")
    frame.index.name = "Concept"
    measured = [v for v in evidence["value"] if hasattr(v, "call")]
    measured += [chapter.measures.programmes()] if len(evidence) else []
    frame.attrs["origins"] = {number_origin(chapter, v) for v in measured}
    return frame


def specifications(chapter, table_id: str, specs: pd.DataFrame) -> pd.DataFrame:
    """Return a ``specifications`` table: its decisions by area, each with its rationale.

    ``specs`` are the decisions whose ``in_table`` is ``table_id``. Rows are grouped by area
    (areas in the order they first appear, decisions in file order within each); the decision
    and its rationale each carry their wording mark. The index is (area, decision id).
    """
    first_seen = {area: i for i, area in enumerate(dict.fromkeys(specs["area"]))}
    specs = specs.sort_values("area", key=lambda a: a.map(first_seen), kind="stable")
    decision = zip(specs["decision"], specs["wording"], strict=True)
    rationale = zip(specs["rationale"], specs["rationale_wording"], strict=True)
    frame = pd.DataFrame(
        {
            "Area": specs["area"].to_numpy(),
            "ID": specs["decision_id"].to_numpy(),
            "Decision": [worded(t, w) for t, w in decision],
            "Rationale": [worded(t, w) for t, w in rationale],
        }
    )
    return frame.set_index(["Area", "ID"])


#: Each table kind: the module it needs, its builder, and the package files it is made from
#: besides study.yaml (published_figures.csv decides the marks of concept_evidence's counts).
TABLE_KINDS = {
    "stage_summary": ("trace", stage_summary, ("findings.csv", "decisions.csv")),
    "concept_evidence": (
        "review",
        concept_evidence,
        (
            "concepts.csv",
            "concept_codes.csv",
            "programmes.csv",
            "programme_concepts.csv",
            "codes.csv",
            "segments.csv",
            "codings.csv",
            "activities.csv",
            "quotes.csv",
            "published_figures.csv",
        ),
    ),
    "specifications": ("trace", specifications, ("decisions.csv",)),
}


def summary_table(chapter, table_id: str, selected: pd.DataFrame):
    """Return a declared summary table, captioned and marked, with its CSV download.

    ``selected`` is what the chapter computed for the table's kind: the rows of
    :func:`stage_summary`, the links of :func:`concept_evidence` or the decisions of
    :func:`specifications`. When the package lacks the module the kind needs, or no row
    belongs to the table, return a not-applicable note.
    """
    table = _table(chapter, table_id)
    module, build, files = TABLE_KINDS[table.kind]
    if not chapter.study.has(*module_resources(module)):
        return _missing(chapter, module, f"{table.title} ({table.kind.replace('_', ' ')})")
    if selected.empty:
        return chapter.not_applicable(f"no row of the package belongs to {table.id} (in_table).")
    frame = build(chapter, table_id, selected)
    caption = (
        f"{table.title}. {table.caption}. Rebuilt from the data package; each line ends with a "
        "note of where its wording comes from." + legend_text(frame.attrs.get("origins", ()))
    )
    # A long table (the decisions of a specifications table) can be sorted and filtered.
    shown = downloadable_table(
        frame, f"summary-{table.id}", caption, sortable=len(frame) > LONG_TABLE_ROWS
    )
    return _reads(chapter, shown, "study.yaml", *files)


def module_resources(module: str) -> tuple[str, ...]:
    """Return the resources of an optional module (e.g. ``trace``)."""
    from compendium.contract.schema import modules

    return next(m.resources for m in modules() if m.name == module)


# --------------------------------------------------------------------------- the overview


def stage_overview(chapter) -> object:
    """Return one row per stage: phase, methods and the data each activity collected, marked.

    A sample size the study reports carries the origin its activity row declares
    (``n_origin``); activities without one say "not reported".
    """
    study = chapter.study
    stages = study.stages
    activities = study.activities
    collected = []
    for stage_id in stages["stage_id"]:
        own = activities[activities["stage_id"] == stage_id]
        parts = []
        for a in own.itertuples():
            if pd.isna(a.reported_n):
                parts.append(f"{a.label} (sample size not reported)")
            else:
                parts.append(f"{a.label} ({int(a.reported_n)}{origin_mark(a.n_origin)} {a.unit})")
        collected.append("\n".join(parts) or NONE_MARK)
    frame = pd.DataFrame(
        {
            "Stage": stages["stage_id"].to_numpy(),
            "Name": stages["name"].to_numpy(),
            "Phase": stages["phase_label"].to_numpy(),
            "Methods": stages["methods"].to_numpy(),
            "Data collected": collected,
        }
    )
    framework = chapter.descriptor.framework.name
    caption = (
        f"The study's stages in order, the phase of the {framework} each belongs to, and what each "
        "collected, with the sample size the study reports for it."
        + legend_text(set(activities["n_origin"].dropna()))
    )
    return _reads(
        chapter,
        styled_table(frame, "stage-overview", caption, hide_index=True),
        "study.yaml",
        "activities.csv",
    )


# --------------------------------------------------------------------------- the trace


def _has_trace(chapter) -> bool:
    return chapter.study.has(*module_resources("trace"))


def completeness_display(chapter, report: pd.DataFrame):
    """Return the completeness checks of the trace with a tick or cross and the failing ids."""
    if not _has_trace(chapter):
        return _missing(chapter, "trace", "Checking the trace")
    shown = pd.DataFrame(
        {
            "Items checked": report["checked"],
            "Result": report["passed"].map({True: "\u2713 passed", False: "\u2717 failed"}),
            "Failing ids": report["failing"].map(lambda ids: ", ".join(ids) or "none"),
        }
    ).rename_axis("Check")
    return _reads(
        chapter,
        downloadable_table(shown, "trace-completeness", "Completeness checks of the trace"),
        "findings.csv",
        "decisions.csv",
        "trace.csv",
        "finding_evidence.csv",
    )


def set_aside_display(chapter, aside: pd.DataFrame):
    """Return the findings not acted on, each with its stage, marked wording and recorded reason."""
    if not _has_trace(chapter):
        return _missing(chapter, "trace", "Listing the findings set aside")
    if aside.empty:
        return chapter.not_applicable("every finding in the package was acted on.")
    shown = pd.DataFrame(
        {
            "Stage": aside["stage_id"],
            "Finding": [
                worded(t, w) for t, w in zip(aside["statement"], aside["wording"], strict=True)
            ],
            "Why not acted on": aside["reason"].fillna("no reason recorded"),
        },
        index=aside.index.rename("Finding id"),
    )
    caption = "Findings not acted on, with the reason the package records for each"
    return _reads(chapter, downloadable_table(shown, "trace-not-acted-on", caption), "findings.csv")


def _code_evidence(chapter, code_id: str) -> str:
    study, measures = chapter.study, chapter.measures
    codes = study.codes.set_index("code_id")
    if code_id not in codes.index:
        return f"Code {code_id} (not in codes.csv)"
    sources, references = measures.sources(code_id), measures.references(code_id)
    # the theme table's decision: a hidden source, and a reference count that would pin one
    hide_sources, hide_references = code_hidden(chapter, code_id)
    shown_sources = hidden_text(chapter, sources, hide_sources, "sources")
    shown_references = hidden_text(chapter, references, hide_references, "references")
    if hide_sources:
        shown_sources += " sources"
    if hide_references:
        shown_references += " references"
    name = worded(codes.at[code_id, "name"], codes.at[code_id, "name_wording"])
    return f"Code {code_id} \u201c{name}\u201d: {shown_sources}, {shown_references}"


def _concept_evidence_text(chapter, concept_id: str) -> str:
    study, measures = chapter.study, chapter.measures
    concept = study.concepts.set_index("concept_id").loc[concept_id]
    parts = []
    if isinstance(concept["review_statement"], str):
        parts.append(worded(concept["review_statement"], concept["statement_wording"]))
    held = measures.programmes(concept_id)
    if held:
        total = measures.programmes()
        parts.append(
            f"in {number_text(chapter, held)} of {number_text(chapter, total)} reviewed programmes"
        )
    name = worded(concept["name"], concept["wording"])
    return f"Concept \u201c{name}\u201d: {'; '.join(parts) or 'no review evidence'}"


def _figure_evidence(chapter, figure_id: str, figures: pd.DataFrame | None) -> str:
    if figures is None or figure_id not in figures.index:
        return f"Figure {figure_id} (the package lists no such published figure)"
    row = figures.loc[figure_id]
    if pd.notna(row["regenerated"]):
        value = f"{row['regenerated']:g}{origin_mark(row['origin'])}"
    else:
        value = "cannot be computed"
    return f"Figure {figure_id} ({row['description']}, {row['location']}): {value}"


def evidence_lines(chapter, finding_id: str, figures: pd.DataFrame | None = None) -> list[str]:
    """Return the evidence a finding cites, one marked line each (codes, quotes, concepts, figures).

    Evidence of a module the package lacks says so instead of its content.
    """
    study = chapter.study
    evidence = study.finding_evidence
    evidence = evidence[evidence["finding_id"] == finding_id]
    quotes = study.quotes.set_index("quote_id") if study.has("quotes") else None
    lines = []
    for e in evidence.itertuples():
        key = e.evidence_id
        if e.evidence_type == "code":
            lines.append(_code_evidence(chapter, key))
        elif e.evidence_type == "quote":
            if quotes is None or key not in quotes.index:
                lines.append(f"Quote {key} (the package holds no such quotation)")
            else:
                lines.append(f"Quote {key}: {_quote_text(chapter, quotes.loc[key])}")
        elif e.evidence_type == "concept":
            if not study.has("concepts") or key not in set(study.concepts["concept_id"]):
                lines.append(f"Concept {key} (the package holds no evidence review)")
            else:
                lines.append(_concept_evidence_text(chapter, key))
        else:
            lines.append(_figure_evidence(chapter, key, figures))
    return lines


def _cited_figures(chapter) -> pd.DataFrame | None:
    """Return the published figures the findings cite, regenerated (indexed by figure id)."""
    study = chapter.study
    if not study.has("published_figures"):
        return None
    from compendium.analysis.reproduction import reproduction_table

    evidence = study.finding_evidence
    cited = set(evidence.loc[evidence["evidence_type"] == "figure", "evidence_id"])
    figures = study.published_figures
    table = reproduction_table(figures[figures["figure_id"].isin(cited)], chapter.measures)
    return table.set_index("figure_id")


def decision_details(chapter):
    """Return every decision as an expandable block with its rationale, parent, component and evidence.

    Each block has the id ``anchor("decision", id)``, so other pages link to it. Decisions are
    listed summary first, then specifications, in file order; each supporting finding links
    to its stage page and lists its evidence (:func:`evidence_lines`; a cited published figure
    as the analysis code regenerates it), every word and number marked.
    """
    from compendium.analysis.trace import ordered_decisions

    study, descriptor = chapter.study, chapter.descriptor
    if not _has_trace(chapter):
        return _missing(chapter, "trace", "The decision-by-decision evidence")
    findings = study.findings.set_index("finding_id")
    components = study.components.set_index("component_id") if study.has("components") else None
    figures = _cited_figures(chapter)
    trace = study.trace
    blocks = []
    for d in ordered_decisions(study.decisions).itertuples():
        component = None
        if isinstance(d.component_id, str):
            known = components is not None and d.component_id in components.index
            component = {
                "id": d.component_id,
                "name": components.at[d.component_id, "name"] if known else "",
                "href": component_href(d.component_id) if known else None,
            }
        supporting = []
        for f in trace.loc[trace["decision_id"] == d.decision_id, "finding_id"]:
            finding = findings.loc[f]
            supporting.append(
                {
                    "id": f,
                    "href": finding_href(descriptor, finding["stage_id"], f),
                    "text": worded(finding["statement"], finding["wording"]),
                    "evidence": evidence_lines(chapter, f, figures),
                }
            )
        blocks.append(
            {
                "id": d.decision_id,
                "anchor": anchor("decision", d.decision_id),
                "text": worded(d.decision, d.wording),
                "area": d.area,
                "level": d.level,
                "stage": d.stage_id,
                "rationale": worded(d.rationale, d.rationale_wording),
                "parent": {"id": d.parent_id, "anchor": anchor("decision", d.parent_id)}
                if isinstance(d.parent_id, str)
                else None,
                "component": component,
                "findings": supporting,
            }
        )
    reads = {"decisions.csv", "findings.csv", "trace.csv", "finding_evidence.csv"}
    types = set(study.finding_evidence["evidence_type"])
    if "code" in types:
        reads |= {"codes.csv", "segments.csv", "codings.csv", "published_figures.csv"}
    if "quote" in types:
        reads.add("quotes.csv")
    if "concept" in types:
        reads |= {"concepts.csv", "programmes.csv", "programme_concepts.csv"}
    if figures is not None:
        from compendium.analysis.reproduction import files_read

        reads |= {"published_figures.csv"} | files_read(figures["expression"], _present(chapter))
    if components is not None:
        reads.add("components.csv")
    return _reads(chapter, fragment("decision_details.html", decisions=blocks), *reads)


# --------------------------------------------------------------------------- the intervention


def trial_activity(chapter) -> str | None:
    """Return the activity whose attendance reports how the intervention was delivered, or None.

    It is the activity, of the latest stage that has one, whose analysed participants have
    attendance rows with sessions recorded; the package needs the trial module.
    """
    study = chapter.study
    if not study.has("attendance"):
        return None
    people = study.participants.merge(study.attendance, on="participant_id")
    people = people[people["status"].isin(chapter.descriptor.analysed)]
    people = people[people["sessions_attended"].notna() | people["attendance_pattern"].notna()]
    if people.empty:
        return None
    rank = study.stages.set_index("stage_id")["position"]
    activities = study.activities[study.activities["activity_id"].isin(people["activity_id"])]
    latest = activities.assign(rank=activities["stage_id"].map(rank)).sort_values(
        "rank", kind="stable"
    )
    return str(latest["activity_id"].iloc[-1])


def _one_or_many(values: list[str]):
    """Return a lone value as itself, so a measure's call matches the published figure's."""
    return values[0] if len(values) == 1 else values


def delivery(chapter, activity: str) -> pd.DataFrame:
    """Return how the analysed participants of a trial activity took the intervention up.

    The first row counts those who attended every session offered (``study.yaml`` trial
    ``sessions_offered``), when it is declared; then one row per attendance pattern the others
    described, most common first. Each count is a measure (so it carries its origin), with its
    whole percentage of the analysed participants.

    Returns
    -------
    pandas.DataFrame
        ``attendance`` (what the row counts), ``participants`` and ``percent`` (measured
        numbers) and ``origin`` (of the count).
    """
    study, measures = chapter.study, chapter.measures
    people = study.participants.merge(study.attendance, on="participant_id")
    people = people[
        (people["activity_id"] == activity) & people["status"].isin(chapter.descriptor.analysed)
    ]
    statuses = _one_or_many(sorted(set(people["status"])))
    analysed = measures.participants(activity=activity, status=statuses)
    offered = chapter.descriptor.trial.sessions_offered if chapter.descriptor.trial else None
    result = []
    full = pd.Series(False, index=people.index)
    if offered is not None:
        full = people["sessions_attended"].eq(offered).fillna(False).astype(bool)
        count = measures.participants(activity=activity, status=statuses, sessions_attended=offered)
        result.append((f"attended all {offered} sessions offered", count))
    patterns = people.loc[~full, "attendance_pattern"].dropna().value_counts()
    for pattern in patterns.index:
        result.append(
            (pattern, measures.participants(activity=activity, attendance_pattern=pattern))
        )
    counts = [count for _, count in result]
    # Object columns keep the measured numbers (and so their origins) as they are.
    frame = pd.DataFrame(
        {
            "attendance": [label for label, _ in result],
            "participants": pd.Series(counts, dtype=object),
            "percent": pd.Series(
                [measures.percent(n, analysed, "half_up") for n in counts], dtype=object
            ),
            "origin": [number_origin(chapter, n) for n in counts],
        }
    )
    frame.attrs["analysed"] = analysed
    return frame


def _delivery_hidden(chapter, counts: list) -> set[int]:
    """Return which attendance counts to hide: they add up to those analysed, who are shown."""
    from compendium.analysis.disclosure import cells_to_hide

    return cells_to_hide([int(c) for c in counts], chapter.threshold)


def _percent_text(chapter, count, percent, hidden: bool = False) -> str:
    """Return a percentage with its mark, e.g. ``11%‡``; hidden, unmarked, when its count is."""
    if hidden:
        from compendium.analysis.disclosure import marker

        return marker(chapter.threshold)
    shown = chapter.shown_number(count)
    if shown != str(count):
        return shown
    return f"{percent}%{origin_mark(number_origin(chapter, percent))}"


def delivery_display(chapter, activity: str | None, taken_up: pd.DataFrame | None):
    """Return :func:`delivery` as a table: counts (through disclosure control) and percentages, marked.

    Without the trial module, or with no analysed participant whose attendance is recorded,
    return the not-applicable note.
    """
    if not chapter.study.has("attendance"):
        return _missing(chapter, "trial", "Reporting how the intervention was taken up")
    if activity is None or taken_up is None or taken_up.empty:
        return chapter.not_applicable("no analysed participant has attendance recorded.")
    counts, percents = list(taken_up["participants"]), list(taken_up["percent"])
    hidden = _delivery_hidden(chapter, counts)
    shown = pd.DataFrame(
        {
            "Participants": [hidden_text(chapter, n, i in hidden) for i, n in enumerate(counts)],
            "% of those analysed": [
                _percent_text(chapter, n, p, i in hidden)
                for i, (n, p) in enumerate(zip(counts, percents, strict=True))
            ],
        },
        index=pd.Index(taken_up["attendance"], name="Attendance"),
    )
    caption = (
        f"How the analysed participants of {chapter.label(activity)} took the intervention up."
        + legend(chapter, counts + percents)
    )
    styler = with_class(styled_table(shown, "delivery", caption), "compendium-counts")
    return _reads(
        chapter,
        downloadable_table(shown, "delivery", caption, shown=styler),
        "participants.csv",
        "attendance.csv",
        "activities.csv",
    )


def _quantity_origin(chapter, component_id: str) -> tuple[object, str]:
    """Return a component's measured quantity and its origin (as recorded, else the measure's)."""
    component = chapter.study.components.set_index("component_id").loc[component_id]
    value = chapter.measures.component_quantity(component_id)
    declared = component["quantity_origin"]
    return value, declared if isinstance(declared, str) else number_origin(chapter, value)


def quantity(chapter, component_id: str) -> str:
    """Return a component's quantity as prose shows it, e.g. ``10 sessions`` (its mark after the number).

    The number is ``measures.component_quantity``; its mark is that of the origin the package
    records for it (``quantity_origin``), else of the measure's own.
    """
    value, origin = _quantity_origin(chapter, component_id)
    unit = chapter.study.components.set_index("component_id").at[component_id, "unit"]
    shown = f"{float(value):g}{origin_mark(origin)}"
    return f"{shown} {unit}" if isinstance(unit, str) else shown


def tidier(chapter, taken_up: pd.DataFrame | None = None, activity: str | None = None):
    """Return the intervention as an HTML table of its TIDieR items.

    Each item's row has the id ``tidier-item-<number>``, so the TIDieR checklist page (and any
    other) can link to it. Each item lists its components (parts nested beneath their parent), each with the id
    ``anchor("component", id)``, its quantity and the decisions that shaped it (linked to the
    trace page when the package has the trace module). Item 12, "How well (actual)", also
    lists the trial's delivery (:func:`delivery`) when ``taken_up`` is given. Every text carries
    its wording's note and every number its origin's mark.
    """
    study = chapter.study
    if not study.has("tidier"):
        return _missing(chapter, "intervention", "The TIDieR description")
    components = study.components
    shaped: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    if study.has("decisions"):
        from compendium.analysis.trace import ordered_decisions

        made = ordered_decisions(study.decisions).dropna(subset=["component_id"])
        shaped = made.groupby("component_id", sort=False)["decision_id"].agg(list).to_dict()
        # A decision not in the paper's words says so where its id is shown.
        notes = {
            d: wording_note(w)
            for d, w in zip(made["decision_id"], made["wording"], strict=True)
            if w != "verbatim"
        }

    origins: set[str] = set()

    def describe(c) -> dict:
        parts = components[components["parent_id"] == c.component_id]
        amount = ""
        if pd.notna(c.quantity):
            amount = quantity(chapter, c.component_id)
            origins.add(_quantity_origin(chapter, c.component_id)[1])
        return {
            "anchor": anchor("component", c.component_id),
            "name": c.name,
            "amount": amount,
            "description": worded(c.description, c.wording),
            "decisions": [
                {"id": d, "href": decision_href(d), "note": notes.get(d, "")}
                for d in shaped.get(c.component_id, [])
            ],
            "parts": [describe(p) for p in parts.itertuples()],
        }

    top = components[components["parent_id"].isna()]
    items = []
    for item in study.tidier.sort_values("item").itertuples():
        entry = {
            "number": item.item,
            "name": item.name,
            "description": worded(item.description, item.wording),
            "components": [describe(c) for c in top[top["tidier_item"] == item.item].itertuples()],
            "delivery": None,
        }
        if item.item == TIDIER_ACTUAL and taken_up is not None and len(taken_up):
            analysed = taken_up.attrs.get("analysed")
            counts, percents = list(taken_up["participants"]), list(taken_up["percent"])
            hidden = _delivery_hidden(chapter, counts)
            origins |= {number_origin(chapter, v) for v in [analysed, *counts, *percents]}
            entry["delivery"] = {
                "title": (
                    f"{chapter.label(activity)}, of {number_text(chapter, analysed)} "
                    "participants analysed:"
                ),
                "lines": [
                    f"{label}: {hidden_text(chapter, n, i in hidden)} "
                    f"({_percent_text(chapter, n, p, i in hidden)})"
                    for i, (label, n, p) in enumerate(
                        zip(taken_up["attendance"], counts, percents, strict=True)
                    )
                ],
            }
        items.append(entry)
    reads = {"tidier.csv", "components.csv"}
    if shaped:
        reads.add("decisions.csv")
    if taken_up is not None:
        reads |= {"participants.csv", "attendance.csv"}
    return _reads(
        chapter,
        fragment(
            "tidier.html",
            caption=(
                "The intervention by TIDieR item, each component with the decisions that shaped it "
                "(a decision not in the paper's words is noted)." + legend_text(origins)
            ),
            items=items,
            empty=NONE_MARK,
        ),
        *reads,
    )


# --------------------------------------------------------------------------- reproduction


def reproduction_note(chapter):
    """Return the note saying what a match means for this package (synthetic or real)."""
    return fragment("reproduction_note.html", synthetic=chapter.study.synthetic)


def reproduction_display(table: pd.DataFrame) -> pd.DataFrame:
    """Return the reproduction table with readable headers and a tick or cross per figure."""
    shown = pd.DataFrame(
        {
            "What is counted": table["description"].to_numpy(),
            "Paper": [f"{v:g}" for v in table["published"]],
            "Regenerated": [
                f"{v:g}" if pd.notna(v) else f"cannot be computed: {p}"
                for v, p in zip(table["regenerated"], table["problem"], strict=True)
            ],
            "Match": table["matches"].map({True: "\u2713", False: "\u2717"}).to_numpy(),
            "Origin of the paper's value": table["origin"].to_numpy(),
            "Where in the paper": table["location"].to_numpy(),
            "Note": table["note"].fillna("").to_numpy(),
        },
        index=pd.Index(table["figure_id"].to_numpy(), name="Figure"),
    )
    return shown


def reproduction_shown(chapter, table: pd.DataFrame):
    """Return :func:`reproduction_display` as a downloadable table (or the note when there is none)."""
    if not chapter.study.has("published_figures"):
        return _missing(chapter, "published_figures", "Checking the paper's numbers")
    caption = (
        "Every figure listed in published_figures.csv: the paper's value against the value the "
        "analysis code regenerates from the records"
    )
    from compendium.analysis.reproduction import files_read

    present = _present(chapter)
    reads = {"published_figures.csv"} | files_read(table["expression"], present)
    shown = downloadable_table(reproduction_display(table), "reproduction", caption, sortable=True)
    return _reads(chapter, shown, *reads)


def reproduction_by_origin(chapter, table: pd.DataFrame, by_origin: pd.DataFrame):
    """Return how many listed figures of each origin the records reproduce, as a small table.

    ``by_origin`` is the reproduction ``table`` grouped by origin (``figures``, ``reproduced``);
    without the published-figures module, return the not-applicable note.
    """
    if not chapter.study.has("published_figures"):
        return _missing(chapter, "published_figures", "Checking the paper's numbers")
    shown = by_origin.rename_axis("Origin of the paper's value").rename(
        columns={"figures": "Figures listed", "reproduced": "Reproduced"}
    )
    caption = (
        "The numbers listed in published_figures.csv, by origin, and how many the analysis "
        "code regenerates from the records"
    )
    from compendium.analysis.reproduction import files_read

    reads = {"published_figures.csv"} | files_read(table["expression"], _present(chapter))
    styler = with_class(
        styled_table(shown.reset_index(), "reproduction-by-origin", caption, hide_index=True),
        "compendium-counts",
    )
    return _reads(chapter, styler, *reads)
