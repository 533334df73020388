"""The paper's Tables 1-3, the final intervention and the reproduction summary, from data.

Each table is first a plain :class:`pandas.DataFrame` (what tests check and what the CSV
download holds), then a styled table for the book (:func:`styled_table`) shown together
with an offline CSV download link (:func:`table_with_download`).

Counts in Table 2 come from the analysis code (:func:`compendium.analysis.themes.code_counts`), never
from the published-figures table; that table is only consulted to mark which counts the
paper printed (unmarked) and which are synthetic (marked with :data:`SYNTHETIC_MARK`).
"""

from __future__ import annotations

import base64
import html

import pandas as pd

from compendium.analysis.characteristics import attendance, attendance_patterns
from compendium.analysis.disclosure import small_cell_threshold, suppress_small_counts
from compendium.analysis.expressions import Call
from compendium.analysis.themes import code_counts
from compendium.contract.loading import Study
from compendium.presentation.links import anchor, decision_href
from compendium.presentation.summaries import published_calls, quote_attribution, style_table

SYNTHETIC_MARK = "\u2020"  # dagger: this count is synthetic, the paper's was not recovered
NONE_MARK = "\u2013"  # en dash, as the paper prints an empty cell
TABLE1_ROWS = ("Method", "Key findings", "Intervention development decisions")
# What the paper calls a code's count, by the method of the analysis it belongs to.
COUNT_UNITS = {"interview": "respondents", "focus_group": "sources"}
CELL_STYLES = [
    {"selector": "td", "props": "text-align: left; vertical-align: top; min-width: 7em;"},
    {"selector": "th", "props": "text-align: left; vertical-align: top;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left;"},
    {"selector": "ul", "props": "margin: 0; padding-left: 1.1em;"},
]
TOP_ALIGNED = 'style="text-align: left; vertical-align: top;"'
TIDIER_ACTUAL = 12  # the TIDieR checklist's item "How well (actual)"


def cell_html(value: object) -> str:
    """Return an (already escaped) cell value as HTML: several lines become a bulleted list."""
    text = str(value)
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"


# --------------------------------------------------------------------------- published marks


def published_figure_id(published: dict[Call, str], measure: str, *args: str) -> str | None:
    """Return the figure id that publishes ``measure(*args)``, or ``None`` if it is synthetic.

    ``published`` is :func:`compendium.presentation.summaries.published_calls` of the package.
    """
    return published.get(Call(measure, tuple(args), ()))


def mark_count(text: str, published: bool) -> str:
    """Return ``text`` as it is, or followed by :data:`SYNTHETIC_MARK` when not published."""
    return text if published else f"{text}{SYNTHETIC_MARK}"


# --------------------------------------------------------------------------- Table 1


def table1(study: Study) -> pd.DataFrame:
    """Return Table 1: method, key findings and decisions for each stage.

    Columns are a two-level header, (MRC phase, stage); rows are :data:`TABLE1_ROWS`.
    Findings are those whose ``source`` is ``"Table 1"``, decisions those with
    ``in_table1``; several in one cell are separated by newlines, in their data order.
    """
    stages = study.stages.sort_values("stage")
    findings = study.findings
    findings = findings[findings["source"] == "Table 1"].sort_values(["stage", "position"])
    decisions = study.decisions
    decisions = decisions[decisions["in_table1"].fillna(False).astype(bool)]
    columns, cells = [], []
    for stage in stages.itertuples():
        columns.append((f"MRC phase: {stage.mrc_phase}", f"Stage {stage.stage}: {stage.name}"))
        cells.append(
            [
                stage.table1_label,
                "\n".join(findings.loc[findings["stage"] == stage.stage, "statement"]),
                "\n".join(decisions.loc[decisions["stage"] == stage.stage, "decision"]),
            ]
        )
    frame = pd.DataFrame(
        list(zip(*cells, strict=True)),
        index=pd.Index(TABLE1_ROWS),
        columns=pd.MultiIndex.from_tuples(columns, names=["MRC phase", "Stage"]),
    )
    return frame.replace("", NONE_MARK)


