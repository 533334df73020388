"""REFI-QDA codebook export: valid against the published schema, faithful to the codebook."""

import xml.etree.ElementTree as ET

import pytest

from compendium.contract.refiqda import NAMESPACE, code_guid, codebook_problems, codebook_xml

ANALYSES = ["A2-INT", "A3-FG", "A4-INT", "A4-FG", "A5-INT", "A5-FG"]


@pytest.mark.parametrize("activity", ANALYSES)
def test_every_codebook_exports_valid_refi_qda(study, activity):
    xml = codebook_xml(study.codes, activity)
    assert codebook_problems(xml) == []
    root = ET.fromstring(xml)
    exported = root.findall(f".//{{{NAMESPACE}}}Code")
    assert len(exported) == (study.codes.activity_id == activity).sum()


def test_hierarchy_and_names_survive(study):
    root = ET.fromstring(codebook_xml(study.codes, "A3-FG"))
    ns = {"q": NAMESPACE}
    top = root.findall("q:Codes/q:Code", ns)
    assert [c.get("name") for c in top][0] == "Overall impressions - View of PSW intervention"
    assert len(top) == 7
    shared = root.find(f".//q:Code[@guid='{code_guid('A3-1.1.1')}']", ns)
    assert shared.get("name") == "Shared knowledge and understanding"


def test_schema_rejects_a_broken_export(study):
    xml = codebook_xml(study.codes, "A4-FG").replace(b'isCodable="true"', b'isCodable="maybe"', 1)
    problems = codebook_problems(xml)
    assert len(problems) == 1
    assert "maybe" in problems[0]


def test_unknown_analysis_is_refused(study):
    with pytest.raises(ValueError, match="no codes belong to 'A9-X'"):
        codebook_xml(study.codes, "A9-X")


def test_cli_writes_a_valid_codebook(tmp_path, capsys):
    from compendium.cli import main

    out = tmp_path / "stage3.qdc"
    assert main(["codebook", "A3-FG", "--out", str(out)]) == 0
    assert codebook_problems(out.read_bytes()) == []
    assert "schema-valid" in capsys.readouterr().out


def test_cli_refuses_an_unknown_analysis_and_writes_nothing(tmp_path, capsys):
    from compendium.cli import main

    out = tmp_path / "x.qdc"
    assert main(["codebook", "A9-X", "--out", str(out)]) == 1
    assert not out.exists()
    assert "nothing written: no codes belong to 'A9-X'" in capsys.readouterr().err
