"""Every piece of text the package calls ``verbatim`` is found in the paper.

What is checked: every item of the committed package whose wording is ``verbatim``: code
(theme) names, findings, decisions and their rationales, concept names, definitions and review
statements, quotations, components and TIDieR items, and the column labels of the paper's
tables declared in ``study.yaml``.

Against what. The paper's text is the copy beside the project,
``tests/paper/paper-stripped.txt``. That copy lost its digits, its punctuation,
most acronyms (CRT, PSW, NHS), its stop-words and a few other short words, and some words
broken across lines lost a syllable ("sup port" became "port") or were split in two ("inter
ventions"); table cells run into each other ("valuedpeer"). So an item is compared on the
words the copy keeps, in order:

1. Normalise both texts: Unicode NFKC, curly quotes and dashes made plain, apostrophes
   dropped ("don't" becomes "dont"), lower case, letters only (digits and punctuation go).
2. The item's *content words* are its words of three letters or more that are not stop-words
   (the NLTK English list) and not among the words the copy is seen to drop (:data:`LOST`,
   found by comparing text read word for word on the article's page with the copy).
3. The copy is read as one string of its words without spaces, so a word split across a line
   ("inter ventions") or glued to the next cell ("valuedpeer") is still one run of letters.
4. The content words must occur in order, each starting where a word of the copy starts (or
   straight after the previous content word; the first may also start inside a word of the
   copy after a glued cell of three letters or more, or anywhere when it is six letters or
   longer, as in "destigmatising" glued to the cell before it); a word that lost a leading
   syllable of one to four letters matches when the rest, of four letters or more, is a whole
   word of the copy.
5. The window is bounded: between two consecutive content words the copy may hold at most
   :data:`GAP` word of its own. A verbatim item that leaves out words the paper prints
   ("ability to problem solve") therefore fails, and so do the paper's words in another order.

Items the paper prints in its additional files (DS4 to DS8: the themes of stages 2 to 4 and
most quotations) are not in that copy. This project's record of the text read in those files,
``paper_facts.yaml`` beside it, holds them word for word, so such an item must be found there
whole: every one of its words, in order and adjacent, after the same normalisation. A
quotation whose location is the paper's Table 2 must be found in the paper's text.

The test prints how many verbatim items it checked, and where each was found.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from compendium import paths
from compendium.contract.loading import load_study

REFERENCE = Path(__file__).parent / "paper"  # see tests/paper/README.md
PAPER = REFERENCE / "paper-stripped.txt"
FACTS = REFERENCE / "paper_facts.yaml"

#: NLTK's English stop-word list: the words the copy of the paper dropped.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some
    such no nor not only own same so than too very s t can will just don should now d ll m o re
    ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn
    weren won wouldn""".split()
)
#: Words the copy drops besides stop-words: acronyms, list numerals and a few short words,
#: found by setting the text read on the article's page (abstract, Tables 1 to 3) beside it.
LOST = frozenset("crt psw nhs mrc rct smi iii may use way fit gap get review etc".split())
#: How many verbatim items the committed package holds: a change of labels must change it here.
VERBATIM_ITEMS = 115
#: How many words of its own the copy may hold between two consecutive content words.
GAP = 1
PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2014": " ",
        "\u2013": " ",
        "\u2026": " ",
    }
)


def tokens(text: object) -> list[str]:
    """Return the normalised words of ``text`` (rule 1)."""
    text = unicodedata.normalize("NFKC", str(text)).translate(PLAIN).replace("'", "").lower()
    return re.findall(r"[a-z]+", text)


def content_words(text: object) -> list[str]:
    """Return the words of ``text`` the copy of the paper would keep (rule 2)."""
    return [w for w in tokens(text) if len(w) > 2 and w not in STOP_WORDS and w not in LOST]


