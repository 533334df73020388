"""The large-package paths give what the plain ones give (no timings: `make bench` has them)."""

from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from compendium import paths
from compendium.analysis.themes import code_counts
from compendium.contract import validation
from compendium.contract.loading import cast_table, read_typed_table
from compendium.contract.schema import read_package_json
from compendium.contract.synthesis import scaled_package_files, scaled_tables


def nvivo_reference(codes, segments, codings) -> pd.DataFrame:
    """Sources and references by sets, code by code: slow, and plainly right."""
    parent = dict(zip(codes["code_id"], codes["parent_id"], strict=True))
    source = dict(
        zip(
            segments["segment_id"],
            segments["group_id"].fillna(segments["participant_id"]),
            strict=True,
        )
    )
    refs = {c: set() for c in codes["code_id"]}
    for segment, code in zip(codings["segment_id"], codings["code_id"], strict=True):
        if segment not in source:
            continue
        while isinstance(code, str) and code in refs:
            refs[code].add(segment)
            code = parent[code]
    return pd.DataFrame(
        {
            "sources": [len({source[s] for s in refs[c]}) for c in codes["code_id"]],
            "references": [len(refs[c]) for c in codes["code_id"]],
        },
        index=pd.Index(codes["code_id"], name="code_id"),
    )


def test_code_counts_of_a_scaled_package_match_counting_by_sets():
    tables = scaled_tables(4000, n_participants=300, seed=5)
    codes, segments, codings = tables["codes"], tables["segments"], tables["codings"]
    # Shuffled, so that the codings are not in segment order as a package's usually are.
    codings = codings.sample(frac=1, random_state=1).reset_index(drop=True)
    expected = nvivo_reference(codes, segments, codings)
    pd.testing.assert_frame_equal(code_counts(codes, segments, codings), expected)
    own = codes[codes["activity_id"] == codes["activity_id"].iloc[-1]]
    pd.testing.assert_frame_equal(code_counts(own, segments, codings), expected.loc[own["code_id"]])


def test_code_counts_sorts_pairs_when_the_grid_of_flags_would_be_too_large(monkeypatch):
    tables = scaled_tables(3000, n_participants=200, seed=6)
    args = tables["codes"], tables["segments"], tables["codings"]
    flagged = code_counts(*args)
    monkeypatch.setattr("compendium.analysis.themes.FLAG_CELLS", 0)
    pd.testing.assert_frame_equal(code_counts(*args), flagged)


@pytest.mark.parametrize("key", [["a"], ["a", "b"]])
def test_duplicated_rows_is_pandas_duplicated(key):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "a": rng.choice(["x", "y", "z", ""], 500).astype(object),
            "b": rng.choice(["1", "2"], 500).astype(object),
        }
    ).astype("str")
    expected = frame.duplicated(subset=key, keep="first").to_numpy()
    assert (validation.duplicated_rows(frame, key) == expected).all()
    assert not validation.duplicated_rows(frame.iloc[:0], key).any()


@pytest.mark.parametrize("key", [["a"], ["a", "b"]])
def test_duplicated_rows_with_a_foreign_keys_rows_is_pandas_duplicated(key):
    rng = np.random.default_rng(3)
    targets = pd.Series([f"T{i}" for i in range(40)], dtype="str")
    frame = pd.DataFrame(
        {"a": rng.choice(targets.to_numpy(), 400), "b": rng.choice(["1", "2", "3"], 400)}
    ).astype("str")
    expected = frame.duplicated(subset=key, keep="first").to_numpy()
    codes = {"a": validation.key_rows(targets, frame["a"])}
    assert (validation.duplicated_rows(frame, key, codes) == expected).all()


@pytest.mark.parametrize(
    "keys",
    [["k1", "k2", "", "k3"], ["", "k1", "k2", "k3"], ["k1"], []],
    ids=["hashed", "binary-searched", "one key", "no key"],
)
def test_key_rows_is_get_indexer(keys):
    keys = pd.Series(keys, dtype="str")
    values = pd.Series(["k3", "x", "", None, "k1", "k3", "k0", "k9", "k2"], dtype="str")
    expected = pd.Index(keys).get_indexer(values)
    assert validation.key_rows(keys, values).tolist() == expected.tolist()


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_a_bad_byte_is_found_on_its_line_whatever_the_chunks(tmp_path, monkeypatch, chunk, bom):
    monkeypatch.setattr(validation, "CHUNK", chunk)
    path = tmp_path / "t.csv"
    path.write_bytes(bom + "a,b\nx,é\n".encode() + b"y,\xc3\xff\nz,w\n")
    assert validation.undecodable_byte(path) == (3, 0xC3)
    path.write_bytes(bom + "a,b\nx,é\n".encode() + b"y,\xc3")  # ends inside a character
    assert validation.undecodable_byte(path) == (3, 0xC3)
    path.write_bytes(bom + "a,b\nx,é\n".encode())
    assert validation.undecodable_byte(path) is None


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_a_short_row_is_found_whatever_the_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(validation, "CHUNK", chunk)
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n\n4,5\n6,7,8", encoding="utf-8")
    with pytest.raises(pd.errors.ParserError):
        validation.read_text_frame(path)
    path.write_text("a,b,c\n1,2,3\n\n4,5,6\n6,7,8", encoding="utf-8")
    assert len(validation.read_text_frame(path)) == 3


