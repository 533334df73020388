"""Stage chapters: this study's are instances of the engine's templates, which run on any package."""

from __future__ import annotations

import pytest

from compendium import paths
from compendium.build.templates import chapter_kind, chapter_stage, missing_cells, render_chapter
from compendium.contract.descriptor import read_descriptor
from compendium.contract.schema import (
    descriptor_text,
    package_descriptor,
    package_metadata,
    read_package_json,
)


@pytest.fixture(scope="module")
def descriptor():
    return read_descriptor(paths.DEFAULT_DATA_DIR)


@pytest.mark.parametrize("stage_id", ["1", "2", "3", "4", "5"])
def test_each_stage_chapter_is_an_instance_of_its_template(descriptor, stage_id):
    stage = descriptor.stage(stage_id)
    text = (paths.BOOK_DIR / f"{stage.chapter}.md").read_text(encoding="utf-8")
    assert chapter_kind(text) == stage.template
    assert chapter_stage(text) == stage_id
    assert missing_cells(text, render_chapter(stage.template, descriptor, stage)) == []


def test_a_chapter_that_drops_a_template_cell_is_caught(descriptor):
    stage = descriptor.stage("2")
    text = (paths.BOOK_DIR / f"{stage.chapter}.md").read_text(encoding="utf-8")
    edited = text.replace("chapter.show(sections.findings(chapter))", "pass")
    assert missing_cells(edited, render_chapter(stage.template, descriptor, stage)) == [
        "chapter.show(sections.findings(chapter))"
    ]


def minimal_package(tmp_path):
    """This study's package with only the core and its focus groups: no review, quotes, trace,
    intervention, published figures, trial or double coding."""
    from compendium.contract.schema import module_of

    source, target = paths.DEFAULT_DATA_DIR, tmp_path / "data"
    target.mkdir()
    package = read_package_json(source)
    keep = {
        r["name"]
        for r in package["resources"]
        if module_of(r["name"]).name in ("core", "focus_groups")
    }
    for name in keep:
        (target / f"{name}.csv").write_bytes((source / f"{name}.csv").read_bytes())
    (target / "study.yaml").write_bytes((source / "study.yaml").read_bytes())
    # Without the review module, nothing can back the programmes the review reports.
    activities = target / "activities.csv"
    activities.write_text(
        activities.read_text(encoding="utf-8").replace(",19,programmes,published", ",,programmes,"),
        encoding="utf-8",
    )
    rewritten = package_descriptor(read_descriptor(target), keep, package_metadata(package))
    (target / "datapackage.json").write_text(descriptor_text(rewritten), encoding="utf-8")
    return target


def html_outputs(notebook) -> str:
    return "\n".join(
        o.get("data", {}).get("text/html", "")
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


@pytest.mark.slow
@pytest.mark.parametrize(("stage_id", "notes"), [("1", 5), ("4", 8)])
def test_a_template_on_a_minimal_package_says_what_does_not_apply(
    tmp_path, execute_once, descriptor, stage_id, notes
):
    from compendium.contract.validation import validate_package

    data_dir = minimal_package(tmp_path)
    assert validate_package(data_dir) == []
    stage = descriptor.stage(stage_id)
    notebook = execute_once(render_chapter(stage.template, descriptor, stage), data_dir)
    html = html_outputs(notebook)
    assert html.count("Not applicable:") == notes
    assert not [
        o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]


# --------------------------------------------------------------------------- provenance


def uncredited(notebook) -> list[str]:
    """Return the outputs shown from data whose provenance line names no data file.

    Each table or figure is followed by its provenance line; a line that says "from no data
    files" may only follow a not-applicable note (which has no line of its own) or an output of
    a cell tagged ``volatile`` (the software environment).
    """
    found, previous = [], None
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is None:
                continue
            line = 'class="provenance"' in html
            if line and "no data files" in html and previous is not None:
                volatile = "volatile" in cell.get("metadata", {}).get("tags", [])
                if "not-applicable" not in previous and not volatile:
                    found.append(previous[:200])
            if not line:
                previous = html
    return found


@pytest.mark.parametrize("stage_id", ["1", "2", "3", "4", "5"])
def test_each_stage_output_names_the_data_it_was_made_from(descriptor, stage_id):
    # The accepted outputs are the chapter's own: test_verify re-executes every chapter and
    # fails when its outputs differ from them.
    import nbformat

    from compendium.build.verification import reference_path

    source = paths.BOOK_DIR / f"{descriptor.stage(stage_id).chapter}.md"
    notebook = nbformat.read(reference_path(source), as_version=4)
    lines = [
        o["data"]["text/html"]
        for c in notebook.cells
        for o in c.get("outputs", [])
        if 'class="provenance"' in o.get("data", {}).get("text/html", "")
    ]
    assert lines, "a stage chapter shows at least one table with its provenance line"
    assert uncredited(notebook) == []


def test_an_uncredited_data_table_is_caught():
    import nbformat

    table = {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<table/>"}}
    line = '<p class="provenance">Made by <code>x</code> from no data files; compendium</p>'
    credited = line.replace("no data files", "<code>codes.csv</code>")
    cell = nbformat.v4.new_code_cell("chapter.show(table)")
    cell.outputs = [
        nbformat.from_dict(table),
        nbformat.from_dict({**table, "data": {"text/html": line}}),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert uncredited(notebook) == ["<table/>"]
    cell.outputs[1]["data"]["text/html"] = credited
    assert uncredited(notebook) == []
