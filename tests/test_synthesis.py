"""The generator: any specification, deterministic, exact, atomic, and clear when it cannot be."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compendium import paths
from compendium.cli import main
from compendium.contract.problems import InvalidPackage
from compendium.contract.specification import SpecificationError, load_spec
from compendium.contract.synthesis import (
    build_tables,
    package_files,
    scaled_tables,
    synthesize,
    write_package,
)
from compendium.contract.writing import UnsafeTarget, replace_package

SEED = 2017
EXAMPLE = paths.ROOT / "examples" / "restwell"
#: Each study's specification and its committed package.
STUDIES = {
    "this study": (paths.SPEC_DIR / "spec.yaml", paths.DEFAULT_DATA_DIR),
    "example": (EXAMPLE / "spec" / "spec.yaml", EXAMPLE / "data"),
}
ENGINE_FILES = [
    paths.PACKAGE_DIR / "contract" / name
    for name in ("synthesis.py", "specification.py", "writing.py")
] + [paths.RESOURCES_DIR / "contract" / "spec.schema.yaml"]
#: Words of this study that must not appear in the engine or in the fictional example.
STUDY_WORDS = [
    r"\bCRT\b",
    r"(?i)crisis",
    r"(?i)milton",
    r"(?i)peer support",
    r"\bPSW\b",
    r"(?i)service.user",
    r"(?i)\bcarers?\b",
]


def tree(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """Each study's package, generated afresh with the committed seed."""
    root = tmp_path_factory.mktemp("generated")
    return {name: synthesize(SEED, root / name, spec) for name, (spec, _) in STUDIES.items()}


def read_package(folder: Path) -> dict[str, pd.DataFrame]:
    """Return every CSV of a package as a DataFrame of text (empty cells as NaN)."""
    return {p.stem: pd.read_csv(p, dtype=str) for p in folder.glob("*.csv")}


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("study", STUDIES)
def test_the_committed_package_is_what_the_generator_writes(generated, study):
    _, committed = STUDIES[study]
    assert tree(committed) == tree(generated[study])


@pytest.mark.parametrize("study", STUDIES)
def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_records(
    generated, study, tmp_path
):
    spec, _ = STUDIES[study]
    # A separate process, with another hash seed, so set and dict order cannot leak in.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    for seed, out in ((SEED, tmp_path / "same"), (SEED + 1, tmp_path / "other")):
        subprocess.run(
            [sys.executable, "-m", "compendium", "synth", "--spec", str(spec)]
            + ["--seed", str(seed), "--out", str(out)],
            check=True,
            capture_output=True,
            env=env,
        )
    assert tree(tmp_path / "same") == tree(generated[study])
    other, same = tree(tmp_path / "other"), tree(tmp_path / "same")
    assert other["study.yaml"] == same["study.yaml"]
    for name in ("participants.csv", "segments.csv", "double_codings.csv"):
        assert other[name] != same[name], name


def test_one_codebook_changed_leaves_the_other_analyses_as_they_were(tmp_path):
    folder = tmp_path / "spec"
    shutil.copytree(STUDIES["example"][0].parent, folder)
    spec_file = folder / "spec.yaml"
    text = spec_file.read_text(encoding="utf-8")
    spec_file.write_text(
        text.replace("plan: {sources: 9, references: 11}", "plan: {sources: 10, references: 12}"),
        encoding="utf-8",
    )
    before = build_tables(load_spec(STUDIES["example"][0]), SEED)
    after = build_tables(load_spec(spec_file), SEED)
    assert before["participants"] == after["participants"]
    assert before["survey_responses"] == after["survey_responses"]

    def coded(tables, prefix):
        segments = {s["segment_id"]: s for s in tables["segments"]}
        return sorted(
            (segments[c["segment_id"]]["participant_id"], c["code_id"])
            for c in tables["codings"]
            if c["code_id"].startswith(prefix)
        )

    assert coded(before, "S1-") == coded(after, "S1-")
    assert coded(before, "S2-") == coded(after, "S2-")
    assert coded(before, "S3-") != coded(after, "S3-")


# --------------------------------------------------------------------------- this study


