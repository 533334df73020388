"""The study-wide chapters: instances of their templates, executed on this study and on a minimal package.

Each of the six chapters (overview, the paper's tables, the trace, the intervention,
reproduction, provenance) must contain every code cell of its template, filled in for this
study, in order; it must execute on the committed package, glue its numbers with their origin
marks, and name under every output the data it was made from. Each template must also execute
on a package holding only the core tables (and the focus groups this study's core records point
to), showing short not-applicable notes where a module is absent, never a traceback.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
import yaml
from test_stage_chapters import minimal_package as core_package

from compendium import paths
from compendium.build.templates import chapter_kind, missing_cells, render_chapter, templates
from compendium.contract.descriptor import read_descriptor
from compendium.contract.loading import load_study

STUDY_KINDS = ("overview", "paper-tables", "trace", "intervention", "reproduction", "provenance")
GLUE = "application/papermill.record/text/plain"


def page(kind: str) -> str:
    return templates()[kind].page


def glued(notebook) -> dict[str, str]:
    """Return every value the notebook glued, as the text the prose shows."""
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                found[name] = output["data"][GLUE].strip("'\"")
    return found


def html_outputs(notebook) -> list[tuple[dict, str]]:
    """Return (cell metadata, HTML) of every HTML output, in order."""
    return [
        (cell.metadata, output["data"]["text/html"])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&#39;", "'")


def check_outputs(notebook) -> list[str]:
    """Return the notes shown; fail on an error output or on an uncredited data output."""
    notes = []
    previous = None
    for metadata, html in html_outputs(notebook):
        if "not-applicable" in html:
            notes.append(text(html))
        if 'class="provenance"' in html and "no data files" in html:
            # Only a note, or the table of the software environment, is made from no data.
            assert previous is not None
            assert "not-applicable" in previous or "volatile" in metadata.get("tags", []), previous[
                :300
            ]
        previous = html
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", output
    return notes


# --------------------------------------------------------------------------- this study


@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_chapter_is_an_instance_of_its_template(kind):
    chapter = (paths.BOOK_DIR / f"{page(kind)}.md").read_text(encoding="utf-8")
    template = render_chapter(kind, read_descriptor(paths.DEFAULT_DATA_DIR))
    assert chapter_kind(chapter) == kind
    assert missing_cells(chapter, template) == []
    assert "To write:" not in chapter  # this study's narrative replaced every slot


@pytest.mark.slow
@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_chapter_executes_and_credits_its_data(kind, book_chapter):
    notebook = book_chapter(page(kind))
    assert check_outputs(notebook) == []  # this study's package has every module


@pytest.mark.slow
def test_overview_marks_its_numbers_and_describes_its_figure_truthfully(book_chapter):
    notebook = book_chapter("intro")
    values = glued(notebook)
    assert values["stages"] == "5"  # published: no mark
    assert values["figures_listed"] == values["figures_reproduced"] == "66"
    outputs = " ".join(html for _, html in html_outputs(notebook))
    assert "Where each word and number comes from." in outputs
    alt = unescape(re.search(r'alt="(Diagram of [^"]+)"', outputs).group(1))
    assert alt.startswith("Diagram of 5 stages in 2 phases of the MRC framework")
    assert "9 in all" in alt and "4 noted as the paper's words" in alt
    assert "1 noted as our paraphrase of the paper" in alt
    assert "4 noted as reconstructed, not printed as such" in alt
    assert "it is not a copy of any figure of the paper" in outputs
    assert "redraws the paper" not in (paths.BOOK_DIR / "intro.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_paper_tables_chapter_shows_three_marked_tables(book_chapter):
    notebook = book_chapter("paper-tables")
    outputs = [html for _, html in html_outputs(notebook)]
    for table_id in ("table1", "table2", "table3"):
        assert any(f'download="summary-{table_id}.csv"' in html for html in outputs)
    values = glued(notebook)
    assert int(values["t2_published"]) > 0 and int(values["t2_synthetic"]) > 0
    joined = " ".join(outputs)
    assert "Stage 2: CRT service user interviews" in joined
    assert "table wording from" not in joined  # no caption claims the whole table is the paper's


@pytest.mark.slow
def test_trace_chapter_glues_marked_counts_and_passes_its_checks(book_chapter):
    notebook = book_chapter("trace")
    values = glued(notebook)
    assert values["findings"] == "24\u2020"
    assert values["links"] == "48\u2020"
    assert (values["acted_on"], values["set_aside"]) == ("20\u2020", "4\u2020")
    assert values["checks_passed"] == values["checks"] == "4"
    outputs = " ".join(html for _, html in html_outputs(notebook))
    assert "plotly-graph-div" in outputs or "Plotly.newPlot" in outputs
    assert outputs.count('<details class="decision"') == 31


@pytest.mark.slow
def test_intervention_chapter_reports_delivery_with_origins(book_chapter):
    values = glued(book_chapter("intervention"))
    assert values["quantity_K03"] == "10 sessions"
    assert values["quantity_K04"] == "3 months"
    assert values["parts_K02"] == "4"
    assert (values["interviewed"], values["all_sessions"]) == ("18", "7")
    assert values["all_sessions_percent"] == "39"
    assert values["plan_name"] == "Adapted Personal Recovery Plan (our paraphrase of the paper)"


@pytest.mark.slow
def test_reproduction_chapter_says_what_a_match_means(book_chapter):
    notebook = book_chapter("reproduction")
    values = glued(notebook)
    assert values["summary"] == "66 of 66 listed figures reproduced"
    assert values["mismatches"] == "none"
    outputs = " ".join(text(html) for _, html in html_outputs(notebook))
    assert "It is not an independent replication of the study." in outputs


@pytest.mark.slow
def test_provenance_chapter_counts_the_package(book_chapter):
    notebook = book_chapter("provenance")
    values = glued(notebook)
    study = load_study(paths.DEFAULT_DATA_DIR)
    assert int(values["files"]) == len(study.tables) + 2
    assert int(values["rows"]) == sum(len(t) for t in study.tables.values())


# --------------------------------------------------------------------------- a minimal package


def without_tables(package: Path) -> Path:
    """Drop the summary tables from a package's study descriptor (none of its rows names one)."""
    spec = yaml.safe_load((package / "study.yaml").read_text(encoding="utf-8"))
    spec.pop("tables")
    (package / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return package


@pytest.fixture(scope="module")
def minimal(tmp_path_factory) -> Path:
    package = core_package(tmp_path_factory.mktemp("minimal"))
    assert sorted(load_study(package).tables) == sorted(
        ["activities", "coders", "participants", "codes", "segments", "codings", "focus_groups"]
    )
    return package


@pytest.fixture(scope="module")
def executed_minimal(minimal, execute_once):
    """Each template executed on the minimal package (once per run, across workers)."""

    def executed(kind: str):
        return execute_once(render_chapter(kind, read_descriptor(minimal)), minimal)

    return executed


#: What each template must say it cannot show for the minimal package.
EXPECTED_NOTES = {
    "overview": ["Checking the paper's numbers needs the published figures module"],
    "paper-tables": [
        "Table 1: the development process at a glance (stage summary) needs the findings and decisions module",
        "Table 2: where each ingredient of the intervention came from (concept evidence) needs the evidence review module",
        "Table 3: specifications of the programme (specifications) needs the findings and decisions module",
    ],
    "trace": [
        "the package records no link from a finding to a decision.",
        "Checking the trace needs the findings and decisions module",
        "Listing the findings set aside needs the findings and decisions module",
        "the package records no findings or no decisions.",
        "The decision-by-decision evidence needs the findings and decisions module",
    ],
    "intervention": [
        "The TIDieR description needs the intervention module",
        "Reporting how the intervention was taken up needs the trial flow and attendance module",
    ],
    "reproduction": [
        "Checking the paper's numbers needs the published figures module",
        "Checking the paper's numbers needs the published figures module",
    ],
    "provenance": [],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_template_executes_on_a_minimal_package_with_notes(kind, executed_minimal):
    notes = check_outputs(executed_minimal(kind))
    shown = " | ".join(notes)
    for expected in EXPECTED_NOTES[kind]:
        assert expected in shown, (expected, shown)
    if kind == "trace":  # a trace figure counts two of the notes: the Sankey and its static twin
        assert len(notes) == len(EXPECTED_NOTES[kind]) + 1
    else:
        assert len(notes) == len(EXPECTED_NOTES[kind])


@pytest.mark.slow
def test_minimal_overview_draws_stages_without_decisions(executed_minimal):
    notebook = executed_minimal("overview")
    outputs = " ".join(html for _, html in html_outputs(notebook))
    assert "The package records no decisions (no trace module), so none are drawn." in outputs
    assert glued(notebook)["stages"] == "5\u2020"  # no published figure says so here


@pytest.mark.slow
def test_minimal_provenance_lists_only_the_files_present(executed_minimal):
    values = glued(executed_minimal("provenance"))
    assert int(values["files"]) == 7 + 2


@pytest.mark.slow
def test_paper_tables_template_without_declared_tables(tmp_path, execute_once):
    package = without_tables(core_package(tmp_path))
    rendered = render_chapter("paper-tables", read_descriptor(package))
    assert "## No tables declared" in rendered
    notes = check_outputs(execute_once(rendered, package))
    assert notes == ["Not applicable: the study declares no summary tables (study.yaml)."]


# --------------------------------------------------------------------------- the second example

EXAMPLE = paths.ROOT / "examples" / "restwell" / "data"
#: What each template cannot show for the fictional example (no trial, no published figures).
EXAMPLE_NOTES = {
    "overview": 1,
    "paper-tables": 0,
    "trace": 0,
    "intervention": 1,
    "reproduction": 2,
    "provenance": 0,
}
STUDY_WORDS = re.compile(r"\bCRTs?\b|crisis|Milton|peer[ _-]support|\bPSWs?\b", re.IGNORECASE)


@pytest.mark.slow
@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_template_runs_on_the_second_example_and_speaks_of_it_alone(kind, execute_once):
    descriptor = read_descriptor(EXAMPLE)
    assert descriptor.comparison is not None  # a study with a comparison group
    notebook = execute_once(render_chapter(kind, descriptor), EXAMPLE)
    assert len(check_outputs(notebook)) == EXAMPLE_NOTES[kind]
    shown = " ".join(text(html) for _, html in html_outputs(notebook))
    assert not STUDY_WORDS.search(shown), STUDY_WORDS.search(shown)
    if kind == "paper-tables":
        assert "Summary: what each stage found and decided" in shown
        assert "Planning: online needs survey (synthetic, newly written)" in shown
    if kind == "overview":
        assert glued(notebook)["stages"] == "3\u2020"
        assert "Diagram of 3 stages in 3 phases of the Person-based approach" in " ".join(
            unescape(html) for _, html in html_outputs(notebook)
        )
