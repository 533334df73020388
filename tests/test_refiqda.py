"""REFI-QDA exchange: codebook export and import (round trip), valid against the schema."""

import io
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from conftest import edit_csv

from compendium import paths
from compendium.cli import main
from compendium.refiqda import (
    CODE_COLUMNS,
    NAMESPACE,
    CodebookError,
    code_guid,
    code_id_prefix,
    codebook_problems,
    codebook_xml,
    codes_csv_with,
    codes_from_codebook,
)

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
    out = tmp_path / "stage3.qdc"
    assert main(["codebook", "A3-FG", "--out", str(out)]) == 0
    assert codebook_problems(out.read_bytes()) == []
    assert "schema-valid" in capsys.readouterr().out


def test_cli_refuses_an_unknown_analysis_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x.qdc"
    assert main(["codebook", "A9-X", "--out", str(out)]) == 1
    assert not out.exists()
    assert "nothing written: no codes belong to 'A9-X'" in capsys.readouterr().err


# --------------------------------------------------------------------------- import and round trip


def _codes(rows: list[tuple]) -> pd.DataFrame:
    """A codes table from (code_id, parent_id, position, name, description) tuples."""
    frame = pd.DataFrame(rows, columns=["code_id", "parent_id", "position", "name", "description"])
    frame["activity_id"] = "X-INT"
    frame["valence"] = None
    frame["name_status"] = "seen"
    return frame[CODE_COLUMNS]


# Three levels deep, siblings out of file order, and text that XML and CSV must escape.
HAND_MADE = _codes(
    [
        ("X-1", None, 1, 'Fish & chips <"best">', "Caf\u00e9 talk: \u201cit's fine\u201d & more"),
        ("X-1.2", "X-1", 2, "Second child", "Comes after X-1.1, listed first here."),
        ("X-1.1", "X-1", 1, "First child, with a comma", 'Said "yes", then <no>.'),
        ("X-1.1.1", "X-1.1", 1, "\u00c5se's grandchild \u2013 \u65e5\u672c", "Nested & deep"),
        ("X-2", None, 2, "  Leading spaces kept", "Line one\nline two"),
    ]
)


@pytest.mark.parametrize("activity", ANALYSES)
def test_export_import_export_is_byte_identical(study, activity):
    first = codebook_xml(study.codes, activity)
    rows = codes_from_codebook(first, activity, study.codes)
    assert codebook_xml(rows, activity) == first
    # Importing the package's own export changes no byte of codes.csv either.
    text = (paths.DEFAULT_DATA_DIR / "codes.csv").read_text(encoding="utf-8")
    assert codes_csv_with(text, activity, rows) == text


def test_hand_made_codebook_round_trips_with_special_characters():
    first = codebook_xml(HAND_MADE, "X-INT")
    assert codebook_problems(first) == []
    assert b"Fish &amp; chips &lt;&quot;best&quot;&gt;" in first
    rows = codes_from_codebook(first, "X-INT", HAND_MADE)
    assert rows["code_id"].tolist() == ["X-1", "X-1.1", "X-1.1.1", "X-1.2", "X-2"]
    assert (
        rows.set_index("code_id").loc["X-1.1.1", "name"]
        == "\u00c5se's grandchild \u2013 \u65e5\u672c"
    )
    assert rows.set_index("code_id").loc["X-2", "description"] == "Line one\nline two"
    assert codebook_xml(rows, "X-INT") == first
    # The CSV side: the rows written and read back are the same rows.
    header = ",".join(CODE_COLUMNS) + "\n"
    text = codes_csv_with(header, "X-INT", rows)
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert back["name"].tolist() == rows["name"].tolist()
    assert back["description"].tolist() == rows["description"].tolist()


def test_imported_codes_take_ids_from_position_and_a_given_prefix():
    xml = codebook_xml(HAND_MADE, "X-INT")
    rows = codes_from_codebook(xml, "Y-FG", HAND_MADE, prefix="Y")
    assert rows[["code_id", "parent_id", "position"]].fillna("").values.tolist() == [
        ["Y-1", "", 1],
        ["Y-1.1", "Y-1", 1],
        ["Y-1.1.1", "Y-1.1", 1],
        ["Y-1.2", "Y-1", 2],
        ["Y-2", "", 2],
    ]
    # New to the package: no valence, and a name status saying it was not read in the paper.
    assert set(rows["name_status"]) == {"synthetic"}
    assert rows["valence"].isna().all()