# --------------------------------------------------------------------------- Table 2


def table2_evidence(study: Study) -> pd.DataFrame:
    """Return Table 2's counts in long form: one row per concept and piece of evidence.

    Stage 1 rows count the reviewed programmes that contain the concept; stage 2 and 3 rows
    give each linked code's count in its unit (respondents for interviews, sources for focus
    groups), computed NVivo-style. ``figure_id`` names the published figure for the count,
    or is missing when the count is synthetic.

    Returns
    -------
    pandas.DataFrame
        Columns ``concept_id, stage, code_id, label, count, total, unit, figure_id``.
    """
    published = published_calls(study.published_figures)
    concepts = study.concepts.sort_values("position")
    programme_links = study.programme_concepts
    n_programmes = len(study.programmes)
    rows = []
    for concept in concepts.itertuples():
        k = int((programme_links["concept_id"] == concept.concept_id).sum())
        if k:
            rows.append(
                {
                    "concept_id": concept.concept_id,
                    "stage": 1,
                    "code_id": pd.NA,
                    "label": "reviewed programmes",
                    "count": k,
                    "total": n_programmes,
                    "unit": "programmes",
                    "figure_id": published_figure_id(published, "programmes", concept.concept_id),
                }
            )
    counts = code_counts(study.codes, study.segments, study.codings)
    codes = study.codes.set_index("code_id")
    activities = study.activities.set_index("activity_id")
    links = study.concept_codes.merge(concepts[["concept_id", "position"]], on="concept_id")
    links["activity_id"] = links["code_id"].map(codes["activity_id"])
    links["stage"] = links["activity_id"].map(activities["stage"]).astype(int)
    links["code_position"] = links["code_id"].map(codes["position"])
    links = links.sort_values(["position", "stage"], kind="stable")
    for link in links.itertuples():
        rows.append(
            {
                "concept_id": link.concept_id,
                "stage": link.stage,
                "code_id": link.code_id,
                "label": codes.at[link.code_id, "name"],
                "count": int(counts.at[link.code_id, "sources"]),
                "total": pd.NA,
                "unit": COUNT_UNITS[activities.at[link.activity_id, "method"]],
                "figure_id": published_figure_id(published, "sources", link.code_id),
            }
        )
    frame = pd.DataFrame(rows)
    frame["count"] = frame["count"].astype("Int64")
    frame["total"] = frame["total"].astype("Int64")
    return frame


def evidence_text(row) -> str:
    """Return one stage-2/3 evidence line of Table 2, e.g. ``Befriending: 7 sources``."""
    return mark_count(f"{row.label}: {row.count} {row.unit}", pd.notna(row.figure_id))


def concept_review_text(study: Study, concept_id: str) -> str:
    """Return a concept's stage-1 evidence as Table 2 words it.

    ``<k> of <n> reviewed programmes`` (marked when the paper did not print ``k``), or the
    concept's ``stage1_statement`` when no reviewed programme contains it, else
    :data:`NONE_MARK`.
    """
    k = int((study.programme_concepts["concept_id"] == concept_id).sum())
    if k:
        figure = published_figure_id(
            published_calls(study.published_figures), "programmes", concept_id
        )
        return mark_count(f"{k} of {len(study.programmes)} reviewed programmes", figure is not None)
    statement = study.concepts.set_index("concept_id").at[concept_id, "stage1_statement"]
    return statement if pd.notna(statement) else NONE_MARK


def quote_text(quote: pd.Series, full_source: bool = True) -> str:
    """Return a published quote in quotation marks with its attribution.

    The attribution is the speaker's label (when the paper gives one) and where the quote is
    printed; with ``full_source`` it also names the article and licence
    (:func:`compendium.presentation.summaries.quote_attribution`), which a table can leave to its caption.
    ``[…]`` marks a quote whose recovered text stops short of the paper's.
    """
    cut = " [\u2026]" if quote["truncated"] else ""
    if full_source:
        attribution = quote_attribution(quote)
    else:
        speaker = quote["label"] if isinstance(quote["label"], str) else "speaker not labelled"
        attribution = f"{speaker}; {quote['location']}"
    return f"\u201c{quote['text']}{cut}\u201d ({attribution})"


