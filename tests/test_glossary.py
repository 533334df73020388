"""The glossary files and the rules that find a term's first mention in text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compendium import paths
from compendium.presentation import glossary

STUDY_GLOSSARY = paths.DEFAULT_DATA_DIR / "study.yaml"


def _write(tmp_path: Path, name: str, entries: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


def _mentions(entries: list[glossary.Entry], text: str, done: set[str] | None = None) -> list:
    pattern, terms = glossary.mention_pattern(entries)
    return [
        (text[start:end], term)
        for start, end, term in glossary.first_mentions(
            text, pattern, terms, set() if done is None else done
        )
    ]


def _entry(term: str, *, also=(), match=None) -> glossary.Entry:
    phrases = (term, *also) if match is None else tuple(match)
    return glossary.Entry(term, tuple(also), phrases, "A definition.")


def test_the_book_glossary_loads_with_general_and_study_terms():
    entries = glossary.load_glossary([glossary.GENERAL_GLOSSARY, STUDY_GLOSSARY])
    terms = {entry.term for entry in entries}
    assert {"complex intervention", "MRC framework", "TIDieR", "GUIDED", "COREQ"} <= terms
    assert {"CONSORT", "source (NVivo)", "reference (NVivo)", "codebook", "REFI-QDA"} <= terms
    assert {"small-cell suppression", "synthetic data", "provenance", "MyST notebook"} <= terms
    assert {"CRT", "PSW", "peer support", "self-management", "Personal Recovery Plan"} <= terms
    assert all(len(entry.definition.split()) >= 8 for entry in entries)


def test_load_entries_reads_term_also_match_and_definition(tmp_path):
    path = _write(
        tmp_path,
        "g.yaml",
        [
            {"term": "CRT", "also": ["crisis resolution team"], "definition": "A team."},
            {"term": "code", "match": ["coded"], "definition": "A label."},
            {"term": "quiet", "match": [], "definition": "Never linked."},
        ],
    )
    crt, code, quiet = glossary.load_entries(path)
    assert crt == glossary.Entry(
        "CRT", ("crisis resolution team",), ("CRT", "crisis resolution team"), "A team.", str(path)
    )
    assert code.match == ("coded",) and code.also == ()
    assert quiet.match == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("just text", "a YAML list"),
        (["just a string"], "expected a mapping"),
        ([{"term": "x"}], "'term' and 'definition' are both required"),
        ([{"term": "x", "definition": "y", "meaning": "z"}], "unknown keys ['meaning']"),
    ],
)
def test_load_entries_refuses_malformed_files(tmp_path, content, message):
    path = _write(tmp_path, "bad.yaml", content)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        glossary.load_entries(path)


def test_load_glossary_refuses_a_name_defined_twice(tmp_path):
    first = _write(tmp_path, "a.yaml", [{"term": "CRT", "definition": "One."}])
    second = _write(tmp_path, "b.yaml", [{"term": "team", "also": ["crt"], "definition": "Two."}])
    with pytest.raises(ValueError, match="'crt' of 'team' is already used by 'CRT'"):
        glossary.load_glossary([first, second])


def test_is_case_sensitive_for_acronyms_and_names_only():
    assert glossary.is_case_sensitive("CRT")
    assert glossary.is_case_sensitive("TIDieR")
    assert glossary.is_case_sensitive("Personal Recovery Plan")
    assert not glossary.is_case_sensitive("complex intervention")
    assert not glossary.is_case_sensitive("Provenance")


def test_acronyms_match_case_sensitively_and_whole_words_only():
    entries = [_entry("CRT")]
    assert _mentions(entries, "after crt care, or CRTs, or CRT.") == [("CRTs", "CRT")]
    assert _mentions(entries, "NCRT and CRT-based and CRT") == [("CRT", "CRT")]


def test_plain_phrases_ignore_case_allow_a_plural_and_span_white_space():
    entries = [_entry("complex intervention")]
    text = "Developing Complex\n  Interventions is hard."
    assert _mentions(entries, text) == [("Complex\n  Interventions", "complex intervention")]


def test_only_the_first_mention_of_each_term_is_returned():
    entries = [_entry("theme"), _entry("code", match=["coded"])]
    done: set[str] = set()
    text = "A theme, then coded text, then another theme and more coded text."
    assert _mentions(entries, text, done) == [("theme", "theme"), ("coded", "code")]
    assert done == {"theme", "code"}
    # Later text on the same page links nothing more.
    assert _mentions(entries, "theme and coded again", done) == []


def test_the_longest_phrase_wins_and_hyphenated_words_do_not_match():
    entries = [_entry("PSW", also=["peer support worker"]), _entry("peer support")]
    text = "A peer support worker offers peer-supported help, which is peer support."
    assert _mentions(entries, text) == [
        ("peer support worker", "PSW"),
        ("peer support", "peer support"),
    ]


def test_an_entry_with_no_phrases_is_never_linked():
    assert _mentions([_entry("quiet", match=[])], "quiet quiet") == []
    pattern, terms = glossary.mention_pattern([])
    assert terms == [] and pattern.search("anything") is None


def test_glossary_lines_sorts_entries_and_indents_definitions():
    entries = [
        glossary.Entry("theme", (), ("theme",), "First line.\nSecond line."),
        glossary.Entry("CRT", ("crisis resolution team",), (), "A team."),
    ]
    assert glossary.glossary_lines(entries) == [
        "CRT",
        "crisis resolution team",
        "   A team.",
        "",
        "theme",
        "   First line.",
        "   Second line.",
    ]