class PaperText:
    """The stripped copy of the paper, searched by :meth:`find` (rules 3 to 5)."""

    def __init__(self, text: str):
        self.words = tokens(text)
        self.stream = "".join(self.words)
        self.starts, position = [], 0
        for word in self.words:
            self.starts.append(position)
            position += len(word)
        self.is_start = set(self.starts)
        self.is_end = set(self.starts[1:]) | {position}
        self.vocabulary = set(self.words)

    def _word_at(self, char: int) -> int:
        return bisect.bisect_right(self.starts, char) - 1

    def _glued(self, char: int) -> bool:
        """Whether ``char`` follows, inside one word of the copy, a whole word of it (a cell run-on)."""
        prefix = self.stream[self.starts[self._word_at(char)] : char]
        return len(prefix) >= 3 and prefix in self.vocabulary

    def _places(self, word: str, after: int, first: bool) -> list[tuple[int, int]]:
        """Return (start, end) of each place ``word`` may match from ``after`` (rule 4)."""
        places = []
        for m in re.finditer(re.escape(word), self.stream[after:]):
            start = after + m.start()
            if start in self.is_start or (not first and start == after):
                places.append((start, start + len(word)))
            elif first and (len(word) >= 6 or self._glued(start)):
                places.append((start, start + len(word)))
        for lost in range(1, 5):
            rest = word[lost:]
            if len(rest) < 4:
                break
            for m in re.finditer(re.escape(rest), self.stream[after:]):
                start = after + m.start()
                if start in self.is_start and start + len(rest) in self.is_end:
                    places.append((start, start + len(rest)))
        return sorted(places)

    def find(self, text: object) -> str | None:
        """Return the copy's words where ``text`` is found, or None."""
        words = content_words(text)
        if not words:
            return None

        def rest(i: int, end: int) -> int | None:
            if i == len(words):
                return end
            last = self._word_at(end - 1)
            for start, stop in self._places(words[i], end, first=False):
                inside = start not in self.is_start
                between = self._word_at(start) - last - (0 if inside else 1)
                if between > GAP:
                    break
                found = rest(i + 1, stop)
                if found is not None:
                    return found
            return None

        for start, stop in self._places(words[0], 0, first=True):
            end = rest(1, stop)
            if end is not None:
                first, last = self._word_at(start), self._word_at(end - 1)
                return " ".join(self.words[first : last + 1])
        return None


def additional_files_text(facts: dict) -> list[str]:
    """Return, normalised, the text paper_facts.yaml records from the additional files (DS4-DS8).

    A part of the record is from an additional file when its key names one (``theme_names_DS5``)
    or its ``source``, ``names_source`` or ``where`` does; every key and string beneath it is
    kept (keys such as ``fluctuating_mental_state`` are labels the file prints).
    """
    names_a_file = re.compile(r"DS[4-8]")
    found: list[str] = []

    def strings(node) -> list[str]:
        if isinstance(node, dict):
            return [s for k, v in node.items() for s in [str(k), *strings(v)]]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    def walk(node, key: str = "") -> None:
        if names_a_file.search(key):
            found.extend(strings(node))
            return
        if isinstance(node, dict):
            said = " ".join(str(node.get(k, "")) for k in ("source", "names_source", "where"))
            if names_a_file.search(said):
                found.extend(strings(node))
                return
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(facts)
    return [" ".join(tokens(s.replace("_", " "))) for s in found]


def in_additional_files(text: object, record: list[str]) -> bool:
    """Whether every word of ``text``, in order and adjacent, is in the additional files' record."""
    wanted = " ".join(tokens(text))
    return bool(wanted) and any(f" {wanted} " in f" {s} " for s in record)


@dataclass(frozen=True)
class Item:
    what: str
    text: str
    location: str = ""


def verbatim_items(study) -> list[Item]:
    """Return every item of the package whose wording is ``verbatim``."""
    items: list[Item] = []

    def add(table: str, key: str, text: str, wording: str) -> None:
        frame = getattr(study, table) if study.has(table) else None
        if frame is None:
            return
        for row in frame.to_dict("records"):
            if row[wording] == "verbatim" and isinstance(row[text], str):
                items.append(Item(f"{table} {row[key]} {text}", row[text]))

    add("codes", "code_id", "name", "name_wording")
    add("findings", "finding_id", "statement", "wording")
    add("decisions", "decision_id", "decision", "wording")
    add("decisions", "decision_id", "rationale", "rationale_wording")
    for column in ("name", "definition"):
        add("concepts", "concept_id", column, "wording")
    add("concepts", "concept_id", "review_statement", "statement_wording")
    for column in ("name", "description"):
        add("components", "component_id", column, "wording")
    add("tidier", "item", "description", "wording")
    if study.has("quotes"):  # a quotation is the paper's words by definition
        for q in study.quotes.itertuples():
            items.append(Item(f"quotes {q.quote_id} text", q.text, q.location))
    for table in study.descriptor.tables:
        for column in table.columns:
            if column.wording == "verbatim":
                items.append(Item(f"{table.id} column {column.stage}", column.label, table.id))
    return items


