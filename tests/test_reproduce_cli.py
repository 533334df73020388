"""``python -m compendium reproduce``: the table, the summary, and exit 1 naming any mismatch."""

from __future__ import annotations

import csv
import subprocess
import sys

from compendium import paths
from compendium.cli import main


def test_reproduce_committed_data_exits_0(study, capsys):
    assert main(["reproduce", str(paths.DEFAULT_DATA_DIR)]) == 0
    out, err = capsys.readouterr()
    n = len(study.published_figures)
    assert f"reproduce: {n} of {n} listed figures reproduced" in out
    for figure_id in study.published_figures["figure_id"]:
        assert figure_id in out
    assert "not an independent replication" in out
    assert "MISMATCH" not in out + err


def test_reproduce_names_each_changed_figure(package_copy, capsys):
    # Recode one positive-view segment as neutral: the package stays valid, but the
    # published counts of positive and neutral views no longer match the paper.
    path = package_copy / "codings.csv"
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    first = next(r for r in rows if r["code_id"] == "A2-1.1.1")
    first["code_id"] = "A2-1.1.2"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["segment_id", "code_id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    assert main(["reproduce", str(package_copy)]) == 1
    out, err = capsys.readouterr()
    mismatched = [line for line in err.splitlines() if "MISMATCH" in line]
    assert any(line.startswith("compendium: reproduce: MISMATCH PF04 ") for line in mismatched)
    assert any("PF06 " in line and "paper 7, data 8" in line for line in mismatched)
    assert "PF01 " not in err
    assert "listed figures reproduced" in out
    assert "\u2717" in out


def test_reproduce_refuses_a_package_without_published_figures(package_copy, capsys):
    from compendium.contract import schema
    from compendium.contract.descriptor import read_descriptor

    (package_copy / "published_figures.csv").unlink()
    # Findings that cite a published figure cite a code instead, so the package stays valid.
    evidence = package_copy / "finding_evidence.csv"
    cited = [
        f"{line.split(',')[0]},code,A2-1.1.1" if ",figure," in line else line
        for line in evidence.read_text("utf-8").splitlines()
    ]
    evidence.write_text("\n".join(dict.fromkeys(cited)) + "\n", "utf-8")
    package = schema.read_package_json(package_copy)
    kept = {r["name"] for r in package["resources"]} - {"published_figures"}
    rebuilt = schema.package_descriptor(
        read_descriptor(package_copy), kept, schema.package_metadata(package)
    )
    (package_copy / "datapackage.json").write_text(schema.descriptor_text(rebuilt), "utf-8")
    assert main(["reproduce", str(package_copy)]) == 1
    err = capsys.readouterr().err
    assert "lists no published figures (published_figures.csv, an optional module)" in err


def test_reproduce_refuses_an_invalid_package(package_copy, capsys):
    (package_copy / "codings.csv").write_text("segment_id,code_id\nSEG00001,NOPE\n", "utf-8")
    assert main(["reproduce", str(package_copy)]) == 1
    err = capsys.readouterr().err
    *problems, last = err.splitlines()
    assert last == f"compendium: reproduce: {package_copy}: not a valid data package"
    assert problems[0].startswith(f"{package_copy / 'codings.csv'}:2: column 'code_id'")


def test_module_entry_point_runs_reproduce():
    result = subprocess.run(
        [sys.executable, "-m", "compendium", "reproduce"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=paths.ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "listed figures reproduced" in result.stdout
