"""The validator: every problem one line, naming file, line, column and what was expected."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from compendium.cli import main
from compendium.contract.descriptor import read_descriptor
from compendium.contract.loading import load_study
from compendium.contract.problems import InvalidPackage
from compendium.contract.schema import (
    descriptor_text,
    package_descriptor,
    package_metadata,
    read_package_json,
)
from compendium.contract.validation import validate_package


def replace(name: str, old: str, new: str):
    def mutate(d: Path) -> None:
        path = d / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return mutate


def set_cell(name: str, key: str, column: str, value: str):
    """Set one cell, found by the row's first column, writing the CSV back properly quoted."""

    def mutate(d: Path) -> None:
        path = d / name
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        row = next(r for r in rows if r[0] == key)
        row[rows[0].index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        path.write_text(out.getvalue(), encoding="utf-8")

    return mutate


def write(name: str, content: str):
    def mutate(d: Path) -> None:
        (d / name).write_text(content, encoding="utf-8")

    return mutate


def drop_module(*resources: str):
    """Remove an optional module's files and rewrite datapackage.json without them."""

    def mutate(d: Path) -> None:
        package = read_package_json(d)
        kept = {r["name"] for r in package["resources"]} - set(resources)
        for name in resources:
            (d / f"{name}.csv").unlink()
        rewritten = package_descriptor(read_descriptor(d), kept, package_metadata(package))
        (d / "datapackage.json").write_text(descriptor_text(rewritten), encoding="utf-8")

    return mutate


CASES = {
    "an undeclared category": (
        set_cell("participants.csv", "S2-SU1", "age_band", "99+"),
        [
            "participants.csv:2: column 'age_band': '99+' is not one of 18-24, 25-34, 35-44, 45-54, 55-64, 65+"
        ],
    ),
    "an integer written with an underscore": (
        set_cell("focus_groups.csv", "G3-01", "size", "5_0"),
        ["focus_groups.csv:2: column 'size': '5_0' is not a valid integer"],
    ),
    "Arabic-Indic digits": (
        set_cell("activities.csv", "A2-INT", "reported_n", "٤١"),
        ["activities.csv:4: column 'reported_n': '٤١' is not a valid integer"],
    ),
    "a twenty-digit integer": (
        set_cell("activities.csv", "A2-INT", "reported_n", "12345678901234567890"),
        ["activities.csv:4: column 'reported_n': '12345678901234567890' is not a valid integer"],
    ),
    "a header name padded with spaces": (
        replace("codes.csv", "code_id,activity_id", " code_id,activity_id"),
        ["codes.csv:1: column name ' code_id' has spaces around it; expected 'code_id'"],
    ),
    "a duplicate header": (
        replace("coders.csv", "coder_id,role", "coder_id,coder_id"),
        [
            "coders.csv:1: column 'coder_id': appears twice in the header",
            "coders.csv:1: column 'role': missing column; expected columns coder_id, role",
        ],
    ),
    "a descriptor that is a list": (
        write("datapackage.json", "[]"),
        ["datapackage.json:1:1: expected a JSON object with a 'resources' list, got list"],
    ),
    "a descriptor nested 100,000 deep": (
        write("datapackage.json", "[" * 100_000 + "]" * 100_000),
        ["datapackage.json: nests more than 64 levels deep; expected a package descriptor"],
    ),
    "resources given as strings": (
        write("datapackage.json", '{"resources": ["a"]}'),
        ["datapackage.json: resources[0]: expected an object with a 'name' and a 'path'"],
    ),
    "a stray CSV file": (
        write("extra.csv", "a\n1\n"),
        ["extra.csv: is not a resource of datapackage.json; remove it or list it there"],
    ),
    "a ragged row": (
        replace("coders.csv", "R1,principal analyst", "R1,principal analyst,extra"),
        ["coders.csv:2: has 3 fields where the header has 2; quote any cell that holds a comma"],
    ),
    "a short row": (
        replace("coders.csv", "R1,principal analyst", "R1"),
        ["coders.csv:2: has 1 field where the header has 2; quote any cell that holds a comma"],
    ),
    "an expression dividing by zero": (
        set_cell("published_figures.csv", "PF03", "expression", "percent(1, 0)"),
        ["published_figures.csv:4: column 'expression': percent: the denominator is 0"],
    ),
    "an expression naming an unknown code": (
        set_cell("published_figures.csv", "PF03", "expression", "sources('A9-1')"),
        ["published_figures.csv:4: column 'expression': no code 'A9-1' in codes.csv"],
    ),
    "an expression filtering on an unknown column": (
        set_cell(
            "published_figures.csv",
            "PF35",
            "expression",
            "participants('A5-INT', army='intervention')",
        ),
        [
            "published_figures.csv:36: column 'expression': participants: no column 'army' to "
            "filter on; expected one of activity_id, role, site_id, status, age_band, gender, "
            "ethnicity, diagnosis_group, crt_use, staff_profession, arm, sessions_attended, "
            "attendance_pattern"
        ],
    ),
    "an id carrying markup": (
        set_cell("coders.csv", "R4", "coder_id", 'R4"><img src=x>'),
        [
            "coders.csv:5: column 'coder_id': 'R4\"><img src=x>' is not a valid id: use letters, digits, '.', '_' and '-'"
        ],
    ),
    "a decision id carrying a script, changed everywhere": (
        lambda d: [
            replace(name, "T3.05", 'T3.05"><img src=x onerror=alert(1)>')(d)
            for name in ("decisions.csv", "trace.csv")
        ],
        [
            "decisions.csv:15: column 'decision_id': 'T3.05\"><img src=x onerror=alert(1)>' is not a valid id: use letters, digits, '.', '_' and '-'",
        ],
    ),
    "a finding id that is a javascript: address": (
        set_cell("findings.csv", "F2.1", "finding_id", "javascript:alert(1)"),
        [
            "findings.csv:6: column 'finding_id': 'javascript:alert(1)' is not a valid id: use letters, digits, '.', '_' and '-'"
        ],
    ),
    "a glossary definition holding a raw HTML directive": (
        replace(
            "study.yaml",
            "    definition: >-\n      Crisis resolution team:",
            "    definition: |-\n      ```{raw} html\n      <script>alert(1)</script>\n      ```\n      Crisis resolution team:",
        ),
        [
            "study.yaml:141:17: glossary[0].definition: a definition is MyST text with roles; directives (```, ~~~, :::) and the raw, eval-rst and include roles are not allowed"
        ],
    ),
    "a module with a file missing": (
        lambda d: (d / "trace.csv").unlink(),
        ["trace.csv: file is missing; expected columns finding_id, decision_id"],
    ),
    "a line after a quoted newline": (
        lambda d: (
            set_cell("codes.csv", "A2-1.1.1", "description", "Welcomes\npeer support")(d),
            set_cell("codes.csv", "A2-1.1.2", "activity_id", "A2-ZZZ")(d),
        ),
        [
            "codes.csv:6: column 'activity_id': 'A2-ZZZ' does not match any activity_id in activities.csv"
        ],
    ),
    "a type error after a cell of three lines": (
        lambda d: (
            set_cell("codes.csv", "A2-1.1", "description", "line one\nline two\nline three")(d),
            set_cell("codes.csv", "A2-1.2", "position", "x7")(d),
        ),
        ["codes.csv:9: column 'position': 'x7' is not a valid integer"],
    ),
    "100,000 extra columns": (
        write(
            "coders.csv", "coder_id,role," + ",".join(f"x{i}" for i in range(100_000)) + "\nR1,a\n"
        ),
        [
            "coders.csv:1: unexpected columns 'x0', 'x1', 'x2', 'x3', 'x4' and 99995 more; expected columns coder_id, role"
        ],
    ),
    "a sample size that the records contradict": (
        set_cell("activities.csv", "A2-INT", "reported_n", "42"),
        [
            "activities.csv:4: column 'reported_n': A2-INT reports 42 participants but there are 41 participants who took part in participants.csv"
        ],
    ),
    "a decision no finding supports": (
        replace("trace.csv", "F3.5,T3.06\n", ""),
        [
            "decisions.csv:16: column 'decision_id': T3.06 has no supporting finding in trace.csv",
            "findings.csv:16: column 'acted_on': F3.5 is marked acted on but informs no decision in trace.csv",
        ],
    ),
    "a breakdown of a code the package lacks": (
        replace("study.yaml", "{code: A2-5}", "{code: A2-55}"),
        ["study.yaml: stage 2 breaks down code 'A2-55', which is not in codes.csv"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_one_located_line(case, package_copy):
    mutate, expected = CASES[case]
    mutate(package_copy)
    prefix = f"{package_copy}/"
    assert [str(p).replace(prefix, "") for p in validate_package(package_copy)] == expected


def test_committed_package_is_valid(study):
    assert validate_package(study.data_dir) == []


def test_a_byte_order_mark_is_accepted(package_copy):
    path = package_copy / "coders.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert validate_package(package_copy) == []


def test_a_package_without_an_optional_module_is_valid(package_copy):
    evidence = package_copy / "finding_evidence.csv"
    lines = evidence.read_text(encoding="utf-8").splitlines(keepends=True)
    evidence.write_text("".join(line for line in lines if ",quote," not in line), encoding="utf-8")
    drop_module("quotes")(package_copy)
    assert validate_package(package_copy) == []
    assert not load_study(package_copy).has("quotes")


def test_a_vocabulary_the_engine_has_never_seen_is_accepted_once_declared(package_copy):
    replace(
        "study.yaml",
        "  - {id: carer, label: Carer}\n",
        "  - {id: carer, label: Carer}\n  - {id: pharmacist, label: Community pharmacist}\n",
    )(package_copy)
    set_cell("participants.csv", "S2-SU1", "role", "pharmacist")(package_copy)
    # The schema follows the declaration once datapackage.json is rewritten from it.
    package = read_package_json(package_copy)
    resources = {r["name"] for r in package["resources"]}
    rewritten = package_descriptor(
        read_descriptor(package_copy), resources, package_metadata(package)
    )
    (package_copy / "datapackage.json").write_text(descriptor_text(rewritten), encoding="utf-8")
    problems = [p for p in validate_package(package_copy) if p.field == "role"]
    assert problems == []
    set_cell("participants.csv", "S2-SU1", "role", "pharmacst")(package_copy)
    assert [str(p).replace(f"{package_copy}/", "") for p in validate_package(package_copy)] == [
        "participants.csv:2: column 'role': 'pharmacst' is not one of service_user, carer, "
        "pharmacist, staff, peer_support_worker"
    ]


def test_a_declaration_the_schema_does_not_follow_says_how_to_fix_it(package_copy):
    replace(
        "study.yaml",
        "  - {id: carer, label: Carer}\n",
        "  - {id: carer, label: Carer}\n  - {id: pharmacist, label: Pharmacist}\n",
    )(package_copy)
    problems = [p.message for p in validate_package(package_copy)]
    assert problems == [
        f"resource {name!r} differs from what study.yaml declares (field 'role' differs); "
        "run `python -m compendium schema` on the folder to rewrite it"
        for name in ("focus_groups", "participants")
    ]


def test_an_unknown_resource_is_refused(package_copy):
    package = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"].append({"name": "secrets", "path": "secrets.csv"})
    (package_copy / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    (problem,) = validate_package(package_copy)
    assert problem.message.startswith(
        "unknown resource 'secrets'; the contract knows activities, coders"
    )


def test_a_symlink_out_of_the_package_is_refused(package_copy, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text((package_copy / "coders.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (package_copy / "coders.csv").unlink()
    (package_copy / "coders.csv").symlink_to(outside)
    (problem,) = validate_package(package_copy)
    assert str(problem).endswith(
        "coders.csv: is a symbolic link; the package must hold its files itself"
    )


def test_long_lists_are_capped(package_copy):
    path = package_copy / "segments.csv"
    text = path.read_text(encoding="utf-8").replace(",true\n", ",maybe\n")
    path.write_text(text, encoding="utf-8")
    problems = validate_package(package_copy)
    assert len(problems) == 21
    assert problems[-1].message == "... and 949 more rows with the same problem"
    with pytest.raises(InvalidPackage) as raised:
        load_study(package_copy)
    assert str(raised.value).splitlines()[0] == "the data package is invalid (21 problems):"


def test_cli_exits_1_with_one_line_per_problem(package_copy, capsys):
    set_cell("participants.csv", "S2-SU1", "gender", "unknown")(package_copy)
    assert main(["validate", str(package_copy)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].endswith(
        "participants.csv:2: column 'gender': 'unknown' is not one of female, male, other or not stated"
    )
    assert err[-1] == f"compendium: validate: {package_copy}: 1 problem"