def table2(study: Study) -> pd.DataFrame:
    """Return Table 2: each concept's definition, its evidence at stages 1-3, and quotes.

    A stage-1 cell reads ``<k> of <n> reviewed programmes``, or the concept's
    ``stage1_statement`` when no reviewed programme is linked to it. Stage 2 and 3 cells list
    each linked code with its count; a cell with nothing reads :data:`NONE_MARK`. Counts the
    paper did not print carry :data:`SYNTHETIC_MARK`.
    """
    evidence = table2_evidence(study)
    quotes = study.quotes
    shown = sorted({1, *evidence["stage"]})  # stage 1 always: it may hold statements only
    stage_names = {
        s.stage: f"Stage {s.stage}: {s.name}" for s in study.stages.itertuples() if s.stage in shown
    }
    rows = {}
    for concept in study.concepts.sort_values("position").itertuples():
        own = evidence[evidence["concept_id"] == concept.concept_id]
        row = {"Definition": concept.definition}
        for stage, column in stage_names.items():
            if stage == 1:
                row[column] = concept_review_text(study, concept.concept_id)
                continue
            lines = [evidence_text(r) for r in own[own["stage"] == stage].itertuples()]
            row[column] = "\n".join(lines) or NONE_MARK
        said = quotes[quotes["concept_id"] == concept.concept_id]
        row["Illustrative quotes"] = (
            "\n".join(quote_text(q, full_source=False) for _, q in said.iterrows()) or NONE_MARK
        )
        rows[concept.name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Concept"
    return frame


# --------------------------------------------------------------------------- Table 3


def table3(study: Study) -> pd.DataFrame:
    """Return Table 3: area, decision and rationale of every specification-level decision.

    Rows are grouped by area, areas in the order they first appear, and decisions keep
    ``decision_id`` order within an area. The index is (area, decision id).
    """
    specs = study.decisions
    specs = specs[specs["level"] == "specification"].sort_values("decision_id")
    first_seen = {area: i for i, area in enumerate(dict.fromkeys(specs["area"]))}
    specs = specs.sort_values("area", key=lambda a: a.map(first_seen), kind="stable")
    frame = specs.set_index(["area", "decision_id"])[["decision", "rationale"]]
    frame.index.names = ["Area", "ID"]
    frame.columns = ["Decision", "Rationale"]
    return frame


# --------------------------------------------------------------------------- display


def styled_table(frame: pd.DataFrame, uuid: str, caption: str):
    """Return a readable :class:`pandas.io.formats.style.Styler` for ``frame``.

    Text is HTML-escaped, a cell of several lines becomes a bulleted list, and the element ids
    are fixed by ``uuid`` so that rebuilding the book gives identical HTML.
    """
    return (
        style_table(frame, uuid, caption, hide_index=False)
        .format(cell_html, escape="html", na_rep=NONE_MARK)
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
        .set_table_styles(CELL_STYLES)
        .set_table_attributes('class="compendium-table"')
    )


def csv_text(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV with flat headers: index levels become ordinary columns."""
    flat = frame.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" / ".join(str(level) for level in col) for col in flat.columns]
    if isinstance(flat.index, pd.RangeIndex):
        return flat.to_csv(index=False)
    flat.index.names = [name or "" for name in flat.index.names]
    return flat.reset_index().to_csv(index=False)


def csv_download_link(frame: pd.DataFrame, filename: str) -> str:
    """Return an ``<a download>`` link holding ``frame`` as a base64 CSV ``data:`` URL.

    The link needs no server or network: the browser saves the embedded bytes.
    """
    payload = base64.b64encode(csv_text(frame).encode("utf-8")).decode("ascii")
    name = html.escape(filename)
    return f'<a download="{name}" href="data:text/csv;base64,{payload}">Download {name} (CSV)</a>'


def downloadable_table(frame: pd.DataFrame, name: str, caption: str):
    """Return an HTML display object: ``frame`` styled, then a link to download it as CSV.

    ``name`` fixes the table's element ids (:func:`styled_table`) and names the file
    ``<name>.csv``.
    """
    from IPython.display import HTML

    link = f'<p class="table-download">{csv_download_link(frame, f"{name}.csv")}</p>'
    return HTML(styled_table(frame, name, caption).to_html() + link)


# --------------------------------------------------------------------------- final intervention


def component_quantity(study: Study, unit: str) -> int:
    """Return the quantity of the one component measured in ``unit`` (e.g. 10 for sessions).

    Raises
    ------
    ValueError
        If no component, or more than one, is measured in ``unit``.
    """
    components = study.components
    match = components[components["unit"] == unit]
    if len(match) != 1:
        raise ValueError(
            f"components.csv: expected one component measured in {unit!r}, found {len(match)}"
        )
    return int(match["quantity"].iloc[0])


def quantity_text(study: Study, unit: str) -> str:
    """Return ``"<quantity> <unit>"`` for the component measured in ``unit``, e.g. ``10 sessions``."""
    return f"{component_quantity(study, unit)} {unit}"


def structured_components(study: Study) -> pd.DataFrame:
    """Return each component that has parts, with how many and their names in order.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``component_id``: ``name``, ``parts`` (count) and ``part_names`` (list).
    """
    components = study.components
    parts = components.dropna(subset=["parent_id"]).groupby("parent_id", sort=False)["name"]
    frame = components.set_index("component_id").loc[list(parts.groups), ["name"]]
    frame["parts"] = parts.size().reindex(frame.index).astype(int)
    frame["part_names"] = parts.agg(list).reindex(frame.index)
    return frame


def decisions_by_component(decisions: pd.DataFrame) -> dict[str, list[str]]:
    """Return ``{component_id: [decision_id, ...]}`` for the decisions that shaped each component."""
    shaped = decisions.dropna(subset=["component_id"])
    return shaped.groupby("component_id", sort=False)["decision_id"].agg(list).to_dict()


def _component_html(component, children: pd.DataFrame, shaped: dict[str, list[str]]) -> str:
    amount = (
        f" ({int(component.quantity)} {html.escape(component.unit)})"
        if pd.notna(component.quantity)
        else ""
    )
    decisions = shaped.get(component.component_id, [])
    links = ", ".join(f'<a href="{decision_href(d)}">{html.escape(d)}</a>' for d in decisions)
    shaped_by = f'<br><span class="shaped-by">Shaped by: {links}</span>' if links else ""
    parts = ""
    own = children[children["parent_id"] == component.component_id]
    if len(own):
        items = "".join(_component_html(c, children, shaped) for c in own.itertuples())
        parts = f'<ol class="component-parts">{items}</ol>'
    tag = "li" if pd.notna(component.parent_id) else "div"
    return (
        f'<{tag} class="component" id="{anchor("component", component.component_id)}">'
        f"<strong>{html.escape(component.name)}</strong>{amount}: "
        f"{html.escape(component.description)}{shaped_by}{parts}</{tag}>"
    )


def tidier_html(study: Study) -> str:
    """Return the final intervention as an HTML table of the 12 TIDieR items.

    Each item lists its components (parts nested beneath their parent), each with the id
    ``anchor("component", id)`` and links to the decisions that shaped it on the trace page.
    Item 12, "how well (actual)", also lists the pilot trial's attendance
    (:func:`pilot_attendance`).
    """
    components = study.components
    shaped = decisions_by_component(study.decisions)
    top = components[components["parent_id"].isna()]
    children = components[components["parent_id"].notna()]
    rows = []
    for item in study.tidier.sort_values("item").itertuples():
        own = top[top["tidier_item"] == item.item]
        cell = "".join(_component_html(c, children, shaped) for c in own.itertuples())
        if item.item == TIDIER_ACTUAL:
            cell += _attendance_html(study)
        rows.append(
            f"<tr><td {TOP_ALIGNED}>{item.item}</td>"
            f'<th scope="row" {TOP_ALIGNED}>{html.escape(item.name)}</th>'
            f"<td {TOP_ALIGNED}>{html.escape(item.description)}</td>"
            f"<td {TOP_ALIGNED}>{cell or NONE_MARK}</td></tr>"
        )
    return (
        '<table class="compendium-table tidier">'
        "<caption>The intervention as it left development, by TIDieR item</caption>"
        f"<thead><tr><th {TOP_ALIGNED}>Item</th><th {TOP_ALIGNED}>TIDieR heading</th>"
        f"<th {TOP_ALIGNED}>Description</th><th {TOP_ALIGNED}>Components</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _attendance_html(study: Study) -> str:
    attendance = pilot_attendance(study)
    items = "".join(
        f"<li>{html.escape(pattern)}: {row['participants']} ({row['percent']}%)</li>"
        for pattern, row in attendance.iterrows()
    )
    return f'<p>Pilot trial interviewees:</p><ul class="attendance">{items}</ul>'


def trial_activity(study: Study) -> str:
    """Return the interview activity of the randomised trial: the one whose people have an arm.

    Raises
    ------
    ValueError
        If no interview activity, or more than one, has participants with an ``arm``.
    """
    people = study.participants
    activities = study.activities.set_index("activity_id")["method"]
    with_arm = people.loc[people["arm"].notna(), "activity_id"].drop_duplicates()
    found = [a for a in with_arm if activities[a] == "interview"]
    if len(found) != 1:
        raise ValueError(
            f"participants.csv: expected one interview activity with trial arms, found {found}"
        )
    return found[0]


def pilot_attendance(study: Study) -> pd.DataFrame:
    """Return how many interviewed trial participants gave each attendance pattern.

    Counts and percentages (of those interviewed, rounded half up) pass through
    :func:`compendium.analysis.disclosure.suppress_small_counts` at the configured threshold.

    Returns
    -------
    pandas.DataFrame
        Indexed by attendance pattern, most common first: ``participants``, ``percent``.
    """
    counts = attendance_patterns(study, trial_activity(study))
    frame = counts.to_frame()
    frame["percent"] = (100 * counts / counts.sum() + 0.5).astype(int)
    return suppress_small_counts(frame, ["participants"], ["percent"], small_cell_threshold())


def attended_all_sessions(study: Study) -> tuple[int, int]:
    """Return (trial interviewees who attended every session offered, trial interviewees).

    "Every session" is the quantity of the component measured in sessions.
    """
    offered = component_quantity(study, "sessions")
    people = attendance(study, trial_activity(study))
    return int((people["sessions_attended"] == offered).sum()), len(people)


# --------------------------------------------------------------------------- reproduction


def reproduction_summary(table: pd.DataFrame) -> str:
    """Return ``"N of M published figures reproduced"`` for a reproduction table."""
    return f"{int(table['matches'].sum())} of {len(table)} published figures reproduced"


def reproduction_display(table: pd.DataFrame) -> pd.DataFrame:
    """Return the reproduction table with readable headers and a tick or cross per figure."""
    shown = table.rename(
        columns={
            "figure_id": "Figure",
            "description": "What is counted",
            "published": "Paper",
            "regenerated": "Regenerated",
            "location": "Where in the paper",
            "status": "Status",
        }
    ).set_index("Figure")
    shown["Match"] = table["matches"].map({True: "\u2713", False: "\u2717"}).to_numpy()
    for column in ("Paper", "Regenerated"):
        shown[column] = shown[column].map(lambda v: f"{v:g}")
    return shown[
        ["What is counted", "Paper", "Regenerated", "Match", "Where in the paper", "Status"]
    ]
