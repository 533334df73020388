"""NVivo-style aggregation on a tiny hand-made codebook."""

import pandas as pd

from compendium.analysis.themes import code_counts


def test_parent_is_the_union_of_its_children():
    codes = pd.DataFrame({"code_id": ["T", "T.a", "T.b"], "parent_id": [None, "T", "T"]})
    segments = pd.DataFrame(
        {
            "segment_id": ["s1", "s2", "s3", "s4"],
            "participant_id": ["p1", "p1", "p2", None],
            "group_id": [None, None, None, "g1"],
        }
    )
    codings = pd.DataFrame(
        {
            "segment_id": ["s1", "s1", "s2", "s3", "s4"],
            "code_id": ["T.a", "T.b", "T.a", "T.b", "T.b"],
        }
    )
    counts = code_counts(codes, segments, codings)
    assert counts.loc["T.a"].tolist() == [1, 2]  # p1 twice
    assert counts.loc["T.b"].tolist() == [3, 3]  # p1, p2, g1
    assert counts.loc["T"].tolist() == [3, 4]  # s1 counted once although coded twice


def test_codings_outside_the_given_codes_or_segments_are_ignored():
    codes = pd.DataFrame({"code_id": ["T", "T.a"], "parent_id": [None, "T"]})
    segments = pd.DataFrame({"segment_id": ["s1"], "participant_id": ["p1"], "group_id": [None]})
    codings = pd.DataFrame({"segment_id": ["s1", "s1", "s9"], "code_id": ["T.a", "OTHER", "T.a"]})
    counts = code_counts(codes, segments, codings)
    assert counts.loc["T.a"].tolist() == [1, 1]
    assert counts.loc["T"].tolist() == [1, 1]


def test_one_analysis_alone_gives_the_same_counts_as_the_whole_package(study):
    whole = code_counts(study.codes, study.segments, study.codings)
    own = study.codes[study.codes.activity_id == "A5-INT"]
    alone = code_counts(own, study.segments, study.codings)
    assert alone.equals(whole.loc[own.code_id])