READINGS = {
    "plain": "id,person,group\n"
    + "".join(f"S{i},P{i % 4},{'' if i % 3 else 'G'}\n" for i in range(50)),
    "byte-order mark": "\ufeffid,person\nS1,P1\n",
    "quoted newline, comma and quote": 'id,text\nS1,"a\nb, ""c"""\r\nS2,\n',
    "quoted empty cell": 'id,text\nS1,""\n',
    "blank line": "id,text\nS1,a\n\nS2,b",
    "padded header": " id ,text\nS1,a\n",
    "header only": "id,text\n",
}


@pytest.mark.parametrize("name", READINGS)
def test_reading_a_file_gives_pandas_plain_reading(tmp_path, monkeypatch, name):
    monkeypatch.setattr(validation, "READ_ROWS", 7)  # several chunks when pandas reads
    path = tmp_path / "t.csv"
    path.write_bytes(READINGS[name].encode("utf-8"))
    frame = validation.read_text_frame(path)
    plain = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
    ).rename(columns=str.strip)
    pd.testing.assert_frame_equal(frame, plain.astype("str"))
    assert all(dtype == "str" for dtype in frame.dtypes)


def test_arrow_reads_the_large_tables_and_pandas_what_arrow_refuses(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(READINGS["plain"], encoding="utf-8")
    assert (
        validation.read_arrow_table(
            path, dict.fromkeys(["id", "person", "group"], pa.string()), False
        )
        is not None
    )
    # A line of blanks is a record of one field, as ever: refused, then located by pandas' path.
    path.write_text("id,text\nS1,a\n   \n" + "".join(f"S{i},t\n" for i in range(2, 20)))
    assert (
        validation.read_arrow_table(path, dict.fromkeys(["id", "text"], pa.string()), False) is None
    )
    with pytest.raises(pd.errors.ParserError):
        validation.read_text_frame(path)
    path.write_text("id,id\n1,2\n", encoding="utf-8")
    assert validation.read_arrow_table(path, {"id": pa.string()}, False) is None


def test_a_scaled_package_is_valid(tmp_path):
    for name, content in scaled_package_files(3000, n_participants=200, seed=4).items():
        (tmp_path / name).write_bytes(content)
    assert validation.validate_package(tmp_path) == []


@pytest.mark.parametrize("dangling", [False, True])
def test_a_scaled_packages_key_problems_are_located_as_ever(tmp_path, dangling):
    files = scaled_package_files(3000, n_participants=200, seed=4)
    codings = files["codings.csv"].decode().splitlines(keepends=True)
    segment, code = codings[5].strip().split(",")
    # A repeated coding (its key found from the segments' rows when every coding has one),
    # perhaps a coding of no segment, and a segment id repeated in segments.csv.
    codings += [codings[5]] + (["NO-SUCH-SEGMENT,A2-1\n"] if dangling else [])
    files["codings.csv"] = "".join(codings).encode()
    segments = files["segments.csv"].decode().splitlines(keepends=True)
    files["segments.csv"] = "".join([*segments, segments[3]]).encode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    problems = [str(p).removeprefix(f"{tmp_path}/") for p in validation.validate_package(tmp_path)]
    expected = [
        f"codings.csv:{len(codings) - dangling}: column 'segment_id': duplicate key "
        f"(segment_id={segment!r}, code_id={code!r}); first on line 6",
        f"segments.csv:{len(segments) + 1}: column 'segment_id': duplicate key "
        f"(segment_id={segments[3].split(',')[0]!r}); first on line 4",
    ]
    if dangling:
        expected.insert(
            1,
            f"codings.csv:{len(codings)}: column 'segment_id': 'NO-SUCH-SEGMENT' does not match "
            "any segment_id in segments.csv",
        )
    assert problems == expected


@pytest.mark.parametrize("package", ["data", "examples/restwell/data"])
def test_typed_reading_is_the_cast_of_the_text(package):
    folder = paths.ROOT / package
    for resource in read_package_json(folder)["resources"]:
        fields = resource["schema"]["fields"]
        expected = cast_table(validation.read_text_frame(folder / resource["path"]), fields)
        typed = read_typed_table(folder / resource["path"], fields)
        pd.testing.assert_frame_equal(typed, expected, check_exact=True)


def test_typed_reading_of_every_kind_of_cell(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(
        "\ufeffid,n,x,flag,none,text\n"
        'a,-7,1e-3,true,,""\n'
        'b,007,-2.50,false,,"two, words"\n'
        "c,,0.1000000000000000055511151231257827,,,\n".encode()
    )
    kinds = {"id": "string", "n": "integer", "x": "number", "flag": "boolean", "none": "integer"}
    fields = [{"name": n, "type": kinds.get(n, "string")} for n in kinds | {"text": ""}]
    typed = read_typed_table(path, fields)
    pd.testing.assert_frame_equal(
        typed, cast_table(validation.read_text_frame(path), fields), check_exact=True
    )
    assert typed["n"].tolist() == [-7, 7, pd.NA] and str(typed["none"].dtype) == "Int64"
