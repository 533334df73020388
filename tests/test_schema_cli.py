"""``compendium schema`` rewrites datapackage.json from study.yaml; ``validate`` lists problems."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from compendium import paths
from compendium.cli import main
from compendium.contract.validation import validate_package


def add_attribute(data: Path) -> None:
    """Declare a new participant attribute in study.yaml and fill its column in participants.csv."""
    study = data / "study.yaml"
    descriptor = yaml.safe_load(study.read_text(encoding="utf-8"))
    descriptor["attributes"].append(
        {
            "name": "employment",
            "label": "Employment",
            "type": "category",
            "values": ["in work", "not in work", "student"],
        }
    )
    study.write_text(yaml.safe_dump(descriptor, sort_keys=False), encoding="utf-8")
    rows = list(csv.reader(io.StringIO((data / "participants.csv").read_text(encoding="utf-8"))))
    rows[0].append("employment")
    for i, row in enumerate(rows[1:]):
        row.append(["in work", "not in work", "student", ""][i % 4])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (data / "participants.csv").write_text(buffer.getvalue(), encoding="utf-8")


def test_schema_rewrites_the_committed_package_exactly(package_copy, capsys):
    assert main(["schema", str(package_copy)]) == 0
    written = (package_copy / "datapackage.json").read_bytes()
    assert written == (paths.DEFAULT_DATA_DIR / "datapackage.json").read_bytes()
    out = capsys.readouterr().out
    assert out.startswith(f"schema: wrote {package_copy / 'datapackage.json'} (")


def test_a_new_attribute_is_adopted_by_schema(package_copy, capsys):
    before = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    add_attribute(package_copy)
    (problem,) = [str(p) for p in validate_package(package_copy)]
    assert "resource 'participants' differs from what study.yaml declares" in problem
    assert "run `python -m compendium schema` on the folder to rewrite it" in problem
    assert main(["schema", str(package_copy)]) == 0
    assert validate_package(package_copy) == []
    after = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    kept = {k: v for k, v in before.items() if k != "resources"}
    assert {k: v for k, v in after.items() if k != "resources"} == kept
    (participants,) = [r for r in after["resources"] if r["name"] == "participants"]
    field = participants["schema"]["fields"][-1]
    assert field["name"] == "employment"
    assert field["constraints"] == {"enum": ["in work", "not in work", "student"]}


def set_cells(path: Path, column: str, values: dict[int, str]) -> None:
    """Set ``column`` in the data rows numbered in ``values`` (1 = the first row under the header)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    at = rows[0].index(column)
    for number, value in values.items():
        rows[number][at] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def test_a_new_role_is_adopted_and_a_value_outside_it_still_refused(package_copy):
    study = package_copy / "study.yaml"
    descriptor = yaml.safe_load(study.read_text(encoding="utf-8"))
    descriptor["roles"].append({"id": "volunteer", "label": "Volunteer"})
    study.write_text(yaml.safe_dump(descriptor, sort_keys=False), encoding="utf-8")
    set_cells(package_copy / "participants.csv", "role", {1: "volunteer", 2: "janitor"})
    assert main(["schema", str(package_copy)]) == 0
    problems = [str(p) for p in validate_package(package_copy)]
    assert "participants.csv:3: column 'role': 'janitor' is not one of" in problems[0]
    assert "volunteer" in problems[0]
    assert not any("participants.csv:2:" in p for p in problems)


def test_schema_refuses_an_invalid_descriptor_and_writes_nothing(package_copy, capsys):
    study = package_copy / "study.yaml"
    study.write_text(study.read_text().replace("type: category", "type: colour", 1))
    before = (package_copy / "datapackage.json").read_bytes()
    assert main(["schema", str(package_copy)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "attributes[0].type: 'colour' is not one of category, integer" in err[0]
    assert err[-1] == f"compendium: schema: {package_copy}: nothing written: study.yaml is invalid"
    assert (package_copy / "datapackage.json").read_bytes() == before


def test_schema_refuses_a_csv_the_contract_does_not_know(package_copy, capsys):
    (package_copy / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    before = (package_copy / "datapackage.json").read_bytes()
    assert main(["schema", str(package_copy)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"compendium: schema: nothing written: {package_copy / 'notes.csv'}: ")
    assert "not a table of the data contract; expected one of activities, coders" in line
    assert (package_copy / "datapackage.json").read_bytes() == before


def test_schema_keeps_metadata_it_cannot_read_by_refusing(package_copy, capsys):
    path = package_copy / "datapackage.json"
    path.write_text('{\n  "name": "x",\n  "title" "y"\n}\n', encoding="utf-8")
    assert main(["schema", str(package_copy)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"compendium: schema: nothing written: {path}:3:11: is not valid JSON")
    assert path.read_text(encoding="utf-8").startswith('{\n  "name": "x"')


def test_schema_without_a_package_descriptor_starts_from_study_yaml(package_copy):
    (package_copy / "datapackage.json").unlink()
    assert main(["schema", str(package_copy)]) == 0
    package = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    assert package["name"] == "milton2017"
    assert package["title"].startswith("Development of a peer-supported")
    assert validate_package(package_copy) == []
    assert not list(package_copy.glob(".*.tmp"))


def test_validate_caps_a_long_list_of_problems(package_copy, capsys):
    everyone = dict.fromkeys(range(1, 41), "unheard-of")
    for column in ("age_band", "gender", "ethnicity"):
        set_cells(package_copy / "participants.csv", column, everyone)
    count = len(validate_package(package_copy))
    assert count > 50
    assert main(["validate", str(package_copy)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 52
    assert "column 'age_band': 'unheard-of' is not one of 18-24" in err[0]
    assert err[50] == f"... and {count - 50} more"
    assert err[51] == f"compendium: validate: {package_copy}: {count} problems"