def nvivo(tables: dict[str, pd.DataFrame], code_id: str) -> tuple[int, int]:
    """Return (sources, references) of a code: distinct transcripts and segments beneath it."""
    codes = tables["codes"]
    under = {code_id}
    while True:
        more = set(codes.loc[codes["parent_id"].isin(under), "code_id"]) - under
        if not more:
            break
        under |= more
    segments = tables["segments"].set_index("segment_id")
    coded = tables["codings"].loc[tables["codings"]["code_id"].isin(under), "segment_id"].unique()
    sources = segments.loc[coded, "group_id"].fillna(segments.loc[coded, "participant_id"])
    return sources.nunique(), len(coded)


def measure(expression: str, tables: dict[str, pd.DataFrame]) -> float:
    """Evaluate a published figure's expression on a package (this test's own evaluator)."""
    people = tables["participants"].merge(tables["attendance"], on="participant_id", how="left")
    codes, components = tables["codes"], tables["components"]

    def participants(activity, **filters):
        rows = people[people["activity_id"] == activity]
        for column, wanted in filters.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            rows = rows[rows[column].isin([str(v) for v in values])]
        return len(rows)

    def percent(numerator, denominator, rounding="half_up"):
        share = 100 * numerator / denominator
        return int(share) if rounding == "floor" else int(share + 0.5)

    groups = tables["focus_groups"]
    measures = {
        "participants": participants,
        "groups": lambda a: int((groups["activity_id"] == a).sum()),
        "sites": lambda a: (
            groups.loc[groups["activity_id"] == a, "site_id"]
            if (groups["activity_id"] == a).any()
            else people.loc[people["activity_id"] == a, "site_id"]
        ).nunique(),
        "sources": lambda c: nvivo(tables, c)[0],
        "references": lambda c: nvivo(tables, c)[1],
        "themes": lambda a: int(((codes["activity_id"] == a) & codes["parent_id"].isna()).sum()),
        "programmes": lambda c=None: (
            len(tables["programmes"])
            if c is None
            else int((tables["programme_concepts"]["concept_id"] == c).sum())
        ),
        "component_quantity": lambda k: float(
            components.loc[components["component_id"] == k, "quantity"].iloc[0]
        ),
        "subcomponents": lambda k: int((components["parent_id"] == k).sum()),
        "stages": lambda: len(yaml.safe_load(tables["study.yaml"])["stages"]),
        "percent": percent,
    }

    def evaluate(node):
        if isinstance(node, ast.Call):
            args = [evaluate(a) for a in node.args]
            return measures[node.func.id](
                *args, **{k.arg: evaluate(k.value) for k in node.keywords}
            )
        return ast.literal_eval(node)

    return evaluate(ast.parse(expression, mode="eval").body)


def test_every_published_figure_regenerates_from_the_committed_package():
    folder = STUDIES["this study"][1]
    tables = read_package(folder)
    tables["study.yaml"] = (folder / "study.yaml").read_text(encoding="utf-8")
    figures = tables["published_figures"]
    assert len(figures) == 66
    got = [measure(e, tables) for e in figures["expression"]]
    wrong = [
        (f, v, g)
        for f, v, g in zip(figures["figure_id"], figures["value"].astype(float), got, strict=True)
        if v != g
    ]
    assert wrong == []
    assert (figures["origin"] == "published").sum() >= 45


def test_a_published_count_is_the_union_of_its_children_not_their_sum():
    tables = read_package(STUDIES["this study"][1])
    children = ["A2-1.1.1", "A2-1.1.2", "A2-1.1.3"]
    assert [nvivo(tables, c) for c in children] == [(31, 43), (7, 7), (6, 8)]
    assert nvivo(tables, "A2-1.1") == (39, 57)  # not (44, 58): a segment coded twice is one


def test_this_study_has_the_new_contracts_tables_and_its_modules():
    package = json.loads((STUDIES["this study"][1] / "datapackage.json").read_text())
    assert [r["name"] for r in package["resources"]] == [
        *("activities", "coders", "participants", "codes", "segments", "codings"),
        *("focus_groups", "programmes", "concepts", "programme_concepts", "concept_codes"),
        *("quotes", "findings", "finding_evidence", "decisions", "trace", "components"),
        *("tidier", "published_figures", "attendance", "double_codings"),
    ]
    for resource in package["resources"]:  # each CSV has its schema's columns, in order
        path = STUDIES["this study"][1] / resource["path"]
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == [f["name"] for f in resource["schema"]["fields"]]


