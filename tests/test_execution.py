"""The data-aware execution cache runs exactly the chapters whose inputs changed.

Each test builds a two-chapter book in a temporary folder (one chapter reads ``coders``, the
other ``activities``) on a private copy of the data package, so nothing touches the real book.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import edit_csv

from compendium import paths
from compendium.build import pipeline
from compendium.build.execution import Book, main, plan, prepare, read_notebook
from compendium.contract.loading import is_known_valid, load_study, package_fingerprint
from compendium.contract.validation import InvalidPackage

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# {table}

Some prose.

```{{code-cell}} ipython3
from compendium.book import Chapter

chapter = Chapter("{table}")
chapter.show(chapter.study.{table}.head(2))
```
"""


@pytest.fixture
def book(tmp_path, monkeypatch) -> Book:
    """A small book with two chapters and a plain page, on its own copy of the data."""
    root = tmp_path / "book"
    (root / "pages").mkdir(parents=True)
    (root / "_config.yml").write_text(
        "title: mini\nonly_build_toc_files: true\nexclude_patterns: [_build, '**/.*']\n"
        "execute:\n  execute_notebooks: cache\n  timeout: 120\n"
        "sphinx:\n  config:\n    nb_execution_raise_on_error: true\n"
    )
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: pages/index\nchapters:\n"
        "  - file: pages/coders\n  - file: pages/activities\n"
    )
    (root / "pages" / "index.md").write_text("# Mini\n\nA page without code.\n")
    for table in ("coders", "activities"):
        (root / "pages" / f"{table}.md").write_text(CHAPTER.format(table=table))
    data = tmp_path / "data"
    shutil.copytree(paths.DEFAULT_DATA_DIR, data)
    monkeypatch.setenv("COMPENDIUM_DATA", str(data))
    return Book(root)


def names(items) -> list[str]:
    return sorted(Path(p).stem for p in items)


def cached_notebook_text(book: Book, chapter: str) -> str:
    state = json.loads((book.state_dir / "execution.json").read_text())
    hashkey = state["chapters"][f"pages/{chapter}.md"]["hashkey"]
    return (book.cache_dir() / "executed" / hashkey / "base.ipynb").read_text()


@pytest.mark.slow
def test_cold_run_executes_every_chapter_then_nothing(book):
    first = prepare(book, log=lambda _: None)
    assert names(first.executed) == ["activities", "coders"] and not first.failed
    second = prepare(book, log=lambda _: None)
    assert second.executed == [] and names(second.fresh) == ["activities", "coders"]
    last = json.loads((book.state_dir / "last-run.json").read_text())
    assert last["executed"] == [] and sorted(last["fresh"]) == [
        "pages/activities.md",
        "pages/coders.md",
    ]


@pytest.mark.slow
def test_kernel_reports_the_files_and_modules_it_used(book):
    prepare(book, log=lambda _: None)
    state = json.loads((book.state_dir / "execution.json").read_text())
    inputs = state["chapters"]["pages/coders.md"]["inputs"]
    data = sorted(Path(k.partition(":")[2]).name for k in inputs if k.startswith("data:"))
    assert data == ["coders.csv"]  # loaded all, validated all, but read only this one
    assert {"module:presentation/provenance.py", "module:contract/loading.py"} <= set(inputs)
    assert state["chapters"]["pages/index.md"] == {
        "notebook": False,
        "source": state["chapters"]["pages/index.md"]["source"],
    }


@pytest.mark.slow
def test_editing_one_data_file_reexecutes_only_its_readers(book):
    prepare(book, log=lambda _: None)
    data = Path(os.environ["COMPENDIUM_DATA"])
    edit_csv(data / "coders.csv", 2, "role", "Edited Role")
    assert [(s.source.stem, s.reason) for s in plan(book).stale] == [
        ("coders", "data changed: coders.csv")
    ]
    report = prepare(book, log=lambda _: None)
    assert names(report.executed) == ["coders"] and names(report.fresh) == ["activities"]
    assert "Edited Role" in cached_notebook_text(book, "coders")


@pytest.mark.slow
def test_an_edit_made_after_planning_is_run_by_the_next_build(book):
    from compendium.build.execution import plan_ahead

    planned = plan_ahead(book)  # as make book plans, before its check
    coders = book.root / "pages" / "coders.md"
    coders.write_text(coders.read_text().replace(".head(2)", ".head(3)"))
    first = prepare(book, log=lambda _: None, planned=planned)
    assert names(first.executed) == ["activities", "coders"]
    assert ".head(2)" in cached_notebook_text(book, "coders")  # the text that was planned
    # The record holds the hash of the text executed, not of the file at the end.
    assert [(s.source.stem, s.reason) for s in plan(book).stale] == [("coders", "code changed")]
    assert names(prepare(book, log=lambda _: None).executed) == ["coders"]
    assert ".head(3)" in cached_notebook_text(book, "coders")


@pytest.mark.slow
def test_prose_edits_run_nothing_and_code_edits_run_that_chapter(book):
    prepare(book, log=lambda _: None)
    activities = book.root / "pages" / "activities.md"
    activities.write_text(activities.read_text().replace("Some prose.", "Other prose."))
    assert prepare(book, log=lambda _: None).executed == []
    coders = book.root / "pages" / "coders.md"
    coders.write_text(coders.read_text().replace(".head(2)", ".head(3)"))
    pending = plan(book)
    assert [(s.source.stem, s.reason) for s in pending.stale] == [("coders", "code changed")]
    assert names(prepare(book, log=lambda _: None).executed) == ["coders"]


@pytest.mark.slow
def test_a_changed_package_module_reexecutes_the_chapters_that_loaded_it(book):
    prepare(book, log=lambda _: None)
    state = json.loads((book.state_dir / "execution.json").read_text())
    # As if the kernel had seen another version of provenance.py (editing the real one would
    # disturb every other test): the plan must name it.
    state["chapters"]["pages/activities.md"]["inputs"]["module:presentation/provenance.py"] = (
        "0" * 64
    )
    assert [(s.source.stem, s.reason) for s in plan(book, state).stale] == [
        ("activities", "package code changed: presentation/provenance.py")
    ]


@pytest.mark.slow
def test_invalid_data_stops_before_anything_runs(book, capsys):
    prepare(book, log=lambda _: None)
    data = Path(os.environ["COMPENDIUM_DATA"])
    edit_csv(data / "participants.csv", 12, "age_band", "99+")  # read by neither chapter
    with pytest.raises(InvalidPackage, match=r"participants.csv:12: column 'age_band'"):
        prepare(book, log=lambda _: None)
    assert main(["--root", str(book.root)]) == 1
    assert "participants.csv:12: column 'age_band'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failing_chapter_fails_and_keeps_no_stale_outputs(book):
    prepare(book, log=lambda _: None)
    coders = book.root / "pages" / "coders.md"
    coders.write_text(coders.read_text().replace(".head(2))", ".head(2))\n1 / 0"))
    lines = []
    report = prepare(book, log=lines.append)
    assert names(report.failed) == ["coders"] and report.executed == []
    assert any("ZeroDivisionError" in line for line in lines)
    assert (book.state_dir / "reports" / "pages__coders.md.log").is_file()
    assert (
        "pages/coders.md"
        not in json.loads((book.state_dir / "execution.json").read_text())["chapters"]
    )
    assert main(["--root", str(book.root)]) == 1


def test_markdown_pages_without_code_are_not_notebooks(book):
    assert read_notebook(book.root / "pages" / "index.md") is None
    cells = read_notebook(book.root / "pages" / "coders.md").cells
    assert [cell.cell_type for cell in cells] == ["markdown", "code"]


# --------------------------------------------------------------------------- validation cache


