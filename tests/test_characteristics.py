"""Participant-characteristics tables, trial flow and attendance."""

from __future__ import annotations

import pytest

from compendium.analysis import characteristics as ch


def test_stage_samples_are_the_people_who_took_part(study):
    sizes = {stage: len(ch.stage_sample(study, stage)) for stage in (2, 3, 4, 5)}
    groups = study.focus_groups
    assert sizes[2] == 41
    assert sizes[3] == int(groups.loc[groups["activity_id"] == "A3-FG", "size"].sum())
    assert sizes[4] == 9 + 4
    assert sizes[5] == 18 + 4


def test_counts_and_percentages_match_the_participants(study):
    people = ch.stage_sample(study, 2)
    table = ch.characteristics_table(people, threshold=0)
    (group,) = table.columns.get_level_values(0).unique()
    assert group == "Service user (n = 41)"
    gender = people["gender"].value_counts()
    for category, n in gender.items():
        assert table.loc[("Gender", category), (group, "n")] == n
        assert table.loc[("Gender", category), (group, "%")] == round(100 * n / 41, 1)
    ages = table.xs("Age band", level=0)[(group, "n")]
    assert ages.sum() == 41
    assert list(ages.index) == ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def test_missing_values_get_a_missing_row(study):
    people = ch.stage_sample(study, 2)
    table = ch.characteristics_table(people, threshold=0)
    group = table.columns[0][0]
    missing = int(people["ethnicity"].isna().sum())
    assert missing > 0
    assert table.loc[("Ethnic group", "Missing"), (group, "n")] == missing
    # A characteristic recorded for everyone has no Missing row.
    assert ("Gender", "Missing") not in table.index


def test_characteristic_not_recorded_for_a_group_is_na(study):
    table = ch.characteristics_table(ch.stage_sample(study, 3), threshold=0)
    groups = table.columns.get_level_values(0).unique().tolist()
    assert [g.split(" (")[0] for g in groups] == ["Service user", "Carer", "Staff"]
    staff = next(g for g in groups if g.startswith("Staff"))
    users = next(g for g in groups if g.startswith("Service user"))
    assert table.xs("Profession (staff)", level=0)[(users, "n")].isna().all()
    assert table.xs("Profession (staff)", level=0)[(staff, "n")].sum() == 33


def test_small_cells_are_suppressed_in_the_table(study):
    table = ch.characteristics_table(ch.stage_sample(study, 2), threshold=3)
    group = table.columns[0][0]
    cell = table.loc[("Gender", "other or not stated"), (group, "n")]
    assert cell == "<3"
    assert table.loc[("Gender", "other or not stated"), (group, "%")] == "<3"
    assert table.loc[("Gender", "female"), (group, "n")] == 23


def test_styled_table_has_caption_stable_id_and_shows_suppression(study, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "3")
    html = ch.stage_characteristics(study, 2).to_html()
    assert 'id="T_characteristics-stage2"' in html
    assert "All values are synthetic" in html
    assert "shown as &lt;3" in html and ">&lt;3<" in html
    assert ">Missing<" in html


def test_participant_flow(study):
    flow = ch.participant_flow(study, "A5-INT")
    assert flow["step"].tolist()[:3] == ["recruited", "randomised", "randomised"]
    assert flow.loc[flow["step"] == "recruited", "participants"].tolist() == [40]
    arms = flow[flow["step"] == "randomised"].set_index("arm")["participants"]
    assert arms.to_dict() == {"intervention": 21, "control": 19}
    outcomes = flow[flow["step"] == "outcome"].set_index(["arm", "status"])["participants"]
    assert outcomes[("intervention", "interviewed")] == 18
    assert outcomes[("intervention", "declined")] == 3
    assert outcomes.xs("intervention").sum() == arms["intervention"]


def test_attendance_patterns(study):
    patterns = ch.attendance_patterns(study, "A5-INT")
    assert patterns.sum() == 18
    assert patterns["moved house and lost touch"] == 2
    sessions = ch.attendance(study, "A5-INT")["sessions_attended"]
    assert int((sessions == 10).sum()) == 7


def test_unknown_grouping_column_falls_back_to_sorted_groups(study):
    people = ch.stage_sample(study, 3)
    table = ch.characteristics_table(people, by="site_id", threshold=0)
    assert [g.split(" (")[0] for g in table.columns.get_level_values(0).unique()] == [
        "A",
        "B",
        "C",
        "D",
        "E",
    ]


@pytest.mark.parametrize("stage", [2, 3, 4, 5])
def test_every_group_column_sums_to_its_size_for_each_characteristic(study, stage):
    table = ch.characteristics_table(ch.stage_sample(study, stage), threshold=0)
    for group in table.columns.get_level_values(0).unique():
        size = int(group.split("n = ")[1].rstrip(")"))
        sums = table[(group, "n")].groupby(level=0).sum(min_count=1).dropna()
        assert (sums == size).all(), (group, sums.to_dict())