def test_quotes_sit_with_the_participant_who_said_them():
    tables = read_package(STUDIES["this study"][1])
    coded = tables["segments"].merge(tables["codings"], on="segment_id")
    quotes = tables["quotes"].dropna(subset=["participant_id"])
    assert len(quotes) == 10  # the rest are attributed to a group, or to no one recovered
    for q in quotes.itertuples():
        spoken = coded[
            (coded["code_id"] == q.code_id) & (coded["participant_id"] == q.participant_id)
        ]
        assert len(spoken) >= 1, q.quote_id


# --------------------------------------------------------------------------- the example


def test_the_example_is_another_shape_of_study():
    folder = STUDIES["example"][1]
    study = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    resources = {
        r["name"] for r in json.loads((folder / "datapackage.json").read_text())["resources"]
    }
    assert {"published_figures", "attendance", "quotes", "programmes"}.isdisjoint(resources)
    assert {"survey_items", "survey_responses", "findings", "trace", "components"} <= resources
    assert {"tidier", "double_codings", "focus_groups"} <= resources
    assert "trial" not in study
    assert [p["id"] for p in study["framework"]["phases"]] == ["planning", "design", "optimisation"]
    assert study["framework"]["approach"] == "target-population-centred"
    assert len(study["stages"]) == 3
    assert {m["kind"] for m in study["methods"]} == {"survey", "think_aloud", "focus_group"}
    assert [a["name"] for a in study["attributes"] if a.get("comparison")] == ["level_of_study"]
    assert "integer" in {a["type"] for a in study["attributes"]}
    assert {r["id"] for r in study["roles"]}.isdisjoint({"service_user", "carer", "staff"})
    assert study["citations"][0]["fictional"] is True
    assert [t["kind"] for t in study["tables"]] == ["stage_summary"]
    codes = pd.read_csv(folder / "codes.csv", dtype=str)
    themes = codes[codes["parent_id"].isna()].groupby("activity_id").size().to_dict()
    assert themes == {"S1-SURVEY": 2, "S2-WS": 3, "S3-TA": 3}


def test_the_comparison_group_runs_through_the_examples_data():
    tables = read_package(STUDIES["example"][1])
    people = tables["participants"].set_index("participant_id")
    answers = tables["survey_responses"].join(people["level_of_study"], on="participant_id")
    agreement = ["strongly disagree", "disagree", "neither agree nor disagree", "agree"]
    answers["score"] = answers["response"].map(
        {v: i for i, v in enumerate(agreement + ["strongly agree"])}
    )
    means = answers[answers["item_id"] == "Q1"].groupby("level_of_study")["score"].mean()
    assert means["postgraduate"] - means["undergraduate"] > 0.3  # as the item's weights set
    # Theme coverage: "tips feel generic" leans postgraduate, "use around exams only" undergraduate.
    coded = tables["segments"].merge(tables["codings"], on="segment_id")
    coded = coded.join(people["level_of_study"], on="participant_id")
    testers = people[(people["activity_id"] == "S3-TA") & (people["status"] == "tested")]
    size = testers.groupby("level_of_study").size()
    share = coded.groupby(["code_id", "level_of_study"])["participant_id"].nunique() / size
    assert share["S3-2.2", "postgraduate"] > share["S3-2.2", "undergraduate"] + 0.2
    assert share["S3-3.2", "undergraduate"] > share["S3-3.2", "postgraduate"]
    ages = people[people["activity_id"] == "S1-SURVEY"].astype({"age": int})
    by_level = ages.groupby("level_of_study")["age"].mean()
    assert by_level["postgraduate"] > by_level["undergraduate"] + 3


