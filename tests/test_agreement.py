"""Inter-coder agreement: the libraries' figures against a hand-worked example."""

import math

import pandas as pd
import pytest

from compendium.analysis.agreement import (
    BOTH_CODERS_ALWAYS,
    NEITHER_CODER,
    NO_DOUBLE_CODING,
    OVERALL,
    UNDEFINED,
    agreement_table,
    theme_ratings,
)

# Analysis X has three main themes: T1 (with a child T1.1), T2 and T3. Analysis Y has one
# theme and no double coding. Ten segments s1..s10 of X, first coded by R1, are coded
# again by R2.
CODES = pd.DataFrame(
    {
        "code_id": ["X-1", "X-1.1", "X-2", "X-3", "Y-1"],
        "activity_id": ["X", "X", "X", "X", "Y"],
        "parent_id": [None, "X-1", None, None, None],
        "position": [1, 1, 2, 3, 1],
        "name": ["T1", "T1.1", "T2", "T3", "Only theme"],
    }
)
SEGMENTS = pd.DataFrame(
    {"segment_id": [f"s{i}" for i in range(1, 12)], "coder_id": ["R1"] * 10 + ["R3"]}
)
# R1: s1, s2 at T1.1 (so under T1), s3-s6 at T1, s7-s10 at T2.
FIRST = pd.DataFrame(
    {
        "segment_id": ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11"],
        "code_id": [
            "X-1.1",
            "X-1.1",
            "X-1",
            "X-1",
            "X-1",
            "X-1",
            "X-2",
            "X-2",
            "X-2",
            "X-2",
            "Y-1",
        ],
    }
)
# R2: s1-s4 under T1 (s2 at the child), s7 at both T1 and T2, s5, s6 and s8-s10 at T2.
SECOND = pd.DataFrame(
    {
        "segment_id": ["s1", "s2", "s3", "s4", "s7", "s7", "s5", "s6", "s8", "s9", "s10"],
        "coder_id": ["R2"] * 11,
        "code_id": ["X-1", "X-1.1", "X-1", "X-1", "X-1", "X-2", "X-2", "X-2", "X-2", "X-2", "X-2"],
    }
)


@pytest.fixture(scope="module")
def table():
    return agreement_table(CODES, SEGMENTS, FIRST, SECOND).set_index(["activity_id", "theme"])


def test_ratings_count_a_code_under_its_main_theme():
    ratings = theme_ratings(CODES, SEGMENTS, FIRST, SECOND)
    t1 = ratings[ratings["theme_id"] == "X-1"]
    assert t1["first"].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]  # s1, s2 via T1.1
    assert t1["second"].tolist() == [1, 1, 1, 1, 0, 0, 1, 0, 0, 0]
    assert len(ratings) == 30  # 10 segments x 3 themes of X; none of Y
    assert set(ratings["second_coder"]) == {"R2"} and set(ratings["first_coder"]) == {"R1"}


def test_theme_1_kappa_and_alpha_match_the_hand_worked_figures(table):
    # T1: R1 = 1111110000, R2 = 1111001000.
    # Cohen: agreement on s1-s4 (1,1) and s8-s10 (0,0): p_o = 7/10 = 0.7.
    #   R1 says 1 six times in ten, R2 five: p_e = 0.6 * 0.5 + 0.4 * 0.5 = 0.5.
    #   kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    # Krippendorff, coincidence matrix (each unit adds its two ordered pairs):
    #   o_11 = 2 * 4 = 8, o_00 = 2 * 3 = 6, o_01 = o_10 = 3 (s5, s6, s7);
    #   n_1 = 8 + 3 = 11, n_0 = 6 + 3 = 9, n = 20.
    #   alpha = 1 - (n - 1) * o_01 / (n_0 * n_1) = 1 - 19 * 3 / 99 = 42/99 = 0.4242...
    row = table.loc[("X", "T1")]
    assert row["n_segments"] == 10 and row["n_units"] == 10
    assert (row["first_coded"], row["second_coded"]) == (6, 5)
    assert row["observed"] == pytest.approx(0.7)
    assert row["kappa"] == pytest.approx(0.4)
    assert row["alpha"] == pytest.approx(42 / 99)
    assert row["reason"] == ""


def test_theme_2_kappa_and_alpha_match_the_hand_worked_figures(table):
    # T2: R1 = 0000001111, R2 = 0000111111.
    # Cohen: agreement on s1-s4 (0,0) and s7-s10 (1,1): p_o = 8/10 = 0.8.
    #   R1 says 1 in 4 of 10, R2 in 6: p_e = 0.4 * 0.6 + 0.6 * 0.4 = 0.48.
    #   kappa = (0.8 - 0.48) / (1 - 0.48) = 0.32 / 0.52 = 8/13 = 0.6154.
    # Krippendorff: o_00 = 8, o_11 = 8, o_01 = o_10 = 2 (s5, s6); n_0 = n_1 = 10, n = 20.
    #   alpha = 1 - 19 * 2 / (10 * 10) = 0.62.
    row = table.loc[("X", "T2")]
    assert row["observed"] == pytest.approx(0.8)
    assert row["kappa"] == pytest.approx(8 / 13)
    assert row["alpha"] == pytest.approx(0.62)


