"""The generator: deterministic, exact on every published figure, NVivo-consistent."""

from __future__ import annotations

import filecmp

import pytest

from compendium import paths
from compendium.analysis.reproduction import reproduction_table
from compendium.analysis.themes import code_counts
from compendium.contract.loading import load_study
from compendium.contract.synthesis import build_tables, load_excerpts, load_spec, write_package
from compendium.contract.validation import InvalidPackage


def test_regenerates_the_committed_package_byte_for_byte(generated):
    files = sorted(p.name for p in paths.DEFAULT_DATA_DIR.iterdir())
    assert files == sorted(p.name for p in generated.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(
        paths.DEFAULT_DATA_DIR, generated, files, shallow=False
    )
    assert (mismatch, errors) == ([], [])
    assert len(match) == 22


def test_another_seed_gives_other_records_but_the_same_published_figures(tmp_path):
    other = load_study(
        write_package(build_tables(load_spec(), load_excerpts(), 99), tmp_path / "d", 99)
    )
    table = reproduction_table(other)
    assert table["matches"].all(), table[~table["matches"]]
    committed = (paths.DEFAULT_DATA_DIR / "participants.csv").read_text()
    assert (tmp_path / "d" / "participants.csv").read_text() != committed


def test_every_published_figure_is_reproduced(study):
    table = reproduction_table(study)
    assert len(table) == 64
    assert table["matches"].all(), table[~table["matches"]]
    seen = table[table["status"] == "seen"]
    assert len(seen) >= 45


@pytest.mark.parametrize(
    ("code", "sources", "references"),
    [
        ("A2-1.1.1", 31, 43),  # positive view
        ("A2-1.1.2", 7, 7),  # neutral or mixed
        ("A2-1.1.3", 6, 8),  # negative
        ("A2-1.1", 39, 57),  # all views: a union, not the sum (44, 58)
        ("A3-1.1.1", 11, 33),  # shared knowledge and understanding
        ("A4-1", 5, None),  # engagement barriers: 5 of 9
        ("A4-1.1", 4, None),
        ("A4-1.2", 4, None),
        ("A5-1.1", 12, None),  # clearly positive, 12 of 18
    ],
)
def test_nvivo_counts_match_the_paper(study, code, sources, references):
    counts = code_counts(study.codes, study.segments, study.codings)
    assert counts.loc[code, "sources"] == sources
    if references is not None:
        assert counts.loc[code, "references"] == references


def test_parent_counts_are_unions_smaller_than_child_sums(study):
    counts = code_counts(study.codes, study.segments, study.codings)
    children = ["A2-1.1.1", "A2-1.1.2", "A2-1.1.3"]
    assert counts.loc[children, "sources"].sum() == 44
    assert counts.loc[children, "references"].sum() == 58
    double = study.codings[study.codings["code_id"].isin(children)].groupby("segment_id").size()
    assert (double == 2).sum() == 1


def test_stage_samples_match_the_paper(study):
    people = study.participants
    assert len(people[people.activity_id == "A2-INT"]) == 41
    assert (people[people.activity_id == "A2-INT"].status == "interviewed").sum() == 40
    assert len(study.focus_groups[study.focus_groups.activity_id == "A3-FG"]) == 12
    assert study.focus_groups[study.focus_groups.activity_id == "A3-FG"].site_id.nunique() == 5
    pilot = people[people.activity_id == "A5-INT"]
    assert (len(pilot), (pilot.arm == "intervention").sum()) == (40, 21)
    assert (pilot.status == "interviewed").sum() == 18
    assert ((pilot.arm == "intervention") & (pilot.status == "declined")).sum() == 3
    assert (pilot.sessions_attended == 10).sum() == 7


def test_table2_counts(study):
    counts = code_counts(study.codes, study.segments, study.codings)["sources"]
    assert [counts[c] for c in ("A2-2.1", "A2-2.2", "A3-4.1", "A3-1.1.2", "A3-1.1.3")] == [
        27,
        5,
        7,
        8,
        5,
    ]
    links = study.programme_concepts
    assert (links.concept_id == "recovery").sum() == 12
    assert (links.concept_id == "psychoeducation").sum() == len(study.programmes) == 19
    assert [counts[c] for c in ("A2-2.3", "A3-4.2", "A3-1.1.4", "A2-2.4")] == [9, 6, 3, 12]


def test_theme_counts_per_analysis(study):
    top = study.codes[study.codes.parent_id.isna()].groupby("activity_id").size()
    assert [top[a] for a in ("A2-INT", "A3-FG", "A4-INT", "A4-FG", "A5-INT")] == [5, 7, 9, 4, 8]


def test_quotes_sit_with_the_participant_who_said_them(study):
    quotes = study.quotes.dropna(subset=["participant_id"])
    segments = study.segments.merge(study.codings, on="segment_id")
    for q in quotes.itertuples():
        spoken = segments[
            (segments.code_id == q.code_id) & (segments.participant_id == q.participant_id)
        ]
        assert len(spoken) >= 1, q.quote_id


def test_no_direct_identifiers_in_the_package(study):
    import re

    text = "\n".join(p.read_text(encoding="utf-8") for p in paths.DEFAULT_DATA_DIR.glob("*.csv"))
    assert not re.search(r"[\w.]+@[\w.]+\.\w+", text)  # emails
    assert not re.search(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", text)  # UK postcodes
    assert not re.search(r"\b\d{3} ?\d{3} ?\d{4}\b", text)  # NHS numbers
    for name in (
        "Hindle",
        "Lynskey",
        "Plant",
        "Edwards",
        "Barrett",
        "Caul",
    ):  # acknowledged peer workers
        assert name not in text


def test_nothing_is_written_when_the_package_is_invalid(tmp_path):
    tables = build_tables(load_spec(), load_excerpts(), 2017)
    tables["participants"][0]["age_band"] = "99+"
    out = tmp_path / "out"
    with pytest.raises(
        InvalidPackage, match=r"participants.csv:2: column 'age_band': '99\+' is not one of"
    ):
        write_package(tables, out, 2017)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind
