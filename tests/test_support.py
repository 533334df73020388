"""The pre-build check: which chapters a package supports, and what the others lack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from compendium import paths
from compendium.build.support import book_data_dir, check_book
from compendium.build.templates import templates
from compendium.cli import main
from compendium.contract.descriptor import read_descriptor


def front_matter(kind: str | None, stage: str | None = None) -> str:
    """Return a chapter that declares its template (and stage) in its front matter."""
    meta = {"jupytext": {"text_representation": {"extension": ".md", "format_name": "myst"}}}
    if kind:
        meta["compendium"] = {"template": kind, **({"stage": stage} if stage else {})}
    return f"---\n{yaml.safe_dump(meta)}---\n# A chapter\n"


def make_book(root: Path, chapters: dict[str, str]) -> Path:
    """Write a book with ``chapters`` (page name -> text); the first is the root."""
    (root / "book").mkdir(parents=True)
    for page, text in chapters.items():
        (root / "book" / f"{page}.md").write_text(text, encoding="utf-8")
    names = [f"book/{page}" for page in chapters]
    toc = {"format": "jb-book", "root": names[0], "chapters": [{"file": n} for n in names[1:]]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    return root / "_toc.yml"


def drop_module(data: Path, *resources: str) -> None:
    """Remove tables from a package: their CSV files and their datapackage.json entries."""
    package = json.loads((data / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"] = [r for r in package["resources"] if r["name"] not in resources]
    (data / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    for name in resources:
        (data / f"{name}.csv").unlink()


def stage_chapters() -> dict[str, str]:
    """Return a chapter for every stage of this study, each declaring its stage and template."""
    chapters = {"intro": front_matter("overview")}
    for stage in read_descriptor(paths.DEFAULT_DATA_DIR).stages:
        chapters[stage.chapter] = front_matter(stage.template, stage.id)
    return chapters


def test_this_book_is_supported_by_its_package():
    report = check_book(paths.ROOT, Path("_toc.yml"), paths.DEFAULT_DATA_DIR)
    assert report.ok, report.lines()
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = 1 + sum(len(part["chapters"]) for part in toc["parts"])
    assert len(report.chapters) == listed
    assert report.lines()[-1] == f"check: {listed} of {listed} chapters supported"


def test_a_trial_chapter_without_the_trial_module_names_what_is_missing(tmp_path, package_copy):
    drop_module(package_copy, "attendance")
    toc = make_book(tmp_path / "book-root", stage_chapters())
    report = check_book(tmp_path / "book-root", toc, package_copy)
    assert not report.ok
    unsupported = [c for c in report.chapters if not c.supported]
    assert [c.page for c in unsupported] == ["book/feasibility-testing", "book/pilot-trial"]
    line = unsupported[1].describe()
    assert line.endswith(
        "pilot-trial (template trial) needs the trial flow and attendance module: "
        f"no attendance.csv in {package_copy}/"
    )
    assert report.lines()[-1] == (
        "check: 4 of 6 chapters supported; the book cannot be built until this is put right"
    )


def test_study_wide_chapters_need_what_their_when_names(tmp_path, package_copy):
    drop_module(package_copy, "published_figures")
    study = package_copy / "study.yaml"
    descriptor = yaml.safe_load(study.read_text(encoding="utf-8"))
    del descriptor["tables"]
    study.write_text(yaml.safe_dump(descriptor, sort_keys=False), encoding="utf-8")
    chapters = {**stage_chapters(), "paper-tables": front_matter("paper-tables")}
    chapters["reproduction"] = front_matter("reproduction")
    toc = make_book(tmp_path / "root", chapters)
    by_page = {c.page: c for c in check_book(tmp_path / "root", toc, package_copy).chapters}
    assert by_page["book/paper-tables"].missing == (
        f"summary tables declared under `tables`: none in {study}",
    )
    assert by_page["book/reproduction"].missing == (
        f"the published figures module: no published_figures.csv in {package_copy}/",
    )
    assert by_page["book/intro"].supported


def test_every_template_requirement_is_a_module_or_a_declaration():
    from compendium.build.support import DECLARATIONS
    from compendium.contract.schema import modules

    names = {m.name for m in modules()} | set(DECLARATIONS)
    for template in templates().values():
        for needed in template.needs + ((template.when,) if template.when else ()):
            assert needed in names, (template.kind, needed)


def test_stages_and_chapters_must_match(tmp_path):
    chapters = stage_chapters()
    chapters.pop("pilot-trial")
    chapters["extra"] = front_matter("interviews", "9")
    toc = make_book(tmp_path, chapters)
    report = check_book(tmp_path, toc, paths.DEFAULT_DATA_DIR)
    assert not report.ok
    assert len(report.problems) == 2
    undeclared, missing = report.problems
    assert "book/extra.md: declares stage '9', which" in undeclared
    assert "does not declare (its stages: 1, 2, 3, 4, 5)" in undeclared
    assert "stage 5 (Piloting) declared in" in missing
    assert "has no chapter; add book/pilot-trial.md to the table of contents" in missing


def test_an_unknown_template_is_unsupported(tmp_path):
    chapters = {**stage_chapters(), "odd": front_matter("delphi")}
    toc = make_book(tmp_path, chapters)
    (odd,) = [c for c in check_book(tmp_path, toc, paths.DEFAULT_DATA_DIR).chapters if c.missing]
    assert odd.page == "book/odd"
    assert "a template the engine knows" in odd.missing[0]
    assert "not 'delphi'" in odd.missing[0]


def test_check_command_fails_with_the_missing_module(tmp_path, package_copy, capsys):
    drop_module(package_copy, "attendance")
    make_book(tmp_path, stage_chapters())
    args = ["check", "--data", str(package_copy), "--root", str(tmp_path), "--toc", "_toc.yml"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "pilot-trial (template trial) needs the trial flow and attendance module" in err
    assert err.strip().endswith("the book cannot be built until this is put right")


def test_check_command_on_an_invalid_descriptor_lists_located_problems(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(paths.DEFAULT_DATA_DIR, data)
    study = data / "study.yaml"
    study.write_text(study.read_text().replace("phase: development", "phase: piloting", 1))
    assert main(["check", "--data", str(data)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "stages[0].phase: 'piloting' is not a phase of the framework" in err[0]
    assert err[0].startswith(f"{study}:")
    assert err[-1] == f"compendium: check: {data}: the study descriptor is invalid"


def test_check_command_without_a_toc_says_so(tmp_path, capsys):
    assert main(["check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "compendium: check: _toc.yml: no such table of contents\n"


def test_the_data_in_force(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPENDIUM_DATA", raising=False)
    assert book_data_dir(tmp_path) == paths.DEFAULT_DATA_DIR
    (tmp_path / "data").mkdir()
    assert book_data_dir(tmp_path) == tmp_path / "data"
    monkeypatch.setenv("COMPENDIUM_DATA", str(tmp_path / "elsewhere"))
    assert book_data_dir(tmp_path) == (tmp_path / "elsewhere").resolve()


@pytest.mark.parametrize("target", ["book", "check"])
def test_make_book_runs_the_check_on_the_data_given(target):
    import subprocess

    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", target, "DATA=elsewhere/pkg"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    # `make book` runs the check in the pipeline's own process, before it executes anything.
    command = "compendium check" if target == "check" else "compendium.build.pipeline"
    assert any(f"-m {command} --data elsewhere/pkg --toc _toc.yml" in line for line in dry)


def test_front_matter_reads_what_jupytext_reads():
    """The check reads only the front matter; it must find what a full jupytext read finds."""
    import jupytext

    from compendium.build.templates import front_matter

    chapters = sorted((paths.ROOT / "book").glob("*.md"))
    assert chapters
    for path in chapters:
        text = path.read_text(encoding="utf-8")
        full = jupytext.reads(text, fmt="md:myst").metadata
        assert front_matter(text).get("compendium") == full.get("compendium"), path
        assert front_matter(text).get("kernelspec") == full.get("kernelspec"), path
    assert front_matter("# No front matter\n") == {}