@pytest.fixture(scope="module")
def paper() -> PaperText:
    return PaperText(PAPER.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def record() -> list[str]:
    return additional_files_text(yaml.safe_load(FACTS.read_text(encoding="utf-8")))


def where_found(item: Item, paper: PaperText, record: list[str]) -> str | None:
    """Return where ``item`` is found ("paper" or "additional files"), or None."""
    from_the_paper = item.location.startswith(("Table", "table"))
    if paper.find(item.text) is not None:
        return "paper"
    if not from_the_paper and in_additional_files(item.text, record):
        return "additional files"
    return None


def test_every_verbatim_item_is_found_in_the_paper(paper, record, capsys):
    items = verbatim_items(load_study(paths.DEFAULT_DATA_DIR))
    places = {item: where_found(item, paper, record) for item in items}
    missing = [f"{item.what}: {item.text!r}" for item, place in places.items() if place is None]
    assert missing == [], "claimed verbatim but not found in the paper:\n" + "\n".join(missing)
    in_paper = sum(place == "paper" for place in places.values())
    with capsys.disabled():
        print(
            f"\nwording: {len(items)} verbatim items checked, {in_paper} found in the paper's "
            f"text and {len(items) - in_paper} in its additional files"
        )
    # Every kind of verbatim text the package holds was checked.
    kinds = {item.what.split()[0] for item in items}
    assert kinds >= {"codes", "findings", "decisions", "concepts", "quotes", "table1", "table2"}
    assert len(items) == VERBATIM_ITEMS


@pytest.mark.parametrize(
    "text",
    [
        # D4.3 as it was once worded: the paper makes no such decision.
        "Guidance on planned, gradual endings added to the manual and training",
        # Table 3's T3.15 without the paper's "ability to problem solve".
        "Essential requirements for roles defined: lived experience of mental health problems; "
        "previous experience in a support role; good interpersonal and support skills; developed "
        "a personal recovery plan/relapse prevention plan; recovery oriented approach; ability "
        "to work collaboratively with mental health staff and service users",
        # Table 1's words in another order.
        "The need for additional support was identified following CRT discharge",
        # A stage-5 theme name this project reconstructed.
        "Overall view of the programme",
        # Table 3's T3.06 with one word changed.
        "Redesign with green tree motif",
    ],
)
def test_a_fabricated_verbatim_item_is_not_found(paper, record, text):
    assert where_found(Item("fabricated", text), paper, record) is None


@pytest.mark.parametrize(
    ("text", "copy"),
    [
        ("A need for additional support following CRT discharge was identified", None),
        (
            "Promising evidence for self-management interventions for SMI—which can be peer-delivered",
            None,
        ),
        (
            "Co-produced with service users—suitable for delivery by a PSW",
            "produced service userssuitable delivery",
        ),
        ("Peer support", None),
    ],
)
def test_the_paper_s_own_words_are_found_through_the_copy_s_damage(paper, text, copy):
    found = paper.find(text)
    assert found is not None
    if copy:
        assert found == copy


def test_an_additional_file_item_must_be_whole(paper, record):
    assert in_additional_files("Pre-commencement considerations", record)
    assert in_additional_files("Fluctuating mental state", record)
    assert not in_additional_files("Considerations before commencement", record)
    # A quotation located in the paper's Table 2 must be in the paper's text itself: one read
    # in an additional file does not pass for it.
    quote = "When they ended it, I was kind of, how can I say this"
    assert in_additional_files(quote, record)
    assert where_found(Item("q", quote, "Additional file 3 (DS5)"), paper, record) is not None
    assert where_found(Item("q", quote, "Table 2"), paper, record) is None
