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
    assert f"reproduce: {n} of {n} published figures reproduced" in out
    for figure_id in study.published_figures["figure_id"]:
        assert figure_id in out
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
    assert any(line.startswith("reproduce: MISMATCH PF04 ") for line in mismatched)
    assert any("PF06 " in line and "paper 7, data 8" in line for line in mismatched)
    assert "PF01 " not in err
    assert "published figures reproduced" in out
    assert "\u2717" in out


def test_reproduce_refuses_an_invalid_package(package_copy, capsys):
    (package_copy / "codings.csv").write_text("segment_id,code_id\nSEG00001,NOPE\n", "utf-8")
    assert main(["reproduce", str(package_copy)]) == 1
    err = capsys.readouterr().err
    assert "is not a valid data package" in err
    assert "codings.csv" in err


def test_module_entry_point_runs_reproduce():
    result = subprocess.run(
        [sys.executable, "-m", "compendium", "reproduce"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=paths.ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "published figures reproduced" in result.stdout
