"""REFI-QDA exchange: codebook export and import (round trip), valid against the schema."""

import io
import shutil
import xml.etree.ElementTree as ET
import zipfile

import pandas as pd
import pytest
from conftest import edit_csv

from compendium import paths
from compendium.cli import main
from compendium.contract.problems import display_path
from compendium.contract.refiqda import (
    CODE_COLUMNS,
    NAMESPACE,
    PROJECT_NAMESPACE,
    CodebookError,
    code_guid,
    code_id_prefix,
    codebook_problems,
    codebook_xml,
    codes_csv_with,
    codes_from_codebook,
    entity_guid,
    project_problems,
    project_qde,
    segment_spans,
    source_texts,
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
    frame["name_wording"] = "seen"
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
    assert set(rows["name_wording"]) == {"synthetic"}
    assert rows["valence"].isna().all()


def test_code_id_prefix(study):
    assert code_id_prefix(study.codes, "A2-INT") == "A2"
    assert code_id_prefix(study.codes, "A4-FG") == "A4-FG"
    assert code_id_prefix(study.codes, "A1-SM") == "A1-SM"  # no codes yet: the activity id
    odd = HAND_MADE.assign(code_id=["X-1", "X-1.2", "X-1.1", "X-1.1.1", "Z-2"])
    assert code_id_prefix(odd, "X-INT") is None


def test_valence_and_name_wording_carry_over_only_for_the_same_code(study):
    own = study.codes[study.codes.activity_id == "A2-INT"]
    xml = codebook_xml(
        own.assign(name=own["name"].replace("Negative view", "Against it")), "A2-INT"
    )
    rows = codes_from_codebook(xml, "A2-INT", study.codes).set_index("code_id")
    assert rows.loc["A2-1.1.1", ["valence", "name_wording"]].tolist() == ["positive", "verbatim"]
    # Renamed: the valence belongs to the code, but the name no longer comes from the paper.
    assert rows.loc["A2-1.1.3", ["name", "valence", "name_wording"]].tolist() == [
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
    assert "wrote 17 codes of A4-FG" in capsys.readouterr().out
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
    assert added[["name", "name_wording"]].tolist() == ["Nouveaut\u00e9 \u2014 new", "synthetic"]


EXAMPLE_DATA = paths.ROOT / "examples" / "restwell" / "data"


@pytest.mark.parametrize("activity", ["S1-SURVEY", "S2-WS", "S3-TA"])
def test_cli_round_trip_on_the_example_whatever_its_methods_are_called(tmp_path, capsys, activity):
    """Survey answers, workshops and think-aloud sessions are coded too: each round-trips."""
    package = tmp_path / "data"
    shutil.copytree(EXAMPLE_DATA, package)
    out = tmp_path / f"{activity}.qdc"
    assert main(["codebook", activity, "--out", str(out), "--data-dir", str(package)]) == 0
    before = (package / "codes.csv").read_bytes()
    assert _run_import(out, package, activity) == 0
    assert (package / "codes.csv").read_bytes() == before
    again = tmp_path / "again.qdc"
    assert main(["codebook", activity, "--out", str(again), "--data-dir", str(package)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert f"codes of {activity}" in capsys.readouterr().out


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
            "{d}/activities.csv: expected an activity whose data are coded "
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
        f"compendium: import-codebook: {display_path(package_copy / 'participants.csv')}:12: "
        "expected a valid data package: column 'age_band': '99+' is not one of "
        "18-24, 25-34, 35-44, 45-54, 55-64, 65+"
    ]
    assert (package_copy / "codes.csv").read_bytes() == before


def test_cli_refuses_codes_that_would_break_the_package(
    package_copy, tmp_path, capsys, monkeypatch
):
    """The staged validation is the last gate: here a faulty writer duplicates a row."""
    from compendium.contract import refiqda

    real = refiqda.codes_csv_with
    monkeypatch.setattr(
        refiqda,
        "codes_csv_with",
        lambda text, a, rows: real(text, a, rows) + text.splitlines(True)[1],
    )
    out = tmp_path / "a2.qdc"
    out.write_bytes(codebook_xml(_read_codes(package_copy), "A2-INT"))
    before = (package_copy / "codes.csv").read_bytes()
    assert _run_import(out, package_copy) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        f"compendium: import-codebook: {out}: expected codes that keep the package valid; "
        "with them, codes.csv:161: column 'code_id': duplicate key (code_id='A2-1')"
    )
    assert (package_copy / "codes.csv").read_bytes() == before


# --------------------------------------------------------------------------- project export

PROJECT = {"q": PROJECT_NAMESPACE}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The committed package exported once with the CLI: (archive path, its members)."""
    out = tmp_path_factory.mktemp("qdpx") / "project.qdpx"
    assert main(["export-project", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    return out, members


def test_project_is_valid_against_the_project_schema(exported):
    _, members = exported
    assert project_problems(members["project.qde"]) == []


def test_every_selection_slices_its_segment_excerpt_out_of_its_source(exported, study):
    _, members = exported
    root = ET.fromstring(members["project.qde"])
    excerpt = study.segments.set_index("segment_id")["excerpt"]
    sources = root.findall("q:Sources/q:TextSource", PROJECT)
    assert len(sources) == 81  # 40 + 9 + 18 interviewees, 12 + 1 + 1 focus groups
    checked = 0
    for source in sources:
        path = source.get("plainTextPath")
        assert path == f"internal://{source.get('guid')}.txt"
        text = members["sources/" + path.removeprefix("internal://")].decode("utf-8")
        for selection in source.findall("q:PlainTextSelection", PROJECT):
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            assert text[start:end] == excerpt[selection.get("name")]
            checked += 1
    assert checked == len(study.segments) == 969


def test_codings_users_and_codebook_match_the_package(exported, study):
    _, members = exported
    root = ET.fromstring(members["project.qde"])
    users = {u.get("guid"): u.get("id") for u in root.findall("q:Users/q:User", PROJECT)}
    assert sorted(users.values()) == sorted(study.coders["coder_id"])
    top = root.findall("q:CodeBook/q:Codes/q:Code", PROJECT)
    assert [c.get("name").split(":")[0] for c in top] == ANALYSES
    assert {c.get("isCodable") for c in top} == {"false"}
    code_of = {code_guid(c): c for c in study.codes["code_id"]}
    in_codebook = {c.get("guid") for c in root.iterfind("q:CodeBook//q:Code", PROJECT)}
    assert set(code_of) <= in_codebook and len(in_codebook) == len(code_of) + len(ANALYSES)
    coder = study.segments.set_index("segment_id")["coder_id"]
    first, second = [], []
    for selection in root.iterfind(".//q:PlainTextSelection", PROJECT):
        segment = selection.get("name")
        assert users[selection.get("creatingUser")] == coder[segment]
        for coding in selection.findall("q:Coding", PROJECT):
            user = users[coding.get("creatingUser")]
            target = code_of[coding.find("q:CodeRef", PROJECT).get("targetGUID")]
            if user == coder[segment]:
                first.append((segment, target))
            else:  # the second coder of a double-coded segment
                second.append((segment, user, target))
    assert sorted(first) == sorted(study.codings.itertuples(index=False, name=None))
    assert sorted(second) == sorted(study.double_codings.itertuples(index=False, name=None))


def test_project_export_is_byte_identical_across_runs(exported, tmp_path):
    out, members = exported
    again = tmp_path / "again.qdpx"
    assert main(["export-project", str(again), "--data", str(paths.DEFAULT_DATA_DIR)]) == 0
    assert again.read_bytes() == out.read_bytes()
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and names[0] == "project.qde" and len(names) == 82
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_guids_are_fixed_derivations_of_package_ids():
    # uuid5 of the id in the package's namespace: the same on every machine, for ever.
    assert code_guid("A2-1") == "fe306f00-afd9-542e-9409-3d0d997cb257"
    assert entity_guid("user", "R1") == "2e65705a-1af6-592c-bea7-cc8d4ae5e9c2"
    # Kinds have separate namespaces: an id shared by two kinds gets two GUIDs.
    assert len({code_guid("R1"), entity_guid("user", "R1"), entity_guid("source", "R1")}) == 3


def test_second_codings_are_codings_by_the_second_coder(study):
    segments = study.segments.iloc[:3]
    double = pd.DataFrame(
        {
            "segment_id": segments["segment_id"].tolist(),
            "coder_id": ["R2", "R2", "R3"],
            "code_id": ["A2-1.1.1", "A2-2.1", "A2-2.4"],
        }
    )
    qde, files = project_qde(
        codes=study.codes,
        activities=study.activities,
        segments=segments,
        codings=study.codings,
        coders=study.coders,
        participants=study.participants,
        focus_groups=study.focus_groups,
        double_codings=double,
    )
    assert project_problems(qde) == []
    assert len(files) == 1  # the three segments are all SU1's
    root = ET.fromstring(qde)
    first = root.find(".//q:PlainTextSelection[@name='SEG00001']", PROJECT)
    codings = [
        (c.get("creatingUser"), c.find("q:CodeRef", PROJECT).get("targetGUID"))
        for c in first.findall("q:Coding", PROJECT)
    ]
    assert codings == [
        (entity_guid("user", "R1"), code_guid("A2-1.1.2")),
        (entity_guid("user", "R2"), code_guid("A2-1.1.1")),
    ]


def test_segment_spans_with_non_ascii_and_markup_characters():
    segments = pd.DataFrame(
        {
            "segment_id": ["s1", "s2", "s3", "s4"],
            "participant_id": ["p1", "p1", "p2", "p1"],
            "group_id": [None, None, None, None],
            "excerpt": [
                "Caf\u00e9 & <tea>",
                'She said "no"',
                "\u65e5\u672c",
                "Last \U0001f600 one",
            ],
        }
    )
    spans = segment_spans(segments).set_index("segment_id")
    texts = source_texts(segments)
    assert texts["p1"] == 'Caf\u00e9 & <tea>\n\nShe said "no"\n\nLast \U0001f600 one'
    # s1 has 12 characters (0..12); s2 (13) starts after it and a blank line: 12 + 2 = 14;
    # s4 (10, the emoji counting as one code point) starts at 27 + 2 = 29.
    assert spans.loc["s1", ["start", "end"]].tolist() == [0, 12]
    assert spans.loc["s2", ["start", "end"]].tolist() == [14, 27]
    assert spans.loc["s4", ["start", "end"]].tolist() == [29, 39]
    assert spans.loc["s3", ["source_id", "start", "end"]].tolist() == ["p2", 0, 2]
    for segment in segments.itertuples():
        span = spans.loc[segment.segment_id]
        assert texts[span.source_id][span.start : span.end] == segment.excerpt


def test_cli_export_refuses_an_invalid_package_and_keeps_the_old_archive(
    package_copy, tmp_path, capsys
):
    out = tmp_path / "p.qdpx"
    out.write_bytes(b"previous export")
    edit_csv(package_copy / "segments.csv", 5, "coder_id", "R9")
    assert main(["export-project", str(out), "--data", str(package_copy)]) == 1
    assert capsys.readouterr().err == (
        f"compendium: export-project: {display_path(package_copy / 'segments.csv')}:5: "
        "expected a valid data package: column 'coder_id': 'R9' does not match any coder_id in "
        "coders.csv\n"
    )
    assert out.read_bytes() == b"previous export"


def test_export_validates_the_project_before_writing(monkeypatch, tmp_path):
    from compendium.contract import refiqda

    real = refiqda.project_qde

    def broken(**tables):
        qde, files = real(**tables)
        return qde.replace(b'isCodable="false"', b'isCodable="no"', 1), files

    monkeypatch.setattr(refiqda, "project_qde", broken)
    out = tmp_path / "p.qdpx"
    with pytest.raises(refiqda.ExchangeError, match="expected a project valid against Project.xsd"):
        refiqda.export_project(paths.DEFAULT_DATA_DIR, out)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_refuses_double_codings_that_do_not_fit(package_copy, tmp_path, capsys):
    from compendium.contract.descriptor import read_descriptor
    from compendium.contract.schema import (
        descriptor_text,
        package_descriptor,
        package_metadata,
        read_package_json,
    )

    (package_copy / "double_codings.csv").write_text(
        "segment_id,coder_id,code_id\nSEG00001,R2,A2-1.1.1\nSEG00002,R2,A2-99\n", encoding="utf-8"
    )
    package = read_package_json(package_copy)
    resources = {r["name"] for r in package["resources"]} | {"double_codings"}
    rewritten = package_descriptor(
        read_descriptor(package_copy), resources, package_metadata(package)
    )
    (package_copy / "datapackage.json").write_text(descriptor_text(rewritten), encoding="utf-8")
    out = tmp_path / "p.qdpx"
    assert main(["export-project", str(out), "--data", str(package_copy)]) == 1
    assert capsys.readouterr().err == (
        f"compendium: export-project: {display_path(package_copy / 'double_codings.csv')}:3: "
        "expected a valid data package: column 'code_id': 'A2-99' does not match any code_id in "
        "codes.csv\n"
    )
    assert not out.exists()
