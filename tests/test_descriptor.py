"""The study descriptor (study.yaml): what a study declares, checked with line and column."""

from __future__ import annotations

import shutil

import pytest

from compendium import paths
from compendium.contract.descriptor import check_descriptor, read_descriptor
from compendium.contract.problems import InvalidPackage


@pytest.fixture
def descriptor_copy(tmp_path):
    target = tmp_path / "study.yaml"
    shutil.copyfile(paths.DEFAULT_DATA_DIR / "study.yaml", target)
    return target


def problems_after(path, old: str, new: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems, _ = check_descriptor(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in problems]


def test_this_study_declares_its_framework_stages_and_vocabularies():
    d = read_descriptor(paths.DEFAULT_DATA_DIR)
    assert d.framework.id == "mrc-2008"
    assert [p.id for p in d.framework.phases][:2] == ["development", "feasibility-and-piloting"]
    assert [s.id for s in d.stages] == ["1", "2", "3", "4", "5"]
    assert [s.template for s in d.stages] == [
        "review",
        "interviews",
        "focus-groups",
        "trial",
        "trial",
    ]
    assert d.took_part == ("interviewed", "interviewed_not_analysed", "focus_group")
    assert d.analysed == ("interviewed", "focus_group")
    assert d.comparison is None
    assert d.attribute("diagnosis_group").roles == ("service_user",)
    assert d.study_citation.doi == "10.1186/s13104-017-2900-6"


def test_a_wrong_phase_is_located_and_names_the_framework_phases(descriptor_copy):
    assert problems_after(
        descriptor_copy,
        "phase: development\n    methods: [review]",
        "phase: pilot\n    methods: [review]",
    ) == [
        "study.yaml:39:12: stages[0].phase: 'pilot' is not a phase of the framework; expected "
        "one of development, feasibility-and-piloting, evaluation, implementation"
    ]


def test_an_unknown_method_kind_is_refused_with_the_known_kinds(descriptor_copy):
    assert problems_after(descriptor_copy, "kind: focus_group}", "kind: focus}") == [
        "study.yaml:84:49: methods[2].kind: 'focus' is not one of review, interview, "
        "focus_group, think_aloud, survey"
    ]


def test_a_stage_naming_an_undeclared_method_is_refused(descriptor_copy):
    assert problems_after(
        descriptor_copy,
        "methods: [interview]\n    chapter: service",
        "methods: [walking_interview]\n    chapter: service",
    ) == [
        "study.yaml:46:15: stages[1].methods[0]: 'walking_interview' is not a declared method; "
        "expected one of focus_group, interview, review"
    ]


def test_an_attribute_may_not_take_a_core_column_name(descriptor_copy):
    (message,) = problems_after(descriptor_copy, "name: crt_use", "name: status")
    assert message.endswith(
        "attributes[4].name: 'status' is a core column of participants.csv; choose another name"
    )


def test_only_one_comparison_group(descriptor_copy):
    text = descriptor_copy.read_text(encoding="utf-8")
    text = text.replace(
        "type: category, values: [female", "type: category, comparison: true, values: [female"
    )
    text = text.replace(
        "type: category, values: [White", "type: category, comparison: true, values: [White"
    )
    descriptor_copy.write_text(text, encoding="utf-8")
    problems, _ = check_descriptor(descriptor_copy)
    assert [p.message for p in problems] == ["only one attribute can define the comparison group"]
    assert problems[0].field == "attributes[2].comparison"


def test_a_duplicate_key_is_reported_where_it_stands(descriptor_copy):
    (message,) = problems_after(
        descriptor_copy, "compendium: 1\n", "compendium: 1\ncompendium: 1\n"
    )
    assert message == "study.yaml:4:1: compendium: duplicate key 'compendium'"


def test_a_chapter_may_not_take_a_cross_cutting_page_name(descriptor_copy):
    (message,) = problems_after(descriptor_copy, "chapter: evidence-reviews", "chapter: trace")
    assert message.endswith(
        "stages[0].chapter: 'trace' is the name of a cross-cutting page; choose another"
    )


def test_broken_yaml_says_where(descriptor_copy):
    (message,) = problems_after(descriptor_copy, 'title: "Development', 'title: ["Development')
    assert message == (
        "study.yaml:7:1: is not valid YAML: expected ',' or ']', but got '<scalar>' "
        "(while parsing a flow sequence that starts at line 5)"
    )


def test_own_framework_with_three_phases_and_an_approach(descriptor_copy):
    text = descriptor_copy.read_text(encoding="utf-8")
    text = text.replace(
        "framework:\n  id: mrc-2008\n",
        "framework:\n  name: Our own framework\n  approach: partnership\n  phases:\n"
        "    - {id: development, label: Build}\n    - {id: feasibility-and-piloting, label: Try}\n"
        "    - {id: evaluation, label: Judge}\n",
    )
    descriptor_copy.write_text(text, encoding="utf-8")
    problems, descriptor = check_descriptor(descriptor_copy)
    assert problems == []
    assert descriptor.framework.name == "Our own framework"
    assert descriptor.framework.approach_label == "Partnership"
    assert [p.label for p in descriptor.framework.phases] == ["Build", "Try", "Judge"]


def test_missing_descriptor_is_one_line(tmp_path):
    with pytest.raises(InvalidPackage) as raised:
        read_descriptor(tmp_path)
    assert (
        str(raised.value)
        .splitlines()[1]
        .endswith(
            "study.yaml: file is missing; expected the study descriptor (see the guide chapter "
            "'Adapt this compendium to your intervention')"
        )
    )
