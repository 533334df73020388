"""Theme names the paper publishes appear in the codebooks exactly as published."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

FACTS = Path(__file__).parent / "paper" / "paper_facts.yaml"  # see tests/paper/README.md


@pytest.fixture(scope="module")
def stages() -> dict:
    facts = yaml.safe_load(FACTS.read_text(encoding="utf-8"))
    return {s["stage"]: s for s in facts["stages"]}


def top_level(study, activity: str) -> list[str]:
    codes = study.codes
    own = codes[(codes.activity_id == activity) & codes.parent_id.isna()]
    return own.sort_values("position")["name"].tolist()


def normalised(name: str) -> str:
    return re.sub(r"[()]", "", name).lower()


def test_stage2_categories(study, stages):
    assert [normalised(n) for n in top_level(study, "A2-INT")] == [
        normalised(n) for n in stages[2]["main_categories"]["names"]
    ]


def test_stage3_themes(study, stages):
    assert top_level(study, "A3-FG") == stages[3]["theme_names_DS5"]


def test_stage4_themes(study, stages):
    # DS6 prints ten labels for the paper's nine themes; the tenth is kept as a subtheme.
    published = stages[4]["theme_names_DS6"]
    assert top_level(study, "A4-INT") == published[:9]
    sub = study.codes[study.codes.parent_id == "A4-9"]["name"].tolist()
    assert published[9] in sub
    assert top_level(study, "A4-FG") == stages[4]["theme_names_DS7"]


def test_table2_codes_and_counts(study):
    facts = yaml.safe_load(FACTS.read_text(encoding="utf-8"))
    codes = study.codes.set_index("code_id")
    named = set(study.codes["name"])
    for row in facts["table2"]["rows"]:
        for key in ("stage2_codes", "stage3_codes"):
            if isinstance(row[key], list):
                for entry in row[key]:
                    assert entry["code"] in named, (row["concept"], entry["code"])
    assert codes.loc["A3-1.1.1", "name"] == "Shared knowledge and understanding"
