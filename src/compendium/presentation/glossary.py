"""The book's glossary: terms read from YAML, and where they are first mentioned in text.

A glossary file is a YAML list of entries::

    - term: GP                       # the headword, as the glossary shows it
      also: [general practitioner]   # other names, shown beside it and linked too
      match: [GP, GPs]               # optional: the phrases linked in the text instead
      definition: >-                 # MyST Markdown (roles such as {cite:p} work)
        ...

Two files make up the glossary: general terms shipped with the package
(``resources/glossary.yaml``) and the study's own terms, the ``glossary`` list of the study
descriptor (``study.yaml``) of the data in force, in the same format (see
:mod:`compendium.build.sphinx_ext`). :func:`mention_pattern` and
:func:`first_mentions` decide which words in a page's text are linked to an entry.

Matching rules: a phrase matches whole words only (a hyphen counts as part of a word, so
``self management`` does not match inside ``self-management``), an optional plural ``s`` is
allowed, and runs of white space match any white space. A phrase is case-sensitive when it
has a capital letter after its first character (acronyms such as ``GP`` or ``TIDieR``,
names such as ``Personal Recovery Plan``); otherwise case is ignored. Where phrases
overlap, the longest wins (``support worker training`` before ``support worker``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from compendium import paths
from compendium.contract.descriptor import UNSAFE_MYST, UNSAFE_MYST_MESSAGE

GENERAL_GLOSSARY = paths.RESOURCES_DIR / "glossary.yaml"
ENTRY_KEYS = {"term", "also", "match", "definition"}


@dataclass(frozen=True)
class Entry:
    """One glossary entry.

    Attributes
    ----------
    term : str
        The headword; links point at it.
    also : tuple of str
        Other names for the same thing, listed under the headword.
    match : tuple of str
        Phrases linked to this entry where they first appear on a page (may be empty).
    definition : str
        The definition, in MyST Markdown.
    source : str
        The file the entry was read from, for error messages.
    """

    term: str
    also: tuple[str, ...]
    match: tuple[str, ...]
    definition: str
    source: str = ""


def load_entries(path: Path) -> list[Entry]:
    """Read and check one glossary file.

    Parameters
    ----------
    path : pathlib.Path
        A YAML file holding a list of entries (see the module docstring), or a study
        descriptor whose ``glossary`` holds them.

    Returns
    -------
    list of Entry
        The entries in file order.

    Raises
    ------
    ValueError
        If the file is not a list of entries with a non-empty ``term`` and ``definition``,
        or an entry has an unknown key.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict):  # a study descriptor: its terms are under `glossary`
        data = data.get("glossary", [])
    if not isinstance(data, list):
        raise ValueError(f"{path}: a glossary file must be a YAML list of entries")
    entries = []
    for number, item in enumerate(data, start=1):
        where = f"{path}: entry {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping, got {item!r}")
        unknown = set(item) - ENTRY_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        term = str(item.get("term") or "").strip()
        definition = str(item.get("definition") or "").strip()
        if not term or not definition:
            raise ValueError(f"{where}: 'term' and 'definition' are both required")
        if UNSAFE_MYST.search(definition):
            raise ValueError(f"{where}: {UNSAFE_MYST_MESSAGE}")
        also = tuple(str(name).strip() for name in item.get("also") or ())
        match = item.get("match")
        phrases = (term, *also) if match is None else tuple(str(p).strip() for p in match)
        entries.append(Entry(term, also, phrases, definition, str(path)))
    return entries


def load_glossary(files: Iterable[Path]) -> list[Entry]:
    """Read several glossary files into one list, refusing a name defined twice.

    Parameters
    ----------
    files : iterable of pathlib.Path
        Glossary files, in the order their entries should be kept.

    Returns
    -------
    list of Entry
        Every entry of every file.

    Raises
    ------
    ValueError
        If two entries share a name (headword or ``also``, ignoring case) or a matched phrase.
    """
    entries = [entry for path in files for entry in load_entries(path)]
    seen: dict[str, str] = {}
    for entry in entries:
        for name in {n.lower() for n in (entry.term, *entry.also, *entry.match)}:
            if name in seen and seen[name] != entry.term:
                raise ValueError(
                    f"{entry.source}: {name!r} of {entry.term!r} is already used by {seen[name]!r}"
                )
            seen[name] = entry.term
    return entries


def is_case_sensitive(phrase: str) -> bool:
    """Return True when a phrase has a capital letter after its first character."""
    return any(char.isupper() for char in phrase[1:])


def _phrase_regex(phrase: str) -> str:
    words = [re.escape(word) for word in phrase.split()]
    body = r"\s+".join(words)
    if not is_case_sensitive(phrase):
        body = f"(?i:{body})"
    return rf"(?<![\w-]){body}s?(?![\w-])"


def mention_pattern(entries: Iterable[Entry]) -> tuple[re.Pattern[str], list[str]]:
    """Compile one pattern that finds a mention of any entry.

    Parameters
    ----------
    entries : iterable of Entry
        The glossary.

    Returns
    -------
    (re.Pattern, list of str)
        The pattern, with one numbered group per phrase (longest phrases first), and the
        headword each group belongs to (``terms[i]`` for group ``i + 1``).
    """
    phrases = sorted(
        ((phrase, entry.term) for entry in entries for phrase in entry.match),
        key=lambda pair: -len(pair[0]),
    )
    if not phrases:
        return re.compile(r"(?!)"), []
    pattern = "|".join(f"({_phrase_regex(phrase)})" for phrase, _ in phrases)
    return re.compile(pattern), [term for _, term in phrases]


def first_mentions(
    text: str, pattern: re.Pattern[str], terms: list[str], done: set[str]
) -> list[tuple[int, int, str]]:
    """Return the spans of ``text`` that are the first mention of a term not yet in ``done``.

    Parameters
    ----------
    text : str
        A run of text.
    pattern, terms
        As returned by :func:`mention_pattern`.
    done : set of str
        Headwords already linked on this page; updated in place with the ones found here.

    Returns
    -------
    list of (int, int, str)
        ``(start, end, headword)`` for each new first mention, in text order.
    """
    found = []
    for match in pattern.finditer(text):
        term = terms[match.lastindex - 1]
        if term in done:
            continue
        done.add(term)
        found.append((match.start(), match.end(), term))
    return found


def glossary_lines(entries: Iterable[Entry]) -> list[str]:
    """Return the entries as the lines of a Sphinx ``glossary`` directive body, A to Z.

    Each entry gives its headword and other names as term lines, then the definition
    indented beneath them; entries are separated by a blank line.
    """
    lines: list[str] = []
    for entry in sorted(entries, key=lambda e: e.term.lower()):
        if lines:
            lines.append("")
        lines.extend([entry.term, *entry.also])
        lines.extend(f"   {line}" if line else "" for line in entry.definition.splitlines())
    return lines