def test_code_id_prefix(study):
    assert code_id_prefix(study.codes, "A2-INT") == "A2"
    assert code_id_prefix(study.codes, "A4-FG") == "A4-FG"
    assert code_id_prefix(study.codes, "A1-SM") == "A1-SM"  # no codes yet: the activity id
    odd = HAND_MADE.assign(code_id=["X-1", "X-1.2", "X-1.1", "X-1.1.1", "Z-2"])
    assert code_id_prefix(odd, "X-INT") is None


def test_valence_and_name_status_carry_over_only_for_the_same_code(study):
    own = study.codes[study.codes.activity_id == "A2-INT"]
    xml = codebook_xml(
        own.assign(name=own["name"].replace("Negative view", "Against it")), "A2-INT"
    )
    rows = codes_from_codebook(xml, "A2-INT", study.codes).set_index("code_id")
    assert rows.loc["A2-1.1.1", ["valence", "name_status"]].tolist() == ["positive", "seen"]
    # Renamed: the valence belongs to the code, but the name no longer comes from the paper.
    assert rows.loc["A2-1.1.3", ["name", "valence", "name_status"]].tolist() == [
        "Against it",
        "negative",
        "synthetic",
    ]


def _run_import(path, data, activity="A2-INT", *extra):
    return main(["import-codebook", str(path), "--activity", activity, "--data", str(data), *extra])


def test_cli_import_of_the_own_export_leaves_codes_csv_byte_identical(
    package_copy, tmp_path, capsys
):
    out = tmp_path / "a4fg.qdc"
    assert main(["codebook", "A4-FG", "--out", str(out), "--data-dir", str(package_copy)]) == 0
    before = (package_copy / "codes.csv").read_bytes()
    assert _run_import(out, package_copy, "A4-FG") == 0
    assert (package_copy / "codes.csv").read_bytes() == before
    assert "wrote 15 codes of A4-FG" in capsys.readouterr().out
    assert sorted(p.name for p in package_copy.iterdir() if p.name.startswith(".")) == []


def test_cli_round_trip_through_the_package_with_special_characters(package_copy, tmp_path):
    """Edit A5-FG's names and descriptions, add a code: export → import → export is identical."""
    own = _read_codes(package_copy).query("activity_id == 'A5-FG'")
    edited = own.assign(
        name=own["name"] + ' & <"co\u00f6rd">',
        description=own["description"].str.replace(".", ", \u00e9t\u00e9 & <more>.", regex=False),
    )
    extra = pd.DataFrame(
        [
            [
                "A5-FG-5.3",
                "A5-FG",
                "A5-FG-5",
                3,
                "Nouveaut\u00e9 \u2014 new",
                "Added in NVivo.",
                None,
                "seen",
            ]
        ],
        columns=CODE_COLUMNS,
    )
    source = tmp_path / "edited.qdc"
    source.write_bytes(codebook_xml(pd.concat([edited, extra]), "A5-FG"))
    before = (package_copy / "codes.csv").read_text(encoding="utf-8")
    assert _run_import(source, package_copy, "A5-FG") == 0
    after = (package_copy / "codes.csv").read_text(encoding="utf-8")
    again = tmp_path / "again.qdc"
    assert main(["codebook", "A5-FG", "--out", str(again), "--data-dir", str(package_copy)]) == 0
    assert again.read_bytes() == source.read_bytes()
    # Every other analysis's rows, and the header, are untouched, byte for byte.
    keep = [line for line in before.splitlines(True) if ",A5-FG," not in line]
    assert [line for line in after.splitlines(True) if ",A5-FG," not in line] == keep
    added = _read_codes(package_copy).set_index("code_id").loc["A5-FG-5.3"]
    assert added[["name", "name_status"]].tolist() == ["Nouveaut\u00e9 \u2014 new", "synthetic"]


def _read_codes(data_dir):
    return pd.read_csv(
        data_dir / "codes.csv", dtype={"position": "int64"}, keep_default_na=False, na_values=[""]
    )