@pytest.mark.parametrize("study", STUDIES)
def test_double_coding_is_a_seeded_share_by_another_coder(study):
    tables = read_package(STUDIES[study][1])
    plan = yaml.safe_load(STUDIES[study][0].read_text(encoding="utf-8"))["double_coding"]
    segments = tables["segments"].set_index("segment_id")
    codes = tables["codes"].set_index("code_id")
    double = tables["double_codings"]
    analysis = tables["codings"].drop_duplicates("segment_id").set_index("segment_id")["code_id"]
    analysis = analysis.map(codes["activity_id"])
    chosen = analysis[double["segment_id"].unique()].value_counts()
    for activity, n in analysis.value_counts().items():
        assert chosen[activity] == int(plan["share"] * n + 0.5), activity
    assert (double["coder_id"].to_numpy() != segments.loc[double["segment_id"], "coder_id"]).all()
    assert (
        codes.loc[double["code_id"], "activity_id"].to_numpy() == analysis[double["segment_id"]]
    ).all()
    first = tables["codings"].groupby("segment_id")["code_id"].apply(frozenset)
    second = double.groupby("segment_id")["code_id"].apply(frozenset)
    kept = (first[second.index] == second).mean()
    assert plan["agreement"] - 0.15 < kept < plan["agreement"] + 0.1  # plausible, not perfect


def test_no_study_words_in_the_engine_or_the_example():
    for path in ENGINE_FILES + sorted(EXAMPLE.rglob("*.*")):
        text = path.read_text(encoding="utf-8")
        for word in STUDY_WORDS:
            assert not re.search(word, text), (path, word)
    assert not paths.RESOURCES_DIR.joinpath("milton2017.yaml").exists()
    assert not paths.RESOURCES_DIR.joinpath("excerpts.yaml").exists()


def test_the_example_names_no_real_person():
    study = yaml.safe_load((EXAMPLE / "spec" / "study.yaml").read_text(encoding="utf-8"))
    assert study["citations"][0]["text"].startswith("Example A, Sample B, Instance C.")
    assert "doi" not in study["citations"][0]
    excerpts = (EXAMPLE / "spec" / "excerpts.yaml").read_text(encoding="utf-8")
    assert "newly written" in excerpts and "not quotations" in excerpts


# --------------------------------------------------------------------------- clear errors


def copy_spec(study: str, tmp_path: Path, old: str = "", new: str = "") -> Path:
    """Copy a study's spec folder to tmp_path/spec, with one edit of spec.yaml if given."""
    folder = tmp_path / "spec"
    shutil.copytree(STUDIES[study][0].parent, folder)
    path = folder / "spec.yaml"
    if old:
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def where(text: str, anchor: str) -> tuple[int, int]:
    """Return the line and column (from 1) at which ``anchor`` first occurs in ``text``."""
    before = text[: text.index(anchor)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.mark.parametrize(
    ("study", "old", "new", "anchor", "message"),
    [
        (
            "example",
            "plan: {sources: 9, references: 11}",
            "plan: {sources: 9, references: 5}",
            '{name: "Sign-up',
            "codebooks.S3-TA[0].children[0]: 9 sources, 5 references impossible",
        ),
        (
            "example",
            '    role: student\n    label_format: "T{n:02d}"',
            '    role: nurse\n    label_format: "T{n:02d}"',
            "nurse",
            "samples.S3-TA.role: 'nurse' is not a role; expected one of student, adviser",
        ),
        (
            "example",
            "statuses: {tested: 14, withdrew: 2}",
            "statuses: {tested: 14, withdrew: 1}",
            "{tested: 14, withdrew: 1}",
            "samples.S3-TA.statuses: add up to 15, not the 16 people",
        ),
        (
            "this study",
            '{figure_id: PF64, value: 5, origin: published, location: "Abstract; Table 1", description: "Development stages"',
            '{figure_id: PF64, value: 6, origin: published, location: "Abstract; Table 1", description: "Development stages"',
            '6, origin: published, location: "Abstract; Table 1", description: "Development stages"',
            "published_figures[63].value: PF64 is 6, but the generated data give 5",
        ),
    ],
)
def test_a_spec_that_cannot_be_realised_says_where_and_why_in_one_line(
    study, old, new, anchor, message, tmp_path, monkeypatch, capsys
):
    spec = copy_spec(study, tmp_path, old, new)
    line, column = where(spec.read_text(encoding="utf-8"), anchor)
    monkeypatch.chdir(tmp_path)
    code = main(["synth", "--spec", "spec/spec.yaml", "--seed", "1", "--out", "out"])
    err = capsys.readouterr().err
    assert (code, err) == (1, f"compendium: synth: spec/spec.yaml:{line}:{column}: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec"]  # nothing written


def test_a_spec_missing_a_key_is_named_and_a_usage_error_exits_2(tmp_path, monkeypatch, capsys):
    spec = copy_spec("example", tmp_path, "excerpts: excerpts.yaml\n", "")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecificationError) as caught:
        load_spec(Path("spec/spec.yaml"))
    line, _ = where(spec.read_text(encoding="utf-8"), "synth: 1")
    assert (
        str(caught.value) == f"spec/spec.yaml:{line}:1: (top level): missing required key excerpts"
    )
    with pytest.raises(SystemExit) as usage:
        main(["synth", "--spec", "spec/spec.yaml", "--out", "out"])
    assert usage.value.code == 2
    assert capsys.readouterr().err.endswith(
        "compendium: synth: usage: the following arguments are required: --seed\n"
    )


