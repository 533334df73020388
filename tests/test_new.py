"""``compendium new``: a complete compendium for any valid package, built at once by ``make book``.

The end-to-end tests write a compendium for the fictional second example study (the first
``examples/*/data``), in a clean temporary folder, and build it with its own ``make book``,
reusing this repository's environment (``VENV=``) instead of installing one. They then read the
built pages: every page is there, its tables show the example's own numbers (stages, the
comparison group's sizes, theme counts, computed here from its package), and none of its pages
carries this study's words. Without an example in the tree they run on a package cut down from
``data/`` to the core tables and one interview stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TEST_BUILDS, file_lock, mirror, run_folder

from compendium import paths
from compendium.build.scaffold import cff_problems
from compendium.build.templates import render_chapter, templates
from compendium.contract.descriptor import read_descriptor
from compendium.contract.loading import load_study
from compendium.contract.schema import modules

#: The fictional second study, shipped with the engine: its spec/ and generated data/.
EXAMPLE = paths.ROOT / "examples" / "restwell"
STUDY_WORDS = re.compile(r"crisis|\bCRT\b|peer support worker|Milton", re.IGNORECASE)
VENV = Path(sys.prefix)  # this repository's environment, reused by the new compendium


def compendium_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m compendium ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "compendium", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def make(target: str, cwd: Path, *variables: str) -> subprocess.CompletedProcess:
    """Run a target of a new compendium's Makefile in this repository's environment."""
    environment = {k: v for k, v in os.environ.items() if k not in ("COMPENDIUM_DATA", "DATA")}
    return subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={VENV}", *variables],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        timeout=1200,
    )


@pytest.fixture(scope="session")
def example() -> Path:
    """The package the end-to-end tests build: the fictional example study's."""
    return EXAMPLE / "data"


@dataclass(frozen=True)
class Built:
    """A compendium written by ``new`` and built by its ``make book``, with what that took."""

    root: Path
    package: Path
    new: subprocess.CompletedProcess
    book: subprocess.CompletedProcess
    seconds_new: float
    seconds_book: float
    files_written: int

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def page(self, name: str) -> str:
        return (self.html / "book" / f"{name}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def built(tmp_path_factory, example) -> Built:
    """``new`` into a clean folder, then ``make book`` (timed), once for all test workers.

    ``new`` writes into an empty temporary folder every run. What it wrote is then mirrored
    into ``TEST_BUILDS/new-compendium`` (see :data:`conftest.TEST_BUILDS`), whose ``_build``
    is kept, and ``make book`` runs there: its pipeline executes and renders again only what
    changed since the last run. Under pytest-xdist the first worker to get here does this,
    under a lock in the run's shared folder, and the others read what it recorded.
    """
    shared = run_folder(tmp_path_factory) / "compendium-new"
    record = shared / "record.json"
    with file_lock(shared / "lock"):
        if not record.exists():
            written = shared / "compendium"
            root = TEST_BUILDS / "new-compendium"
            start = time.perf_counter()
            new = compendium_cli("new", str(written), "--data", str(example))
            middle = time.perf_counter()
            files = sum(1 for p in written.rglob("*") if p.is_file()) if new.returncode == 0 else 0
            book = new
            if new.returncode == 0:
                with file_lock(TEST_BUILDS / "new-compendium.lock"):
                    mirror(written, root, keep=("_build",))
                    book = make("book", root)
            end = time.perf_counter()
            record.write_text(
                json.dumps(
                    {
                        "root": str(root),
                        "new": [new.returncode, new.stdout, new.stderr],
                        "book": [book.returncode, book.stdout, book.stderr],
                        "seconds": [middle - start, end - middle],
                        "files": files,
                    }
                ),
                encoding="utf-8",
            )
    facts = json.loads(record.read_text(encoding="utf-8"))
    new, book = (subprocess.CompletedProcess([], *facts[k]) for k in ("new", "book"))
    assert new.returncode == 0, new.stderr
    return Built(Path(facts["root"]), example, new, book, *facts["seconds"], facts["files"])


def toc_pages(root: Path) -> list[str]:
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def table_rows(html: str, table_id: str) -> list[dict[str, str]]:
    """Return the rows of the table with ``id="T_<table_id>"`` as header -> cell text."""
    from bs4 import BeautifulSoup

    table = BeautifulSoup(html, "html.parser").find("table", id=f"T_{table_id}")
    assert table is not None, f"no table T_{table_id}"
    header = [th.get_text(" ", strip=True) for th in table.find("thead").find_all("tr")[-1]("th")]
    rows = []
    for tr in table.find("tbody").find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])]
        rows.append(dict(zip(header[-len(cells) :], cells, strict=True)))
    return rows