BAD_XML = b'<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">\n  <Codes>\n    <Code name="a"></Codes>\n</CodeBook>\n'
INVALID_XML = (
    b'<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">\n  <Codes>\n'
    b'    <Code guid="6f35c6f2-bd8f-4f08-ad49-6d62cb8442a5" name="a" isCodable="true">\n'
    b"      <Description>ok</Description>\n"
    b'      <Code guid="not-a-guid" name="b" isCodable="true"/>\n'
    b"    </Code>\n  </Codes>\n</CodeBook>\n"
)
NO_DESCRIPTION = INVALID_XML.replace(b"not-a-guid", b"8e7fddfe-db36-48dc-b464-80c3a4decd90")
# Schema-valid, but its GUIDs come from another tool: it would replace codes that data uses.
FOREIGN = NO_DESCRIPTION.replace(
    b'isCodable="true"/>', b'isCodable="true"><Description>d</Description></Code>'
)


@pytest.mark.parametrize(
    ("content", "activity", "expected"),
    [
        (BAD_XML, "A5-FG", "{f}:4:22: expected well-formed XML: mismatched tag"),
        (
            INVALID_XML,
            "A5-FG",
            "{f}:6:7: expected XML valid against Codebook.xsd: attribute guid='not-a-guid' "
            "is not a GUID (hexadecimal digits grouped 8-4-4-4-12)",
        ),
        (
            NO_DESCRIPTION.replace(b"<Codes>", b"<Codes><Extra/>"),
            "A5-FG",
            "{f}:3:10: expected XML valid against Codebook.xsd: Unexpected child with tag "
            "'Extra' at position 1. Tag 'Code' expected.",
        ),
        (
            NO_DESCRIPTION,
            "A5-FG",
            "{f}:6:7: expected a Description for code 'b': the codes table requires one",
        ),
        (
            b'<!DOCTYPE CodeBook [<!ENTITY x "y">]>\n<CodeBook/>',
            "A5-FG",
            "{f}:1:20: expected no DOCTYPE declaration (REFI-QDA files have none)",
        ),
        (
            None,
            "A5-FG",
            "{f}: expected a readable REFI-QDA codebook: No such file or directory",
        ),
        (
            INVALID_XML,
            "A9-X",
            "{d}/activities.csv: expected an interview or focus-group activity "
            "(A2-INT, A3-FG, A4-INT, A4-FG, A5-INT, A5-FG), not 'A9-X'",
        ),
        (
            FOREIGN,
            "A5-FG",
            "{f}:6:7: expected code A5-FG-1.1 ('Structuring sessions', which codings.csv "
            "refers to) here with GUID " + code_guid("A5-FG-1.1") + ": codes that other tables use "
            "cannot move or go",
        ),
    ],
    ids=[
        "malformed",
        "schema-invalid",
        "unexpected-child",
        "no-description",
        "doctype",
        "missing",
        "unknown-activity",
        "moves-coded",
    ],
)
def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(
    package_copy, tmp_path, capsys, content, activity, expected
):
    path = tmp_path / "in.qdc"
    if content is not None:
        path.write_bytes(content)
    before = (package_copy / "codes.csv").read_bytes()
    assert _run_import(path, package_copy, activity) == 1
    err = capsys.readouterr().err
    assert err == "compendium: import-codebook: " + expected.format(f=path, d=package_copy) + "\n"
    assert (package_copy / "codes.csv").read_bytes() == before
    assert [p.name for p in package_copy.iterdir() if p.name.startswith(".")] == []


def test_codebook_error_is_one_line_with_position():
    with pytest.raises(CodebookError) as caught:
        codes_from_codebook(BAD_XML, "X-INT", HAND_MADE, path="bad.qdc")
    # expat points at the name in the closing tag that does not match: line 4, column 22.
    assert (caught.value.line, caught.value.column) == (4, 22)
    assert str(caught.value) == "bad.qdc:4:22: expected well-formed XML: mismatched tag"


def test_cli_refuses_to_import_into_an_invalid_package(package_copy, tmp_path, capsys):
    edit_csv(package_copy / "participants.csv", 12, "age_band", "99+")
    out = tmp_path / "a2.qdc"
    out.write_bytes(codebook_xml(_read_codes(package_copy), "A2-INT"))
    before = (package_copy / "codes.csv").read_bytes()
    assert _run_import(out, package_copy) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"compendium: import-codebook: {out}: expected a valid package after import; the package "
        f"is invalid already: {package_copy}/participants.csv:12: '99+' is not one of "
        "18-24, 25-34, 35-44, 45-54, 55-64, 65+"
    ]
    assert (package_copy / "codes.csv").read_bytes() == before
