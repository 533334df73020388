"""The chapters execute headless, show the library's tables, and print the published numbers.

Each chapter (a MyST-Markdown notebook) is converted with jupytext and executed once with
nbclient against the committed synthetic package; the tests then read its outputs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import executed_chapter

from compendium import paths
from compendium.analysis import characteristics as ch
from compendium.presentation import summaries as sm

CHAPTERS = [
    "intro",
    "evidence-reviews",
    "service-user-interviews",
    "stakeholder-focus-groups",
    "feasibility-testing",
    "pilot-trial",
]
GLUE_PREFIX = "application/papermill.record/"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")


executed = executed_chapter


def outputs(name: str) -> list[dict]:
    return [o for c in executed(name).cells if c.cell_type == "code" for o in c.outputs]


def html_outputs(name: str) -> list[str]:
    return [o["data"]["text/html"] for o in outputs(name) if "text/html" in o.get("data", {})]


def glued(name: str) -> dict[str, str]:
    values = {}
    for o in outputs(name):
        book = o.get("metadata", {}).get("scrapbook")
        if book:
            values[book["name"]] = o["data"][GLUE_PREFIX + "text/plain"]
    return values


def table_html(name: str, table_id: str) -> str:
    (html,) = [h for h in html_outputs(name) if f'<table id="T_{table_id}">' in h]
    return html


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_executes_and_every_output_has_its_provenance(name):
    shown = html_outputs(name)
    assert not [o for o in outputs(name) if o["output_type"] == "error"]
    tables_and_figures = [
        i for i, h in enumerate(shown) if "<table id=" in h or "compendium-figure" in h
    ]
    assert tables_and_figures, f"{name} shows no table or figure"
    for i in tables_and_figures:
        assert shown[i + 1].startswith('<p class="provenance">Made by <code>'), (name, i)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_glue_role_in_the_prose_has_a_value(name):
    roles = set(GLUE_ROLE.findall((paths.BOOK_DIR / f"{name}.md").read_text(encoding="utf-8")))
    assert roles <= set(glued(name)), sorted(roles - set(glued(name)))


@pytest.mark.parametrize(
    ("name", "activity_id"),
    [
        ("service-user-interviews", "A2-INT"),
        ("stakeholder-focus-groups", "A3-FG"),
        ("feasibility-testing", "A4-INT"),
        ("feasibility-testing", "A4-FG"),
        ("pilot-trial", "A5-INT"),
        ("pilot-trial", "A5-FG"),
    ],
)
def test_theme_tables_equal_the_library(study, name, activity_id):
    assert table_html(name, f"themes-{activity_id}") == sm.theme_table(study, activity_id).to_html()


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("service-user-interviews", 2),
        ("stakeholder-focus-groups", 3),
        ("feasibility-testing", 4),
        ("pilot-trial", 5),
    ],
)
def test_characteristics_tables_equal_the_library(study, name, stage):
    expected = ch.stage_characteristics(study, stage).to_html()
    assert table_html(name, f"characteristics-stage{stage}") == expected
    assert ">Missing<" in expected or stage == 4


def test_stage_2_acceptability_numbers():
    values = glued("service-user-interviews")
    assert values["views_A2-1.1.1_sources"] == "31"
    assert values["views_A2-1.1.1_references"] == "43"
    assert values["views_A2-1.1.1_percent"] == "78"
    assert (values["views_A2-1.1_sources"], values["views_A2-1.1_references"]) == ("39", "57")
    assert (values["views_children_sources"], values["views_overlap_sources"]) == ("44", "5")
    assert values["s2_interviewed"] == "41" and values["s2_categories"] == "5"
    html = table_html("service-user-interviews", "breakdown-A2-1-1")
    assert re.search(r">Views on peer support</td>\s*<td[^>]*>39</td>\s*<td[^>]*>57</td>", html)


def test_stage_1_matrix_and_peer_review():
    values = glued("evidence-reviews")
    assert values["n_programmes"] == "19"
    html = table_html("evidence-reviews", "concept-programme-counts")
    assert re.search(
        r">Recovery</td>\s*<td[^>]*>12</td>\s*<td[^>]*>19</td>\s*<td[^>]*>published<", html
    )
    assert any('id="review-peer"' in h for h in html_outputs("evidence-reviews"))


def test_stage_3_groups_and_themes():
    values = glued("stakeholder-focus-groups")
    assert (values["s3_groups"], values["s3_sites"], values["s3_themes"]) == ("12", "5", "7")


def test_stage_4_engagement_barriers():
    values = glued("feasibility-testing")
    assert (values["barriers_A4-1_sources"], values["s4_interviewed"]) == ("5", "9")
    assert values["barriers_A4-1_percent"] == "55"
    assert (values["barriers_A4-1.1_sources"], values["barriers_A4-1.2_sources"]) == ("4", "4")
    assert (values["s4_psw_themes"], values["s4_psws"]) == ("4", "4")


def test_stage_5_flow_and_attendance():
    values = glued("pilot-trial")
    assert (values["s5_recruited"], values["s5_offered"]) == ("40", "21")
    assert (values["s5_interviewed"], values["s5_declined"]) == ("18", "3")
    assert values["s5_all_sessions"] == "7" and values["s5_themes"] == "8"
    html = table_html("pilot-trial", "flow-A5-INT")
    assert re.search(r">intervention</td>\s*<td[^>]*>interviewed</td>\s*<td[^>]*>18</td>", html)


def test_intro_draws_stages_and_counts_reproduced_figures(study):
    values = glued("intro")
    assert values["n_stages"] == str(len(study.stages))
    assert values["n_reproduced"] == values["n_published"]
    assert any("compendium-figure" in h and "<img" in h for h in html_outputs("intro"))


def test_findings_are_anchored_on_each_stage_page(study):
    pages = dict(zip(range(1, 6), CHAPTERS[1:], strict=True))
    for stage, name in pages.items():
        (html,) = [h for h in html_outputs(name) if h.startswith('<ul class="findings">')]
        assert html == sm.findings_html(study, stage)


def test_a_failing_cell_fails_the_build_and_names_the_chapter(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(paths.ROOT / "_config.yml", book / "_config.yml")
    (book / "_toc.yml").write_text("format: jb-book\nroot: broken-chapter\n", encoding="utf-8")
    (book / "broken-chapter.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "# Broken\n\n```{code-cell} ipython3\nraise RuntimeError('deliberate failure')\n```\n",
        encoding="utf-8",
    )
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(book), "--builder", "html", "-W", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "broken-chapter" in log and "deliberate failure" in log