def test_overall_pools_every_theme_segment_pair(table):
    # 3 themes x 10 segments = 30 units. Pairs (R1, R2): T1 gives (1,1) x4, (1,0) x2,
    # (0,1) x1, (0,0) x3; T2 gives (0,0) x4, (0,1) x2, (1,1) x4; T3 gives (0,0) x10.
    # Totals: (1,1) 8, (1,0) 2, (0,1) 3, (0,0) 17.
    # Cohen: p_o = 25/30. R1 says 1 in 10 of 30, R2 in 11:
    #   p_e = (10/30)(11/30) + (20/30)(19/30) = 490/900;
    #   kappa = (750/900 - 490/900) / (410/900) = 260/410 = 26/41 = 0.6341.
    # Krippendorff: o_11 = 16, o_00 = 34, o_01 = o_10 = 5; n_1 = 21, n_0 = 39, n = 60.
    #   alpha = 1 - 59 * 5 / (39 * 21) = 1 - 295/819 = 524/819 = 0.6398.
    row = table.loc[("X", OVERALL)]
    assert pd.isna(row["theme_id"])
    assert (row["n_segments"], row["n_units"]) == (10, 30)
    assert (row["first_coded"], row["second_coded"]) == (10, 11)
    assert row["observed"] == pytest.approx(25 / 30)
    assert row["kappa"] == pytest.approx(26 / 41)
    assert row["alpha"] == pytest.approx(524 / 819)


def test_a_theme_neither_coder_used_is_nan_with_its_reason(table):
    row = table.loc[("X", "T3")]
    assert math.isnan(row["kappa"]) and math.isnan(row["alpha"])
    assert row["observed"] == 1.0
    assert row["reason"] == NEITHER_CODER + UNDEFINED


def test_an_analysis_without_double_coding_is_nan_with_its_reason(table):
    for theme in ("Only theme", OVERALL):
        row = table.loc[("Y", theme)]
        assert (row["n_segments"], row["n_units"]) == (0, 0)
        assert math.isnan(row["kappa"]) and math.isnan(row["alpha"]) and math.isnan(row["observed"])
        assert row["reason"] == NO_DOUBLE_CODING


def test_both_coders_marking_every_segment_is_nan_with_its_reason():
    second = pd.DataFrame({"segment_id": ["s11"], "coder_id": ["R2"], "code_id": ["Y-1"]})
    table = agreement_table(CODES, SEGMENTS, FIRST, second).set_index(["activity_id", "theme"])
    for theme in ("Only theme", OVERALL):
        row = table.loc[("Y", theme)]
        assert row["n_segments"] == 1 and row["observed"] == 1.0
        assert math.isnan(row["kappa"]) and math.isnan(row["alpha"])
        assert row["reason"] == BOTH_CODERS_ALWAYS + UNDEFINED
    # X has no double-coded segment now.
    assert table.loc[("X", OVERALL), "reason"] == NO_DOUBLE_CODING


def test_no_double_codings_at_all():
    empty = pd.DataFrame(columns=["segment_id", "coder_id", "code_id"], dtype="str")
    table = agreement_table(CODES, SEGMENTS, FIRST, empty)
    assert len(table) == 6  # X: 3 themes + overall; Y: 1 theme + overall
    assert set(table["reason"]) == {NO_DOUBLE_CODING}
    assert table["kappa"].isna().all() and table["alpha"].isna().all()


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            SECOND.assign(code_id=SECOND["code_id"].replace("X-2", "X-9")),
            "codes not in the codebook: X-9",
        ),
        (SECOND.assign(coder_id="R1"), "second coder is the first coder for s1"),
        (
            SECOND.assign(coder_id=["R2"] * 5 + ["R4"] + ["R2"] * 5),
            "more than one second coder for s7",
        ),
        (
            pd.concat(
                [
                    SECOND,
                    pd.DataFrame({"segment_id": ["s1"], "coder_id": ["R2"], "code_id": ["Y-1"]}),
                ]
            ),
            "coded in two analyses: s1",
        ),
    ],
    ids=["unknown-code", "same-coder", "two-second-coders", "two-analyses"],
)
def test_double_codings_that_do_not_fit_are_refused(second, message):
    with pytest.raises(ValueError, match=message):
        theme_ratings(CODES, SEGMENTS, FIRST, second)
