"""The engine knows no study: its words live in a study's descriptor and data, never in src/."""

from __future__ import annotations

import re

from compendium import paths
from compendium.build.templates import TEMPLATES_DIR, templates
from compendium.contract.schema import modules

# This study's own words: its setting, its authors, its workforce.
STUDY_WORDS = re.compile(r"\bCRTs?\b|crisis|Milton|peer[ _-]support|\bPSWs?\b", re.IGNORECASE)


def test_no_study_word_in_the_engine():
    hits = []
    for path in sorted((paths.ROOT / "src").rglob("*")):
        if not path.is_file() or any(
            p.endswith(".egg-info") or p == "__pycache__" for p in path.parts
        ):
            continue
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if STUDY_WORDS.search(line):
                hits.append(f"{path.relative_to(paths.ROOT)}:{number}: {line.strip()[:80]}")
    assert hits == []


def test_the_grep_finds_a_study_word_where_there_is_one():
    assert STUDY_WORDS.search("people leaving CRT care")
    assert STUDY_WORDS.search("a Peer Support Worker")
    assert not STUDY_WORDS.search("a peer reviewer")


def test_every_template_section_exists_and_every_need_is_a_module():
    known = {m.name for m in modules()}
    for kind, template in templates().items():
        for section in template.sections:
            assert (TEMPLATES_DIR / "sections" / f"{section}.md").is_file(), (kind, section)
        assert set(template.needs) <= known, kind
    assert {k for k, t in templates().items() if t.scope == "stage"} == {
        "review",
        "interviews",
        "focus-groups",
        "think-aloud",
        "survey",
        "trial",
    }
