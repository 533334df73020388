"""The analysis chapters (tables, trace, intervention, reproduction) execute headless.

Each chapter is read from its MyST-Markdown source with jupytext and run with nbclient in
a fresh kernel, as the book build does; then its outputs are checked for the elements the
page promises.
"""

from __future__ import annotations

import pytest
from conftest import executed_chapter

CHAPTERS = ("paper-tables", "trace", "intervention", "reproduction")


def outputs_of(notebook) -> tuple[str, dict[str, str]]:
    """Return all ``text/html`` output joined, and the glued values by name."""
    html, glued = [], {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                html.append(data["text/html"])
            key = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                glued[key] = data.get("application/papermill.record/text/plain")
    return "\n".join(html), glued


@pytest.fixture(scope="module", params=CHAPTERS)
def executed(request):
    return request.param, outputs_of(executed_chapter(request.param))


def test_chapter_executes_and_shows_provenance(executed):
    name, (html, _) = executed
    assert f"Made by <code>{name}</code> from" in html


def test_chapter_outputs(executed, study):
    name, (html, glued) = executed
    n = len(study.published_figures)
    if name == "paper-tables":
        for table in ("table1", "table2", "table3"):
            assert f'<a download="{table}.csv" href="data:text/csv;base64,' in html
        assert glued["t1_stages"] == "5"
        assert glued["t2_published"] == "11"
    elif name == "trace":
        assert html.count('<details class="decision"') == len(study.decisions)
        assert 'class="plotly-graph-div"' in html
        assert "\u2713 passed" in html and "\u2717" not in html
        assert glued["n_aside"] == "4"
    elif name == "intervention":
        assert 'id="component-K02d"' in html
        assert glued["sessions"] == "'10 sessions'"
        assert glued["months"] == "'3 months'"
        assert glued["plan_parts"] == "4"
        assert glued["all_sessions"] == "7"
    else:
        assert glued["summary"] == f"'{n} of {n} published figures reproduced'"
        assert glued["mismatch_lines"] == "'none'"
        assert '<a download="reproduction.csv"' in html