def test_excerpts_must_cover_every_leaf_code(tmp_path, monkeypatch):
    bank = copy_spec("example", tmp_path).parent / "excerpts.yaml"
    bank.write_text(
        bank.read_text(encoding="utf-8").replace("S3-3.2:", "S3-3.9:"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecificationError) as caught:
        load_spec(Path("spec/spec.yaml"))
    line, _ = where(bank.read_text(encoding="utf-8"), "S3-3.9:")
    assert str(caught.value).splitlines() == [
        "spec/excerpts.yaml: S3-3.2: no excerpts for this code "
        "(codebooks.S3-TA[2].children[1] in spec/spec.yaml)",
        f"spec/excerpts.yaml:{line}:1: S3-3.9: is not a leaf code of any codebook",
    ]


def test_a_mangled_spec_gives_a_specification_error_never_another_exception(tmp_path):
    # Seeded random edits: a value replaced by one of another type or id, or a key dropped.
    base = yaml.safe_load(STUDIES["example"][0].read_text(encoding="utf-8"))

    def places(node, where=()):
        if where:
            yield where
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for key, value in items:
            yield from places(value, where + (key,))

    spec_file = copy_spec("example", tmp_path)
    everywhere = list(places(base))
    values = [
        0,
        -1,
        3,
        1000,
        0.5,
        "",
        "x",
        None,
        True,
        [],
        {},
        [1, 2],
        "S3-TA",
        "C1",
        "{k}",
        "adviser",
    ]
    rng = random.Random(13)
    outcomes = {"refused": 0, "generated": 0}
    for _ in range(30):
        spec = json.loads(json.dumps(base))
        where = rng.choice(everywhere)
        parent = spec
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[where[-1]]
        else:
            parent[where[-1]] = rng.choice(values)
        spec_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        try:
            loaded = load_spec(spec_file)
            package_files(loaded, build_tables(loaded, 1), 1)
        except SpecificationError as exc:
            assert exc.problems and all(str(p).count("\n") == 0 for p in exc.problems), where
            outcomes["refused"] += 1
        else:
            outcomes["generated"] += 1
    assert outcomes["refused"] >= 15


# --------------------------------------------------------------------------- atomic writes


def test_an_out_that_is_a_file_or_not_a_package_is_refused_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.docx").write_text("years of work")
    (tmp_path / "data.csv").write_text("a,b\n")
    before = tree(tmp_path)
    spec = str(STUDIES["example"][0])
    for out, why in (
        ("notes", "holds thesis.docx, which is not part of a data package"),
        ("data.csv", "is a file, not a package folder"),
    ):
        assert main(["synth", "--spec", spec, "--seed", "1", "--out", out]) == 1
        assert capsys.readouterr().err == f"compendium: synth: {out}: {why}; nothing written\n"
    assert tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "notes"]