def coded_under(study) -> pd.DataFrame:
    """Return every coding once for its code and once for each code above it, with its source.

    A segment's source is its group's transcript when it comes from a group, else its
    interviewee's: counted here with plain pandas, apart from the engine's own counting.
    """
    links = study.codings.merge(
        study.segments[["segment_id", "participant_id", "group_id"]], on="segment_id"
    )
    links["source"] = links["group_id"].fillna(links["participant_id"])
    parent = study.codes.set_index("code_id")["parent_id"]
    levels, level = [], links[["segment_id", "source", "participant_id", "code_id"]]
    while not level.empty:
        levels.append(level)
        level = level.assign(code_id=level["code_id"].map(parent)).dropna(subset=["code_id"])
    return pd.concat(levels, ignore_index=True).drop_duplicates()


def number(text: str) -> int:
    """Return the count in a cell, without the origin mark that may follow it."""
    return int(re.match(r"\d+", text).group(0))


# --------------------------------------------------------------------------- refusals (fast)


def test_new_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    result = compendium_cli("new", str(tmp_path), "--data", str(paths.DEFAULT_DATA_DIR))
    assert result.returncode == 1
    assert result.stderr == (
        f"compendium: new: {tmp_path}: nothing written: {tmp_path}: exists and is not empty; "
        "choose a new or empty folder\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_new_refuses_an_invalid_package_with_its_located_problems(tmp_path, package_copy):
    participants = package_copy / "participants.csv"
    lines = participants.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("role")] = "astronaut"
    lines[1] = ",".join(cells)
    participants.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out" / "study"
    result = compendium_cli("new", str(target), "--data", str(package_copy))
    assert result.returncode == 1
    *problems, last = result.stderr.splitlines()
    assert problems == [
        f"{participants}:2: column 'role': 'astronaut' is not one of service_user, carer, "
        "staff, peer_support_worker"
    ]
    assert last == (
        f"compendium: new: {package_copy}: not a valid data package (1 problem); nothing written"
    )
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_new_refuses_a_folder_that_is_no_package(tmp_path):
    result = compendium_cli("new", str(tmp_path / "out"), "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    problem, last = result.stderr.splitlines()
    assert problem.startswith(f"{tmp_path / 'nowhere'}: is not a folder")
    assert last.endswith("not a valid data package (1 problem); nothing written")


def test_new_refuses_a_stage_whose_template_lacks_its_data(tmp_path, package_copy):
    study = package_copy / "study.yaml"
    descriptor = yaml.safe_load(study.read_text(encoding="utf-8"))
    descriptor["stages"][1]["template"] = "survey"
    study.write_text(yaml.safe_dump(descriptor, sort_keys=False), encoding="utf-8")
    target = tmp_path / "out"
    result = compendium_cli("new", str(target), "--data", str(package_copy))
    assert result.returncode == 1, result.stdout
    assert result.stderr == (
        f"compendium: new: {target}: nothing written: stage 2 (Developing theory): its template, "
        "survey, needs the survey module: no survey_items.csv, survey_responses.csv in "
        f"{package_copy}/ (declare another `template` for the stage in study.yaml, or add the "
        "data)\n"
    )
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.new-")]


def test_new_needs_a_data_package_or_a_specification(tmp_path):
    result = compendium_cli("new", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "one of the arguments --data --spec is required" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- what new writes


@pytest.mark.slow
def test_new_writes_a_complete_compendium(built):
    root = built.root
    descriptor = read_descriptor(root / "data")
    written = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    for name in ("_config.yml", "_toc.yml", "README.md", "CITATION.cff", "Makefile", ".gitignore"):
        assert name in written
    for name in ("lock.txt", "uv.txt", "engine.txt"):
        assert f"requirements/{name}" in written
    package = {p.name for p in built.package.iterdir() if p.is_file()}
    assert {Path(p).name for p in written if p.startswith("data/")} == package
    chapters = {p for p in written if p.startswith("book/") and p.endswith(".md")}
    assert chapters == {f"{page}.md" for page in toc_pages(root)}
    stages = [f"book/{s.chapter}" for s in descriptor.stages]
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/intro"
    phase_parts = [part for part in toc["parts"] if part["chapters"][0]["file"] in stages]
    assert [c["file"] for part in phase_parts for c in part["chapters"]] == stages
    labels = {p.id: p.label for p in descriptor.framework.phases}
    assert [part["caption"] for part in phase_parts] == list(
        dict.fromkeys(labels[s.phase] for s in descriptor.stages)
    )
    for stage in descriptor.stages:
        text = (root / "book" / f"{stage.chapter}.md").read_text(encoding="utf-8")
        assert text == render_chapter(stage.template, descriptor, stage)
        assert ":class: narrative-slot" in text


@pytest.mark.slow
def test_study_wide_chapters_are_those_that_apply(built):
    root = built.root
    descriptor = read_descriptor(root / "data")
    present = {p.stem for p in (root / "data").glob("*.csv")}
    module_present = {m.name for m in modules() if set(m.resources) <= present}
    # Every compendium reports against the three checklists, mapped or not.
    expected = {"intro", "provenance", "glossary", "bibliography"}
    expected |= {"checklist-guided", "checklist-tidier", "checklist-coreq"}
    if descriptor.tables:
        expected.add("paper-tables")
    for kind in ("trace", "intervention"):
        if kind in module_present:
            expected.add(kind)
    if "published_figures" in module_present:
        expected.add("reproduction")
    stage_pages = {s.chapter for s in descriptor.stages}
    assert {Path(p).name for p in toc_pages(root)} - stage_pages == expected
    for kind, template in templates().items():
        if template.scope == "study" and template.page in expected:
            text = (root / "book" / f"{template.page}.md").read_text(encoding="utf-8")
            assert text == render_chapter(kind, descriptor)


@pytest.mark.slow
def test_citation_file_is_valid_cff(built):
    cff = yaml.safe_load((built.root / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff_problems(cff) == []
    descriptor = read_descriptor(built.root / "data")
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == descriptor.book.title
    assert cff["authors"] == [{"name": descriptor.book.author}]
    study = descriptor.study_citation
    if study is not None:
        (reference,) = [r for r in cff["references"] if r["title"] == descriptor.title]
        assert reference["notes"].endswith(" ".join(study.text.split()))


@pytest.mark.slow
def test_the_engine_is_a_wheel_pinned_by_its_hash(built):
    root = built.root
    (wheel,) = (root / "vendor").glob("compendium-*-py3-none-any.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins = [
        line
        for line in (root / "requirements" / "engine.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins == [f"./vendor/{wheel.name} --hash=sha256:{digest}"]
    for name in ("lock.txt", "uv.txt"):
        ours = (paths.ROOT / "requirements" / name).read_bytes()
        assert (root / "requirements" / name).read_bytes() == ours
    source = {
        str(p.relative_to(paths.PACKAGE_DIR.parent))
        for p in paths.PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    packed = set(zipfile.ZipFile(wheel).namelist())
    assert source <= packed, sorted(source - packed)


# --------------------------------------------------------------------------- the built book


@pytest.mark.slow
def test_every_page_builds(built):
    assert built.book.returncode == 0, built.book.stdout[-4000:] + built.book.stderr[-4000:]
    assert "chapters supported" in built.book.stdout
    for page in toc_pages(built.root):
        assert (built.html / f"{page}.html").is_file(), page
    print(
        f"\nnew: {built.seconds_new:.1f} s, {built.files_written} files; "
        f"make book: {built.seconds_book:.1f} s, "
        f"{sum(1 for p in built.html.rglob('*') if p.is_file())} files in _build/html"
    )


@pytest.mark.slow
def test_stage_pages_show_the_examples_own_stages_and_people(built):
    assert built.book.returncode == 0
    study = load_study(built.root / "data")
    descriptor = study.descriptor
    shown = 0
    for stage in descriptor.stages:
        html = built.page(stage.chapter)
        assert f"Stage {stage.id}: {stage.name}" in html
        shown += 1
        activities = study.activities.loc[study.activities["stage_id"] == stage.id, "activity_id"]
        people = study.participants
        took_part = people["activity_id"].isin(activities) & people["status"].isin(
            descriptor.took_part
        )
        if took_part.any():
            # The example is synthetic: the count carries the synthetic mark.
            assert f"{int(took_part.sum())}\u2020 people took part in this stage" in " ".join(
                re.sub(r"<[^>]+>", " ", html).split()
            )
    assert shown == len(descriptor.stages)


@pytest.mark.slow
def test_theme_tables_count_the_examples_own_codings(built):
    assert built.book.returncode == 0
    study = load_study(built.root / "data")
    under = coded_under(study)
    counts = under.groupby("code_id").agg(
        sources=("source", "nunique"), references=("segment_id", "nunique")
    )
    checked = 0
    for stage in study.descriptor.stages:
        html = built.page(stage.chapter)
        activities = study.activities.loc[study.activities["stage_id"] == stage.id, "activity_id"]
        for analysis in activities:
            if f'id="T_themes-{analysis}"' not in html:
                continue
            for row in table_rows(html, f"themes-{analysis}"):
                code = row["Code"]
                assert number(row["Sources"]) == counts.at[code, "sources"], (analysis, code)
                assert number(row["References"]) == counts.at[code, "references"], code
                checked += 1
    assert (
        checked
        >= len(study.codes[study.codes["activity_id"].isin(study.activities["activity_id"])]) // 2
    )


@pytest.mark.slow
def test_comparison_tables_show_the_examples_own_groups(built):
    assert built.book.returncode == 0
    study = load_study(built.root / "data")
    comparison = study.descriptor.comparison
    assert comparison is not None, "the example declares a comparison group"
    from bs4 import BeautifulSoup

    group_of = study.participants.set_index("participant_id")[comparison.name]
    under = coded_under(study)
    codes = study.codes.set_index("code_id")
    found = 0
    for stage in study.descriptor.stages:
        html = built.page(stage.chapter)
        for analysis in study.activities["activity_id"]:
            table = BeautifulSoup(html, "html.parser").find("table", id=f"T_comparison-{analysis}")
            if table is None:
                continue
            people = study.participants[study.participants["activity_id"] == analysis]
            sizes = people.groupby(comparison.name).size()
            headers = [th.get_text(" ", strip=True) for th in table.find("thead").find_all("th")]
            columns = [h for h in headers if " (n = " in h]
            groups = list(comparison.values or ["true", "false"])
            assert columns == [f"{g} (n = {sizes.get(g, 0)})" for g in groups]
            mains = codes[(codes["activity_id"] == analysis) & codes["parent_id"].isna()]
            rows = table.find("tbody").find_all("tr")
            assert [r.find("th").get_text(strip=True) for r in rows] == list(mains["name"])
            coded = under[under["code_id"].isin(mains.index)].assign(
                group=lambda f: f["participant_id"].map(group_of)
            )
            per_group = coded.groupby(["code_id", "group"])["participant_id"].nunique()
            for (code, _), row in zip(mains.iterrows(), rows, strict=True):
                cells = [number(td.get_text(strip=True)) for td in row.find_all("td")]
                assert cells == [int(per_group.get((code, g), 0)) for g in groups]
            found += 1
    assert found, "no comparison table in any stage chapter"


@pytest.mark.slow
def test_no_page_carries_this_studys_words(built):
    assert built.book.returncode == 0
    offending = {}
    for page in built.html.rglob("*.html"):
        words = set(STUDY_WORDS.findall(page.read_text(encoding="utf-8")))
        if words:
            offending[str(page.relative_to(built.html))] = sorted(words)
    assert not offending


@pytest.mark.slow
def test_check_names_the_modules_a_cut_package_lacks(built, tmp_path):
    root = built.root
    descriptor = read_descriptor(root / "data")
    known = templates()
    needy = {
        s.chapter: known[s.template].needs for s in descriptor.stages if known[s.template].needs
    }
    assert needy, "the example has chapters that need optional modules"
    cut = tmp_path / "cut"
    shutil.copytree(root / "data", cut)
    dropped = {name for needs in needy.values() for name in needs}
    resources = {r for m in modules() if m.name in dropped for r in m.resources}
    package = json.loads((cut / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"] = [r for r in package["resources"] if r["name"] not in resources]
    (cut / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    for name in resources:
        (cut / f"{name}.csv").unlink()
    result = make("check", root, f"DATA={cut}")
    assert result.returncode != 0
    for page, needs in needy.items():
        for module in modules():
            if module.name in needs:
                files = ", ".join(f"{r}.csv" for r in module.resources)
                line = f"{page} (template {next(s.template for s in descriptor.stages if s.chapter == page)}) needs the {module.label.lower()} module: no {files} in {cut}/"
                assert line in result.stderr, result.stderr


@pytest.mark.slow
def test_new_from_a_specification_generates_the_examples_package(tmp_path):
    spec = EXAMPLE / "spec" / "spec.yaml"
    makefile = (paths.ROOT / "Makefile").read_text(encoding="utf-8")
    seed = re.search(
        rf"--spec {re.escape(str(spec.relative_to(paths.ROOT)))} --seed (\d+)", makefile
    )
    assert seed, "the Makefile's data target names the example's seed"
    target = tmp_path / "from-spec"
    result = compendium_cli("new", str(target), "--spec", str(spec), "--seed", seed.group(1))
    assert result.returncode == 0, result.stderr
    for path in (EXAMPLE / "data").iterdir():
        assert (target / "data" / path.name).read_bytes() == path.read_bytes(), path.name
