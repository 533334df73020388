"""Provenance lines, the kernel's record of its inputs, and the provenance page's tables."""

from __future__ import annotations

import hashlib
from importlib.metadata import version

import pandas as pd

from compendium import __version__
from compendium.contract import loading
from compendium.contract.schema import read_package_json
from compendium.presentation.chapter import Chapter
from compendium.presentation.provenance import (
    data_files_table,
    environment_display,
    environment_table,
    fields_display,
    files_display,
    git_commit,
    kernel_inputs,
    loaded_modules,
    provenance_html,
    schema_table,
)


def test_provenance_line_names_chapter_files_hashes_version_and_commit(study):
    line = provenance_html("trace", study, {"findings.csv", "decisions.csv"})
    digest = hashlib.sha256((study.data_dir / "findings.csv").read_bytes()).hexdigest()[:8]
    assert "<code>trace</code>" in line
    assert f"<code>findings.csv</code>&nbsp;({digest})" in line
    assert line.index("decisions.csv") < line.index("findings.csv")  # sorted
    assert f"compendium {__version__}, commit <code>{git_commit()}</code>" in line


def test_chapter_show_reports_only_the_tables_read_since_the_last_output(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    chapter = Chapter("service-user-interviews")
    chapter.study.take_read()
    chapter.show(chapter.study.coders.head(1))
    chapter.study.take_read()  # a new cell
    chapter.show(chapter.study.stages.head(1))
    lines = [obj.data for obj in shown if hasattr(obj, "data")]
    assert "coders.csv" in lines[0] and "study.yaml" not in lines[0]
    assert "study.yaml" in lines[1] and "coders.csv" not in lines[1]


def test_kernel_inputs_lists_files_read_and_modules_loaded(study, monkeypatch):
    monkeypatch.setattr(loading, "READ_IN_PROCESS", set())
    monkeypatch.setattr(
        "compendium.presentation.provenance.READ_IN_PROCESS", loading.READ_IN_PROCESS
    )
    study.codings  # noqa: B018 (reading is the point)
    study.codes  # noqa: B018
    inputs = kernel_inputs()
    assert inputs["data"] == {str(study.data_dir.resolve()): ["codes.csv", "codings.csv"]}
    assert {"presentation/provenance.py", "contract/loading.py", "paths.py"} <= set(
        inputs["modules"]
    )
    assert inputs["modules"] == loaded_modules()


def test_data_files_table_has_every_file_with_rows_and_hash(study):
    files = data_files_table(study)
    package = read_package_json(study.data_dir)
    assert list(files["file"]) == ["study.yaml", "datapackage.json"] + [
        r["path"] for r in package["resources"]
    ]
    participants = files.set_index("file").loc["participants.csv"]
    assert participants["rows"] == len(study.participants)
    assert (
        participants["sha256"]
        == hashlib.sha256((study.data_dir / "participants.csv").read_bytes()).hexdigest()
    )
    assert files.loc[:1, "rows"].isna().all()
    assert int(files["rows"].sum()) == sum(len(t) for t in study.tables.values())


def test_schema_table_summarises_types_constraints_and_keys(study):
    fields = schema_table(read_package_json(study.data_dir)).set_index(["file", "field"])
    age = fields.loc[("participants.csv", "age_band")]
    assert age["type"] == "string"
    assert "one of 18-24, 25-34" in age["constraints"]
    assert fields.loc[("activities.csv", "activity_id"), "key"] == "primary"
    assert fields.loc[("codings.csv", "code_id"), "key"] == "primary, → codes.code_id"
    assert fields.loc[("decisions.csv", "parent_id"), "key"] == "→ decisions.decision_id"
    assert fields.loc[("tidier.csv", "item"), "constraints"] == "required; ≥ 1; ≤ 12"


def test_page_tables_credit_the_files_they_were_made_from(study):
    chapter = Chapter("provenance")
    files = data_files_table(chapter.study)
    assert files_display(chapter, files).compendium_reads == set(files["file"])
    fields = schema_table(read_package_json(chapter.study.data_dir))
    shown = fields_display(chapter, fields)
    assert shown.compendium_reads == {"datapackage.json"}
    assert "(datapackage.json)" in shown.data
    environment = environment_display(chapter, environment_table()).to_html()
    assert "Software that executed this page" in environment


def test_environment_table_reports_installed_versions():
    table = environment_table().set_index("component")["version"]
    assert table["pandas"] == version("pandas") == pd.__version__
    assert table["jupyter-book"] == version("jupyter-book")
    assert table["compendium"] == __version__
    assert table["git commit"] == git_commit()