def test_an_invalid_package_writes_nothing_and_leaves_no_staging_folder(tmp_path, generated):
    spec = load_spec(STUDIES["example"][0])
    tables = build_tables(spec, SEED)
    tables["participants"][0]["gender"] = "unknown"
    out = tmp_path / "out"
    shutil.copytree(generated["example"], out)
    before = tree(out)
    with pytest.raises(InvalidPackage, match=r"participants.csv:2: column 'gender': "):
        write_package(package_files(spec, tables, SEED), out)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_run_removes_the_staging_folders_a_killed_run_left(tmp_path, generated):
    out = tmp_path / "data"
    shutil.copytree(generated["example"], out)
    (tmp_path / ".synth-data-new-abcd_123").mkdir()
    (tmp_path / ".synth-data-new-abcd_123" / "codes.csv").write_text("partial")
    (tmp_path / ".synth-database-new-abcd_123").mkdir()  # another target's: not ours to touch
    files = {p.name: p.read_bytes() for p in generated["this study"].iterdir()}
    replace_package(files, out, lambda folder: [])
    assert tree(out) == tree(generated["this study"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".synth-database-new-abcd_123", "data"]


def test_a_package_retired_by_a_killed_two_rename_swap_is_put_back(tmp_path, generated):
    # Where the OS has no atomic exchange, a kill between the two renames leaves the target
    # missing and the old package retired beside it; the next run restores it first.
    retired = tmp_path / ".synth-data-old-abcd_123"
    shutil.copytree(generated["example"], retired)
    with pytest.raises(InvalidPackage):
        replace_package({"datapackage.json": b"{}"}, tmp_path / "data", lambda f: [_problem()])
    assert tree(tmp_path / "data") == tree(generated["example"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_without_an_atomic_exchange_two_renames_swap_the_package_in(
    tmp_path, generated, monkeypatch
):
    from compendium.contract import writing

    monkeypatch.setattr(writing, "_exchange", lambda first, second: False)
    out = tmp_path / "data"
    shutil.copytree(generated["example"], out)
    files = {p.name: p.read_bytes() for p in generated["this study"].iterdir()}
    replace_package(files, out, lambda folder: [])
    assert tree(out) == tree(generated["this study"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def _problem():
    from compendium.contract.problems import Problem

    return Problem("datapackage.json", None, None, "not a package")


def trimmed_example(tmp_path: Path) -> Path:
    """Return a spec of the example cut to its think-aloud stage: the same engine, run faster."""
    folder = tmp_path / "spec"
    shutil.copytree(STUDIES["example"][0].parent, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    for key in ("survey", "findings", "decisions", "components", "tidier"):
        del spec[key]
    for section in ("samples", "codebooks", "code_prefixes"):
        spec[section] = {"S3-TA": spec[section]["S3-TA"]}
    spec["activities"] = [a for a in spec["activities"] if a["activity_id"] == "S3-TA"]
    bank = yaml.safe_load((folder / "excerpts.yaml").read_text(encoding="utf-8"))
    (folder / "excerpts.yaml").write_text(
        yaml.safe_dump({k: v for k, v in bank.items() if k.startswith("S3-")}), encoding="utf-8"
    )
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    study = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    for stage in study["stages"][:2]:  # their breakdowns name analyses cut here
        stage.pop("breakdowns", None)
    (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return folder / "spec.yaml"


#: The same pipeline as ``python -m compendium synth``, without the CLI's other commands' imports.
SYNTHESIZE = (
    "import sys; from compendium.contract.synthesis import synthesize; "
    "synthesize(int(sys.argv[1]), sys.argv[2], sys.argv[3])"
)


@pytest.mark.slow
def test_killing_synth_at_random_moments_leaves_the_old_package_or_the_new_one(tmp_path):
    spec = trimmed_example(tmp_path)
    out = tmp_path / "data"

    def command(seed: int, cli: bool) -> list[str]:
        if cli:
            return [sys.executable, "-m", "compendium", "synth", "--spec", str(spec)] + [
                *("--seed", str(seed), "--out", str(out))
            ]
        return [sys.executable, "-c", SYNTHESIZE, str(seed), str(out), str(spec)]

    def staging() -> list[Path]:
        return [p for p in tmp_path.iterdir() if p.name.startswith(".synth-")]

    def start_and_wait_for_staging(seed: int, cli: bool) -> tuple[subprocess.Popen, float]:
        started = time.monotonic()
        process = subprocess.Popen(command(seed, cli), stderr=subprocess.DEVNULL)
        while process.poll() is None and not staging():
            time.sleep(0.002)
        return process, time.monotonic() - started

    # Calibrate: how long a run takes to stage its package, and then to finish.
    process, to_staging = start_and_wait_for_staging(2, cli=False)
    staged = time.monotonic()
    assert process.wait() == 0
    tail = time.monotonic() - staged
    packages = {2: tree(out)}
    subprocess.run(command(1, cli=False), check=True, capture_output=True)
    packages[1] = tree(out)
    assert packages[1] != packages[2]

    def signature() -> tuple:
        """The out folder's identity and its files' names, sizes and times: any write shows."""
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in out.iterdir())
        return out.stat().st_ino, tuple(files)

    rng = random.Random(20)
    current = 1
    for attempt in range(20):
        wanted = 2 if current == 1 else 1
        cli = attempt < 4  # the command line itself, then the same pipeline started lighter
        moment = rng.random()
        if moment < 0.25:  # while the package is still being made
            process = subprocess.Popen(command(wanted, cli), stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, to_staging))
        elif moment < 0.75:  # while it is written, fsynced, validated and swapped in
            process, _ = start_and_wait_for_staging(wanted, cli)
            time.sleep(rng.uniform(0, tail * 1.1))
        else:  # the moment the out folder first changes: a piecemeal copy would be caught here
            before = signature()
            process = subprocess.Popen(command(wanted, cli), stderr=subprocess.DEVNULL)
            while process.poll() is None and signature() == before:
                time.sleep(0.001)
        process.kill()
        process.wait()
        now = tree(out)
        assert now in (packages[current], packages[wanted]), attempt  # never a mix
        current = 1 if now == packages[1] else 2
    subprocess.run(command(1, cli=True), check=True, capture_output=True)
    assert tree(out) == packages[1]
    assert staging() == []  # the next run cleared whatever the killed ones left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "spec"]


# --------------------------------------------------------------------------- scaled tables


def test_scaled_tables_follow_the_contract_at_any_size():
    spec = load_spec(STUDIES["example"][0])
    tables = scaled_tables(5000, n_participants=400, seed=3, spec_path=STUDIES["example"][0])
    package = json.loads((STUDIES["example"][1] / "datapackage.json").read_text())
    fields = {r["name"]: [f["name"] for f in r["schema"]["fields"]] for r in package["resources"]}
    for name in ("participants", "codes", "segments", "codings"):
        assert list(tables[name].columns) == fields[name], name
    assert "arm" not in tables["participants"] and "attendance" not in tables  # no trial
    assert len(tables["segments"]) == 5000
    assert 380 <= len(tables["participants"]) <= 420
    assert not tables["codings"].duplicated().any()
    assert str(tables["participants"]["age"].dtype) == "Int64"
    levels = set(tables["participants"]["level_of_study"].dropna())
    assert levels == set(spec.descriptor.comparison.values)
    people = tables["participants"].set_index("participant_id")["activity_id"]
    speaker = tables["segments"].set_index("segment_id")["participant_id"]
    codes = tables["codes"].set_index("code_id")["activity_id"]
    codings = tables["codings"]
    assert (
        people.reindex(speaker.reindex(codings["segment_id"])).to_numpy()
        == codes.reindex(codings["code_id"]).to_numpy()
    ).all()
    again = scaled_tables(5000, n_participants=400, seed=3, spec_path=STUDIES["example"][0])
    pd.testing.assert_frame_equal(tables["codings"], again["codings"])


def test_scaled_tables_keep_trial_attendance_apart_from_participants():
    tables = scaled_tables(2000, n_participants=300, seed=1)
    package = json.loads((STUDIES["this study"][1] / "datapackage.json").read_text())
    fields = {r["name"]: [f["name"] for f in r["schema"]["fields"]] for r in package["resources"]}
    assert list(tables["participants"].columns) == fields["participants"]
    assert list(tables["attendance"].columns) == fields["attendance"]
    assert set(tables["attendance"]["participant_id"]) <= set(
        tables["participants"]["participant_id"]
    )
    assert tables["attendance"]["sessions_attended"].max() <= 10


def test_an_unsafe_target_is_checked_before_the_spec_is_read(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeTarget):
        synthesize(SEED, tmp_path / "file", tmp_path / "no-such-spec.yaml")