def test_validation_is_remembered_only_for_identical_bytes(package_copy):
    fingerprint = package_fingerprint(package_copy)
    load_study(package_copy)
    assert is_known_valid(fingerprint)
    edit_csv(package_copy / "coders.csv", 2, "role", "Someone else")
    assert package_fingerprint(package_copy) != fingerprint
    edit_csv(package_copy / "participants.csv", 12, "age_band", "99+")
    with pytest.raises(InvalidPackage, match=r"participants.csv:12: column 'age_band'"):
        load_study(package_copy)
    assert not is_known_valid(package_fingerprint(package_copy))


def test_a_remembered_package_loads_without_importing_frictionless():
    load_study(paths.DEFAULT_DATA_DIR)  # make sure it is remembered
    code = (
        "import sys; from compendium.contract.loading import load_study; s = load_study(); "
        "print(len(s.participants), 'frictionless' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rows = len(load_study(paths.DEFAULT_DATA_DIR).participants)
    assert out.stdout.split() == [str(rows), "False"]


# --------------------------------------------------------------------------- scaled data for the benchmark


def test_scaled_tables_look_like_the_package_at_any_size(study):
    from compendium.analysis.themes import code_counts
    from compendium.contract.synthesis import scaled_tables

    tables = scaled_tables(5000, n_participants=400, seed=3)
    for name, frame in tables.items():
        real = getattr(study, name)
        assert list(frame.columns) == list(real.columns), name
        assert [str(t) for t in frame.dtypes] == [str(t) for t in real.dtypes], name
    assert len(tables["segments"]) == 5000
    assert 390 <= len(tables["participants"]) <= 420
    assert not tables["codings"].duplicated().any()
    # Every coding stays inside the analysis its segment belongs to.
    people = tables["participants"].set_index("participant_id")["activity_id"]
    segments = tables["segments"].set_index("segment_id")["participant_id"]
    codes = tables["codes"].set_index("code_id")["activity_id"]
    codings = tables["codings"]
    assert (
        people.reindex(segments.reindex(codings["segment_id"])).to_numpy()
        == codes.reindex(codings["code_id"]).to_numpy()
    ).all()
    again = scaled_tables(5000, n_participants=400, seed=3)
    pd.testing.assert_frame_equal(tables["codings"], again["codings"])
    counts = code_counts(tables["codes"], tables["segments"], tables["codings"])
    assert counts["references"].max() > 0


# --------------------------------------------------------------------------- make book's pipeline

RENDERED = "render: jupyter-book build"
SKIPPED = "render: nothing the book reads changed since the last render"


@pytest.fixture
def engine(tmp_path, monkeypatch) -> Path:
    """A copy of the engine's files that the pipeline takes for the engine's (editable)."""
    copy = tmp_path / "engine"
    shutil.copytree(paths.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pipeline, "ENGINE_DIR", copy)
    return copy


@pytest.fixture
def staged_book(book) -> Book:
    """The small book, with a plain page for each stage the package declares, as the check asks."""
    from compendium.contract.descriptor import read_descriptor

    stages = read_descriptor(Path(os.environ["COMPENDIUM_DATA"])).stages
    with (book.root / "_toc.yml").open("a") as toc:
        for stage in stages:
            (book.root / "pages" / f"{stage.chapter}.md").write_text(f"# {stage.name}\n\nText.\n")
            toc.write(f"  - file: pages/{stage.chapter}\n")
    return book


def build_book(book: Book, capfd) -> str:
    """Run ``make book``'s pipeline on ``book``; return what it printed (its render's too)."""
    status = pipeline.build(book, Path(os.environ["COMPENDIUM_DATA"]))
    printed = capfd.readouterr()
    assert status == 0, printed.out[-4000:] + printed.err[-4000:]
    return printed.out


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


EDITS = {
    "chapter prose": lambda book, data, engine, env: edit_text(
        book.root / "pages" / "coders.md", "Some prose.", "Edited prose."
    ),
    "plain page": lambda book, data, engine, env: edit_text(
        book.root / "pages" / "index.md", "without code", "with no code"
    ),
    "_config.yml": lambda book, data, engine, env: edit_text(
        book.root / "_config.yml", "title: mini", "title: edited"
    ),
    "_toc.yml": lambda book, data, engine, env: edit_text(
        book.root / "_toc.yml", "  - file: pages/activities\n", ""
    ),
    "a file a page refers to": lambda book, data, engine, env: (
        book.root / "pages" / "logo.svg"
    ).write_text("<svg/>"),
    "data file": lambda book, data, engine, env: edit_csv(
        data / "coders.csv", 2, "role", "Edited Role"
    ),
    "study descriptor": lambda book, data, engine, env: edit_text(
        data / "study.yaml", "small_cell_threshold: 0", "small_cell_threshold: 3"
    ),
    "engine module": lambda book, data, engine, env: edit_text(
        engine / "build" / "sphinx_ext.py", '"""', '"""An edited docstring. '
    ),
    "engine resource": lambda book, data, engine, env: edit_text(
        engine / "resources" / "compendium.css", "{", "{ color: red;"
    ),
    "small-cell threshold": lambda book, data, engine, env: env.setenv(
        "COMPENDIUM_SMALL_CELL", "5"
    ),
    "data folder": lambda book, data, engine, env: env.setenv(
        "COMPENDIUM_DATA", str(data.parent / "other")
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_every_kind_of_input_changes_what_the_render_is_keyed_on(book, engine, monkeypatch, edit):
    monkeypatch.delenv("COMPENDIUM_SMALL_CELL", raising=False)
    data = Path(os.environ["COMPENDIUM_DATA"])
    before = pipeline.render_digest(book, data)
    # Touching files without changing them, or reading the digest again, changes nothing.
    for path in (book.root / "pages" / "coders.md", data / "coders.csv"):
        os.utime(path)
    assert pipeline.render_digest(book, data) == before
    EDITS[edit](book, data, engine, monkeypatch)
    assert pipeline.render_digest(book, data) != before


def test_the_data_folder_counts_by_where_it_is_not_how_it_was_named(book, monkeypatch):
    # The same folder, named two ways, is the same build.
    own = book.root / "data"
    shutil.copytree(os.environ["COMPENDIUM_DATA"], own)
    monkeypatch.setenv("COMPENDIUM_DATA", str(own))
    named = pipeline.render_digest(book, own)
    monkeypatch.setenv("COMPENDIUM_DATA", str(book.root / "pages" / ".." / "data"))
    assert pipeline.render_digest(book, own) == named
    # (Left unset, it is the default folder: tests/test_pdf.py checks that with the real book.)


@pytest.mark.slow
def test_an_executed_notebook_changes_what_the_render_is_keyed_on(book):
    prepare(book, log=lambda _: None)
    data = Path(os.environ["COMPENDIUM_DATA"])
    before = pipeline.render_digest(book, data)
    state = json.loads((book.state_dir / "execution.json").read_text())
    executed = book.cache_dir() / "executed" / state["chapters"]["pages/coders.md"]["hashkey"]
    notebook = executed / "base.ipynb"
    notebook.write_text(notebook.read_text() + "\n")  # any byte: outputs may differ anywhere
    assert pipeline.render_digest(book, data) != before


@pytest.mark.slow
def test_make_book_renders_when_an_input_changed_and_only_then(staged_book, engine, capfd):
    book = staged_book
    data = Path(os.environ["COMPENDIUM_DATA"])
    html = book.build_dir / "html" / "pages"
    first = build_book(book, capfd)
    assert "execution: executed 2" in first and RENDERED in first
    written = (html / "coders.html").stat().st_mtime_ns

    again = build_book(book, capfd)
    assert "check: unchanged since it last passed" in again
    assert "nothing to execute" in again and SKIPPED in again and RENDERED not in again
    assert (html / "coders.html").stat().st_mtime_ns == written

    EDITS["chapter prose"](book, data, engine, None)
    prose = build_book(book, capfd)
    assert RENDERED in prose and "check: unchanged" not in prose
    assert "Edited prose." in (html / "coders.html").read_text()

    EDITS["_config.yml"](book, data, engine, None)
    assert RENDERED in build_book(book, capfd)

    EDITS["data file"](book, data, engine, None)
    edited = build_book(book, capfd)
    assert "execution: executed pages/coders.md" in edited and RENDERED in edited
    # Jupyter Book renders the new value from the executor's cache, executing nothing itself.
    assert "Using cached notebook" in edited and "Executing notebook" not in edited
    assert "Edited Role" in (html / "coders.html").read_text()

    EDITS["engine module"](book, data, engine, None)
    assert RENDERED in build_book(book, capfd)

    (html / "activities.html").unlink()  # the output is no longer what the last render left
    assert RENDERED in build_book(book, capfd)
    assert (html / "activities.html").is_file()

    assert SKIPPED in build_book(book, capfd)


def test_a_stale_chapters_kernels_start_importing_before_the_check(staged_book, monkeypatch, capfd):
    from compendium.build import kernels

    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_zygotes", {})
    seen = []

    def check(*_):
        seen.append([z.pid for z in kernels._zygotes.values() if z is not None])
        return 7

    monkeypatch.setattr(pipeline, "check", check)
    try:
        assert pipeline.build(staged_book, Path(os.environ["COMPENDIUM_DATA"])) == 7
    finally:
        kernels.shutdown()
    assert len(seen) == 1 and len(seen[0]) == 1  # one zygote, already importing
    assert "execution:" not in capfd.readouterr().out  # nothing ran past the failed check


def test_make_book_stops_at_a_failing_check_and_renders_nothing(staged_book, capfd):
    book = staged_book
    data = Path(os.environ["COMPENDIUM_DATA"])
    edit_text(data / "study.yaml", "small_cell_threshold: 0", "small_cell_threshold: many")
    assert pipeline.main(["--root", str(book.root)]) == 1
    printed = capfd.readouterr()
    assert re.search(r"study\.yaml:\d+:\d+: .*small_cell_threshold", printed.err), printed.err
    assert "compendium: check: " in printed.err and "descriptor is invalid" in printed.err
    assert not (book.state_dir / "execution.json").exists()
    assert not (book.build_dir / "html").exists()
    assert pipeline.main(["--root", str(book.root), "--toc", "nope.yml"]) == 1
    assert "compendium: check: nope.yml: no such table of contents" in capfd.readouterr().err


def test_make_books_process_exits_with_its_status_its_words_and_its_exit_handlers(tmp_path):
    # python -m compendium.build.pipeline ends with os._exit after the exit handlers.
    handler = "import atexit, pathlib, sys; atexit.register(pathlib.Path(sys.argv[1]).touch)"
    code = f"{handler}\nfrom compendium.build import pipeline\npipeline.exit_now(pipeline.main(sys.argv[2:]))"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(tmp_path / "ran"),
            "--root",
            str(tmp_path),
            "--toc",
            "nope.yml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith("nope.yml: no such table of contents"), done.stderr
    assert (tmp_path / "ran").exists()
    entry = subprocess.run(
        [sys.executable, "-m", "compendium.build.pipeline", "--root", str(tmp_path), "--toc", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (entry.returncode, entry.stderr) == (
        done.returncode,
        done.stderr.replace("nope.yml", "x"),
    )


def test_the_threshold_the_key_names_is_the_one_disclosure_control_reads():
    from compendium.analysis.disclosure import ENV_VAR
    from compendium.build.execution import SMALL_CELL_VAR

    assert SMALL_CELL_VAR == ENV_VAR
