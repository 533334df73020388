"""Inter-coder agreement in the stage chapters: the section shows the library's figures.

Each stage chapter with coded analyses carries the ``agreement`` section of its template: per
main theme and pooled, the passages coded twice, Krippendorff's alpha and Cohen's kappa. On this
study's package the tables and the glued numbers must be exactly
:func:`compendium.analysis.agreement.agreement_table`'s; on a package without the agreement
module the section says so, analysis by analysis, and nothing fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from test_stage_chapters import html_outputs, minimal_package
from test_study_chapters import glued

from compendium.analysis.agreement import agreement_table
from compendium.build.templates import TEMPLATES_DIR

CHAPTERS = {
    "service-user-interviews": ["A2-INT"],
    "stakeholder-focus-groups": ["A3-FG"],
    "feasibility-testing": ["A4-INT", "A4-FG"],
    "pilot-trial": ["A5-INT", "A5-FG"],
}


class _Table(HTMLParser):
    """The header and body cells of the table with a given id, as text."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.cell = table_id, False, None
        self.header: list[str] = []
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table_cells(html: str, table_id: str) -> list[list[str]]:
    parser = _Table(table_id)
    parser.feed(html)
    assert parser.rows, f"no table {table_id}"
    return parser.rows


@pytest.fixture(scope="module")
def expected(study):
    return agreement_table(study.codes, study.segments, study.codings, study.double_codings)


def shown(value, text: str) -> str:
    return "–" if value != value else f"{text}\u2020"  # NaN, or the synthetic mark


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_the_section_shows_agreement_tables_figures(page, expected, book_chapter):
    notebook = book_chapter(page)
    html = html_outputs(notebook)
    values = glued(notebook)
    for analysis in CHAPTERS[page]:
        own = expected[expected["activity_id"] == analysis]
        rows = table_cells(html, f"T_agreement-{analysis}")
        header, body = rows[0], rows[1:]
        assert header[:6] == [
            "Theme",
            "Passages coded twice",
            "Coded here (first / second coder)",
            "Agreed",
            "Krippendorff's α",
            "Cohen's κ",
        ]
        assert [cells[:6] for cells in body] == [
            [
                r.theme,
                shown(r.n_segments, str(r.n_segments)),
                f"{r.first_coded} / {r.second_coded}",
                shown(r.observed, f"{r.observed:.0%}"),
                shown(r.alpha, f"{r.alpha:.2f}"),
                shown(r.kappa, f"{r.kappa:.2f}"),
            ]
            for r in own.itertuples()
        ]
        pooled = own[own["theme_id"].isna()].iloc[0]
        assert values[f"alpha_{analysis}"] == f"{pooled['alpha']:.2f}"
        assert values[f"kappa_{analysis}"] == f"{pooled['kappa']:.2f}"
        assert values[f"double_coded_{analysis}"] == str(pooled["n_segments"])


@pytest.mark.slow
def test_this_studys_interviews_agree_as_the_specification_set_them(book_chapter):
    values = glued(book_chapter("service-user-interviews"))
    assert (values["alpha_A2-INT"], values["kappa_A2-INT"]) == ("0.75", "0.75")
    assert values["double_coded_A2-INT"] == "79"
    html = html_outputs(book_chapter("pilot-trial"))
    body = table_cells(html, "T_agreement-A5-INT")[1:]
    programme = next(cells for cells in body if cells[0] == "Programme structure")
    # Neither coder used the theme on the passages coded twice: no coefficient, and why.
    assert programme[4:6] == ["–", "–"]
    assert programme[6].startswith("neither coder used this theme")


@pytest.mark.slow
def test_without_the_agreement_module_each_analysis_says_so(tmp_path, execute_once):
    data_dir = minimal_package(tmp_path)
    head = (
        "---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "```{code-cell} ipython3\nfrom compendium.book import Chapter, sections\n\n"
        'chapter = Chapter.for_stage("4")\nstudy, measures = chapter.study, chapter.measures\n```\n\n'
    )
    section = (TEMPLATES_DIR / "sections" / "agreement.md").read_text(encoding="utf-8")
    notebook = execute_once(head + section, data_dir)
    errors = [
        o for c in notebook.cells for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert errors == []
    html = html_outputs(notebook)
    for label in ("Feasibility participant interviews", "Feasibility PSW focus group"):
        assert html.count(f"no passage of {label} was coded twice: the package holds no") == 1
    assert glued(notebook)["alpha_A4-INT"] == "not defined"


def test_importing_the_book_and_the_agreement_module_loads_neither_statistics_library():
    code = (
        "import sys, compendium.book, compendium.analysis.agreement\n"
        "print(sorted(m for m in ('sklearn', 'krippendorff') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True
    )
    assert result.stdout.strip() == "[]"
