"""Validation names the file, row and column of every problem, and the CLI exits 1."""

from __future__ import annotations

import pytest
from conftest import edit_csv

from compendium.cli import main
from compendium.contract.loading import load_study
from compendium.contract.validation import InvalidPackage, validate_package


def messages(data_dir) -> list[str]:
    return [str(p) for p in validate_package(data_dir)]


def only_message(data_dir) -> str:
    found = messages(data_dir)
    assert len(found) == 1, found
    return found[0]


def test_committed_package_is_valid(capsys):
    assert main(["validate", "data"]) == 0
    assert "is a valid data package" in capsys.readouterr().out


def test_missing_column(package_copy):
    path = package_copy / "sites.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    assert only_message(package_copy).endswith(
        "sites.csv:1: column 'region': missing column; expected columns site_id, label, setting, region"
    )


def test_wrong_type(package_copy):
    edit_csv(package_copy / "focus_groups.csv", 3, "size", "seven")
    assert only_message(package_copy).endswith(
        "focus_groups.csv:3: column 'size': 'seven' is not a valid integer"
    )


def test_unknown_category(package_copy):
    edit_csv(package_copy / "participants.csv", 12, "age_band", "99+")
    assert only_message(package_copy).endswith(
        "participants.csv:12: column 'age_band': '99+' is not one of 18-24, 25-34, 35-44, 45-54, 55-64, 65+"
    )


def test_duplicate_key(package_copy):
    edit_csv(package_copy / "codes.csv", 3, "code_id", "A2-1")
    found = messages(package_copy)
    assert any(
        m.endswith(
            "codes.csv:3: column 'code_id': duplicate key (code_id='A2-1'); the same as in the row at position 2"
        )
        for m in found
    ), found


def test_dangling_foreign_key(package_copy):
    edit_csv(package_copy / "participants.csv", 5, "site_id", "Z")
    assert only_message(package_copy).endswith(
        "participants.csv:5: column 'site_id': 'Z' does not match any site_id in sites.csv"
    )


def test_empty_file(package_copy):
    (package_copy / "coders.csv").write_text("")
    assert only_message(package_copy).endswith(
        "coders.csv: file is empty; expected a header row: coder_id, role"
    )


def test_non_utf8_file(package_copy):
    path = package_copy / "sites.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Trust C", b"Trust \xe9")
    path.write_bytes(b"\n".join(lines))
    assert only_message(package_copy).endswith(
        "sites.csv:4: is not UTF-8: byte 0xe9 cannot be decoded"
    )


def test_decision_with_no_finding(package_copy):
    path = package_copy / "trace.csv"
    kept = [line for line in path.read_text().splitlines() if not line.endswith(",D4.3")]
    path.write_text("\n".join(kept) + "\n")
    found = messages(package_copy)
    assert any(
        m.endswith(
            "decisions.csv:8: column 'decision_id': D4.3 has no supporting finding in trace.csv"
        )
        for m in found
    ), found
    # F4.3 informed only D4.3, so it is now an acted-on finding with no decision: reported too.
    assert len(found) == 2


def test_sample_size_must_match_participants(package_copy):
    edit_csv(package_copy / "activities.csv", 4, "reported_n", "42")
    assert only_message(package_copy).endswith(
        "activities.csv:4: column 'reported_n': A2-INT reports 42 participants but there are 41 "
        "interviewed participants in participants.csv"
    )


def test_cli_exits_1_with_one_line_per_problem(package_copy, capsys):
    edit_csv(package_copy / "participants.csv", 12, "age_band", "99+")
    edit_csv(package_copy / "focus_groups.csv", 3, "size", "seven")
    assert main(["validate", str(package_copy)]) == 1
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 2
    assert "2 problem(s)" in out.err


def test_loader_refuses_an_invalid_package(package_copy):
    edit_csv(package_copy / "participants.csv", 12, "age_band", "99+")
    with pytest.raises(InvalidPackage, match="participants.csv:12: column 'age_band'"):
        load_study(package_copy)
