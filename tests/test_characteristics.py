"""Who took part: counts by the characteristics the study declares, in its order."""

from __future__ import annotations

from compendium.analysis.characteristics import characteristics_table


def test_characteristics_follow_the_declared_attributes_and_roles(study):
    people = study.participants[(study.participants["activity_id"] == "A3-FG")]
    table = characteristics_table(people, study.descriptor)
    groups = list(dict.fromkeys(c[0] for c in table.columns))
    assert [g.split(" (")[0] for g in groups] == ["Service user", "Carer", "Staff"]
    assert list(dict.fromkeys(table.index.get_level_values(0))) == [
        "Age band",
        "Gender",
        "Ethnic group",
        "Diagnosis group",
        "Use of crisis resolution teams",
        "Profession",
    ]
    sizes = people["role"].value_counts()
    for group in groups:
        role = {"Service user": "service_user", "Carer": "carer", "Staff": "staff"}[
            group.split(" (")[0]
        ]
        assert group == f"{group.split(' (')[0]} (n = {sizes[role]})"
        # every person is counted once in each characteristic recorded for them
        ages = table.loc["Age band", (group, "n")]
        assert int(ages.sum()) == sizes[role]


def test_a_characteristic_not_recorded_for_a_role_is_not_applicable(study):
    people = study.participants[study.participants["activity_id"] == "A3-FG"]
    table = characteristics_table(people, study.descriptor)
    staff = next(c[0] for c in table.columns if c[0].startswith("Staff"))
    assert table.loc["Diagnosis group", (staff, "n")].isna().all()
    assert table.loc["Profession", (staff, "n")].sum() > 0


def test_a_comparison_attribute_can_split_the_columns(study):
    people = study.participants[study.participants["activity_id"] == "A2-INT"]
    table = characteristics_table(people, study.descriptor, by="gender")
    assert [c[0].split(" (")[0] for c in table.columns[::2]] == [
        "female",
        "male",
        "other or not stated",
    ]
    assert "Gender" not in table.index.get_level_values(0)
