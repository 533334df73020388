"""The study descriptor: what a study is, in one file that travels with its data.

Every package carries ``study.yaml`` beside ``datapackage.json``. It declares what the engine
would otherwise have to know about one study:

- the citations, and the book's title, author and footer;
- the development framework and its phases (a known one by id, or the study's own);
- the stages: id, name, phase, methods, chapter page and which codes the chapter breaks down;
- the vocabularies the data use: roles, methods, participation statuses, sites, participant
  attributes (one of them may be the comparison group), trial arms and survey scales;
- the paper's summary tables, if any; study-specific glossary terms; disclosure settings;
- where the book addresses each item of the reporting checklists (GUIDED, TIDieR, COREQ), or
  why it does not (``checklists``).

The Table Schemas in ``datapackage.json`` are derived from it (:mod:`compendium.contract.schema`),
so declaring a new role or attribute here is all a study needs to do for the validator to accept
it. :func:`read_descriptor` checks the file against ``resources/contract/study.schema.yaml`` and
then its cross-references, and reports every problem with its line and column in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from compendium import paths
from compendium.contract.problems import InvalidPackage, Problem, display_path

DESCRIPTOR_FILE = "study.yaml"
#: The small-cell threshold of a descriptor that sets none: counts of 1 to 9 people are hidden,
#: ONS's threshold of 10 for research outputs, and stricter than NHS Digital's published rules
#: (README, "Disclosure control"). A synthetic package says 0 explicitly.
DEFAULT_SMALL_CELL_THRESHOLD = 10
#: What a glossary definition may not hold. Definitions are MyST text, parsed into the
#: glossary page so that roles such as {cite:p} work; a directive (a fence of ```, ~~~ or
#: :::) or the raw, eval-rst or include roles would let a data package put markup, or another
#: file, on the page. Inline HTML is shown as text (compendium.build.sphinx_ext).
UNSAFE_MYST = re.compile(
    r"(?m)^[ \t>]*(```|~~~|:::)|\{(raw|eval-rst|include|literalinclude)[^}]*\}"
)
UNSAFE_MYST_MESSAGE = (
    "a definition is MyST text with roles; directives (```, ~~~, :::) and the raw, eval-rst "
    "and include roles are not allowed"
)
#: A glossary term (or another name, or a phrase to link) is one line of the glossary
#: directive: a line break would end it and turn the rest into markup of its own.
UNSAFE_TERM_MESSAGE = "a term is one line of text; line breaks and the raw, eval-rst and include roles are not allowed"
SCHEMA_FILE = paths.RESOURCES_DIR / "contract" / "study.schema.yaml"
FRAMEWORKS_FILE = paths.RESOURCES_DIR / "frameworks.yaml"
CHECKLISTS_FILE = paths.RESOURCES_DIR / "checklists.yaml"

#: Stage templates, and the one a stage gets from its first method's kind when it names none.
TEMPLATE_FOR_KIND = {
    "review": "review",
    "interview": "interviews",
    "focus_group": "focus-groups",
    "think_aloud": "think-aloud",
    "survey": "survey",
}
#: Method kinds whose sources are groups rather than individuals.
GROUP_KINDS = frozenset({"focus_group"})
#: Page names the engine uses for the chapters that span stages; no stage may take one.
CROSS_CUTTING_PAGES = frozenset(
    {
        "intro",
        "overview",
        "paper-tables",
        "trace",
        "intervention",
        "reproduction",
        "provenance",
        "adapt",
        "glossary",
        "bibliography",
        "checklists",
        "checklist-guided",
        "checklist-tidier",
        "checklist-coreq",
    }
)
#: Columns every participants table has; attributes may not reuse these names.
CORE_PARTICIPANT_COLUMNS = (
    "participant_id",
    "activity_id",
    "role",
    "site_id",
    "group_id",
    "label",
    "status",
)


@dataclass(frozen=True)
class Entry:
    """One declared value of a vocabulary: its id, display label and optional description."""

    id: str
    label: str
    description: str | None = None


@dataclass(frozen=True)
class Method(Entry):
    """A data-collection method; ``kind`` says how the engine analyses its data."""

    kind: str = "interview"

    @property
    def group_sources(self) -> bool:
        """True when a source (a transcript) is a group, not one person."""
        return self.kind in GROUP_KINDS


@dataclass(frozen=True)
class Status(Entry):
    """A participation status; whether people with it took part, and were analysed."""

    took_part: bool = False
    analysed: bool = False


@dataclass(frozen=True)
class Attribute:
    """A declared participant attribute: a column of ``participants.csv``."""

    name: str
    label: str
    type: str
    values: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    comparison: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None

    def applies_to(self, role: str) -> bool:
        """Return whether the attribute is recorded for people in ``role``."""
        return self.roles is None or role in self.roles


@dataclass(frozen=True)
class Breakdown:
    """A code whose children a stage chapter breaks down, with an optional denominator."""

    code: str
    percent_of: tuple[tuple[str, Any], ...] | None = None
    rounding: str = "half_up"


@dataclass(frozen=True)
class Stage:
    """One stage of the study, and the chapter that shows it."""

    id: str
    position: int
    name: str
    phase: str
    methods: tuple[str, ...]
    chapter: str
    template: str
    summary: str
    breakdowns: tuple[Breakdown, ...] = ()


@dataclass(frozen=True)
class Framework:
    """The development framework: its name, phases and, if declared, its approach."""

    name: str
    phases: tuple[Entry, ...]
    id: str | None = None
    citation: str | None = None
    approach: str | None = None
    approach_label: str | None = None
    core_elements: tuple[str, ...] = ()

    def phase_label(self, phase_id: str) -> str:
        """Return the display label of a phase."""
        return next(p.label for p in self.phases if p.id == phase_id)


@dataclass(frozen=True)
class Citation:
    """A work the book cites: the study it reproduces, the compendium itself, or another."""

    id: str
    role: str
    text: str
    short: str
    doi: str | None = None
    url: str | None = None
    licence: str | None = None
    fictional: bool = False

    @property
    def link(self) -> str | None:
        """Return the work's address: its DOI resolver URL, else its URL."""
        return f"https://doi.org/{self.doi}" if self.doi else self.url


@dataclass(frozen=True)
class Column:
    """A column heading as a summary table prints it, with where its wording comes from."""

    stage: str
    label: str
    wording: str


@dataclass(frozen=True)
class Table:
    """A summary table the study's paper prints, rebuilt by one of the engine's table kinds."""

    id: str
    kind: str
    title: str
    caption: str
    columns: tuple[Column, ...] = ()


@dataclass(frozen=True)
class Book:
    """What the built book says about itself: title, author, footer and page metadata."""

    title: str
    author: str
    copyright: str | None = None
    description: str | None = None
    keywords: tuple[str, ...] = ()
    footer: str | None = None


@dataclass(frozen=True)
class Trial:
    """Trial settings: the arms participants can be allocated to, and sessions offered."""

    arms: tuple[Entry, ...]
    sessions_offered: int | None = None


@dataclass(frozen=True)
class Scale:
    """A response scale of survey items, its values in order."""

    id: str
    label: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a reporting checklist as the study maps it.

    ``at`` lists the places of the book that address the item, each a page name or
    ``page#anchor`` (a heading's id, a ``(label)=`` target or an id in a cell's output), with
    an optional ``note`` on how; an item the book does not address has a ``reason`` instead.
    ``line`` and ``column`` locate the entry in ``study.yaml``.
    """

    checklist: str
    item: int
    at: tuple[str, ...] = ()
    note: str | None = None
    reason: str | None = None
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Descriptor:
    """A study descriptor, checked; see the module docstring for what it holds."""

    path: Path
    id: str
    title: str
    book: Book
    framework: Framework
    stages: tuple[Stage, ...]
    roles: tuple[Entry, ...]
    methods: tuple[Method, ...]
    statuses: tuple[Status, ...]
    citations: tuple[Citation, ...] = ()
    sites: tuple[Entry, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    trial: Trial | None = None
    scales: tuple[Scale, ...] = ()
    tables: tuple[Table, ...] = ()
    glossary: tuple[dict, ...] = ()
    small_cell_threshold: int = DEFAULT_SMALL_CELL_THRESHOLD
    checklists: tuple[ChecklistItem, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    def stage(self, stage_id: str) -> Stage:
        """Return the stage with ``stage_id``."""
        for stage in self.stages:
            if stage.id == str(stage_id):
                return stage
        raise KeyError(f"{DESCRIPTOR_FILE}: no stage {stage_id!r}")

    def stage_for_chapter(self, chapter: str) -> Stage | None:
        """Return the stage whose chapter page is ``chapter``, or None."""
        return next((s for s in self.stages if s.chapter == chapter), None)

    def method(self, method_id: str) -> Method:
        """Return the declared method ``method_id``."""
        return _by_id(self.methods, method_id, "method")

    def role(self, role_id: str) -> Entry:
        """Return the declared role ``role_id``."""
        return _by_id(self.roles, role_id, "role")

    def status(self, status_id: str) -> Status:
        """Return the declared status ``status_id``."""
        return _by_id(self.statuses, status_id, "status")

    def attribute(self, name: str) -> Attribute:
        """Return the declared attribute ``name``."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(f"{DESCRIPTOR_FILE}: no attribute {name!r}")

    @property
    def comparison(self) -> Attribute | None:
        """Return the attribute that defines the study's comparison group, if one is declared."""
        return next((a for a in self.attributes if a.comparison), None)

    @property
    def took_part(self) -> tuple[str, ...]:
        """Return the statuses of people who contributed data."""
        return tuple(s.id for s in self.statuses if s.took_part)

    @property
    def analysed(self) -> tuple[str, ...]:
        """Return the statuses of people whose data were analysed."""
        return tuple(s.id for s in self.statuses if s.analysed)

    @property
    def study_citation(self) -> Citation | None:
        """Return the citation of the study the book reproduces, if declared."""
        return next((c for c in self.citations if c.role == "study"), None)

    def citation(self, citation_id: str) -> Citation:
        """Return the citation ``citation_id``."""
        return _by_id(self.citations, citation_id, "citation")

    def table(self, table_id: str) -> Table:
        """Return the declared summary table ``table_id``."""
        return _by_id(self.tables, table_id, "table")

    def scale(self, scale_id: str) -> Scale:
        """Return the declared survey scale ``scale_id``."""
        return _by_id(self.scales, scale_id, "scale")

    def checklist(self, name: str) -> dict[int, ChecklistItem]:
        """Return the study's mapping of checklist ``name``, by item number (empty when none)."""
        return {c.item: c for c in self.checklists if c.checklist == name}


def _by_id(entries: Iterable, key: str, what: str):
    for entry in entries:
        if entry.id == key:
            return entry
    raise KeyError(f"{DESCRIPTOR_FILE}: no {what} {key!r}")


# --------------------------------------------------------------------------- reading YAML


class _Located:
    """Line and column of every node of a YAML document, by its path of keys and indices."""

    def __init__(self) -> None:
        self.marks: dict[tuple, tuple[int, int]] = {}
        self.duplicates: list[tuple[tuple, str]] = []

    def where(self, path: Iterable) -> tuple[int | None, int | None]:
        """Return (line, column) of the node at ``path``, or of its nearest located parent."""
        path = tuple(path)
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (None, None))


def load_yaml_located(text: str) -> tuple[Any, _Located]:
    """Return the YAML document in ``text`` with the location of each of its nodes.

    Raises
    ------
    yaml.YAMLError
        When the text is not YAML; its ``problem_mark`` says where.
    """
    loader = yaml.SafeLoader(text)
    located = _Located()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, located
        return _construct(loader, node, (), located), located
    finally:
        loader.dispose()


def _construct(loader, node, path: tuple, located: _Located):
    located.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            located.marks[path + (key, "#key")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            if key in result:
                located.marks[path + (key, "#duplicate")] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                located.duplicates.append((path + (key, "#duplicate"), str(key)))
            result[key] = _construct(loader, value_node, path + (key,), located)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, path + (i,), located) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def path_text(path: Iterable) -> str:
    """Return a key path as a reader writes it, e.g. ``stages[1].phase``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in ("#duplicate", "#key"):
            text += f".{part}" if text else str(part)
    return text or "(top level)"


# --------------------------------------------------------------------------- checking


@cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


@cache
def known_checklists() -> dict:
    """Return the reporting checklists a study may map, by short name.

    They are the lists of ``resources/checklists.yaml`` with numbered items: GUIDED, TIDieR
    and COREQ (the file's MRC framework entry has none).
    """
    every = yaml.safe_load(CHECKLISTS_FILE.read_text(encoding="utf-8"))
    return {name: checklist for name, checklist in every.items() if "items" in checklist}


@cache
def known_frameworks() -> dict:
    """Return the frameworks and approaches the engine knows (``resources/frameworks.yaml``)."""
    return yaml.safe_load(FRAMEWORKS_FILE.read_text(encoding="utf-8"))


def _schema_message(error) -> str:
    validator, value = error.validator, error.validator_value
    if validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, value))}"
    if validator == "required":
        missing = [k for k in value if k not in (error.instance or {})]
        return f"missing required key{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key")
    if validator == "pattern":
        return f"{error.instance!r} does not match the pattern {value}"
    if validator == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return (
            f"expected {'an' if expected[0] in 'aeiou' else 'a'} {expected}, got {error.instance!r}"
        )
    if validator == "const":
        return f"expected {value!r}, got {error.instance!r}"
    return error.message


def read_descriptor(data_dir: Path) -> Descriptor:
    """Return the checked study descriptor of the package in ``data_dir``.

    Raises
    ------
    InvalidPackage
        With one :class:`~compendium.contract.problems.Problem` per thing wrong, each naming
        the line and column of ``study.yaml`` and what was expected.
    """
    path = Path(data_dir) / DESCRIPTOR_FILE
    problems, descriptor = check_descriptor(path)
    if problems:
        raise InvalidPackage(problems)
    return descriptor


def check_descriptor(path: Path) -> tuple[list[Problem], Descriptor | None]:
    """Return the problems of the descriptor at ``path`` and, when there are none, the descriptor."""
    import jsonschema  # a dependency of frictionless

    shown = display_path(path)
    if path.is_symlink():
        return [
            Problem(shown, None, None, "is a symbolic link; the package must hold the file itself")
        ], None
    if not path.is_file():
        return [
            Problem(
                shown,
                None,
                None,
                "file is missing; expected the study descriptor (see the guide chapter "
                "'Adapt this compendium to your intervention')",
            )
        ], None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(shown, None, None, f"is not UTF-8 text (byte {exc.start})")], None
    try:
        data, located = load_yaml_located(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = getattr(exc, "problem", None) or "cannot be read"
        context = getattr(exc, "context_mark", None)
        if context is not None and getattr(exc, "context", None):
            what += f" ({exc.context} that starts at line {context.line + 1})"
        return [Problem(shown, line, None, f"is not valid YAML: {what}", column)], None
    if not isinstance(data, dict):
        return [
            Problem(shown, 1, None, "expected a mapping of keys (compendium, id, title, ...)", 1)
        ], None

    def problem(location: tuple, message: str) -> Problem:
        line, column = located.where(location)
        return Problem(shown, line, path_text(location), message, column)

    problems = [problem(p, f"duplicate key {key!r}") for p, key in located.duplicates]
    validator = jsonschema.Draft202012Validator(_schema())
    for error in validator.iter_errors(data):
        problems.append(problem(tuple(error.absolute_path), _schema_message(error)))
    if problems:
        return sorted(problems), None
    problems = [problem(p, m) for p, m in _reference_problems(data)]
    if problems:
        return sorted(problems), None
    return [], _build(path, data, located)


def _duplicates(items: list[dict], key: str, where: str) -> Iterable[tuple[tuple, str]]:
    seen = set()
    for i, item in enumerate(items):
        if item[key] in seen:
            yield (where, i, key), f"{item[key]!r} is declared twice"
        seen.add(item[key])


def _reference_problems(data: dict) -> Iterable[tuple[tuple, str]]:
    """Yield (key path, message) for every cross-reference inside the descriptor that fails."""
    lists = {
        "roles": "id",
        "methods": "id",
        "statuses": "id",
        "sites": "id",
        "attributes": "name",
        "scales": "id",
        "tables": "id",
        "citations": "id",
    }
    for name, key in lists.items():
        yield from _duplicates(data.get(name, []), key, name)
    yield from _duplicates(data.get("stages", []), "chapter", "stages")
    for i, entry in enumerate(data.get("glossary", [])):
        if UNSAFE_MYST.search(entry["definition"]):
            yield ("glossary", i, "definition"), UNSAFE_MYST_MESSAGE
        names = [("term", None, entry["term"])]
        names += [
            (key, j, name) for key in ("also", "match") for j, name in enumerate(entry.get(key, []))
        ]
        for key, j, name in names:
            if "\n" in name or "\r" in name or UNSAFE_MYST.search(name):
                where = ("glossary", i, key) if j is None else ("glossary", i, key, j)
                yield where, UNSAFE_TERM_MESSAGE
    yield from _duplicates([{"id": str(s["id"])} for s in data.get("stages", [])], "id", "stages")
    known = known_frameworks()
    framework = data["framework"]
    if "id" in framework:
        if framework["id"] not in known["frameworks"]:
            yield (
                ("framework", "id"),
                (
                    f"{framework['id']!r} is not a known framework; expected one of "
                    f"{', '.join(known['frameworks'])}, or give your own name and phases"
                ),
            )
        elif "phases" in framework or "name" in framework:
            yield (
                ("framework",),
                ("give either a known framework id or your own name and phases, not both"),
            )
    elif not {"name", "phases"} <= set(framework):
        yield ("framework",), "expected a known framework id, or your own name and phases"
    if "approach" in framework and framework["approach"] not in known["approaches"]:
        yield (
            ("framework", "approach"),
            (
                f"{framework['approach']!r} is not one of O'Cathain et al.'s approaches: "
                f"{', '.join(known['approaches'])}"
            ),
        )
    phases = [p["id"] for p in framework.get("phases", [])] or [
        p["id"] for p in known["frameworks"].get(framework.get("id"), {}).get("phases", [])
    ]
    methods = {m["id"] for m in data["methods"]}
    roles = {r["id"] for r in data["roles"]}
    stage_ids = {str(s["id"]) for s in data["stages"]}
    for i, stage in enumerate(data["stages"]):
        if phases and stage["phase"] not in phases:
            yield (
                ("stages", i, "phase"),
                (
                    f"{stage['phase']!r} is not a phase of the framework; expected one of "
                    f"{', '.join(phases)}"
                ),
            )
        for j, method in enumerate(stage["methods"]):
            if method not in methods:
                yield (
                    ("stages", i, "methods", j),
                    (
                        f"{method!r} is not a declared method; expected one of {', '.join(sorted(methods))}"
                    ),
                )
        if stage["chapter"] in CROSS_CUTTING_PAGES:
            yield (
                ("stages", i, "chapter"),
                (f"{stage['chapter']!r} is the name of a cross-cutting page; choose another"),
            )
    comparisons = [i for i, a in enumerate(data.get("attributes", [])) if a.get("comparison")]
    for i in comparisons[1:]:
        yield ("attributes", i, "comparison"), "only one attribute can define the comparison group"
    for i, attribute in enumerate(data.get("attributes", [])):
        if attribute["name"] in CORE_PARTICIPANT_COLUMNS:
            yield (
                ("attributes", i, "name"),
                (
                    f"{attribute['name']!r} is a core column of participants.csv; choose another name"
                ),
            )
        if attribute["type"] == "category" and "values" not in attribute:
            yield ("attributes", i), "a category attribute needs its values"
        if attribute["type"] != "category" and "values" in attribute:
            yield ("attributes", i, "values"), "only a category attribute has values"
        if attribute.get("comparison") and attribute["type"] not in ("category", "boolean"):
            yield (
                ("attributes", i, "comparison"),
                "a comparison group must be a category or boolean",
            )
        values = attribute.get("values", [])
        if len(set(values)) != len(values):
            yield ("attributes", i, "values"), "a value is listed twice"
        for j, role in enumerate(attribute.get("roles", [])):
            if role not in roles:
                yield (
                    ("attributes", i, "roles", j),
                    (
                        f"{role!r} is not a declared role; expected one of {', '.join(sorted(roles))}"
                    ),
                )
    for i, table in enumerate(data.get("tables", [])):
        for j, column in enumerate(table.get("columns", [])):
            if str(column["stage"]) not in stage_ids:
                yield ("tables", i, "columns", j, "stage"), f"{column['stage']!r} is not a stage"
    arms = data.get("trial", {}).get("arms", [])
    yield from _duplicates(arms, "id", "trial")
    yield from _checklist_problems(data.get("checklists", {}))


def _checklist_problems(checklists: dict) -> Iterable[tuple[tuple, str]]:
    """Yield (key path, message) for every checklist mapping that names no known item once."""
    known = known_checklists()
    for name, entries in checklists.items():
        if name not in known:
            yield (
                ("checklists", name, "#key"),
                (
                    f"{name!r} is not a checklist the engine knows; expected one of "
                    f"{', '.join(sorted(known))}"
                ),
            )
            continue
        items = known[name]["items"]
        short = known[name]["name"].split(":")[0]
        seen: set[int] = set()
        for i, entry in enumerate(entries):
            number = entry["item"]
            if number not in items:
                yield (
                    ("checklists", name, i, "item"),
                    f"{number} is not an item of {short}; expected 1 to {len(items)}",
                )
            elif number in seen:
                yield (
                    ("checklists", name, i, "item"),
                    f"item {number} of {short} is mapped twice; give each item one entry",
                )
            seen.add(number)
            if "at" in entry and "reason" in entry:
                yield (
                    ("checklists", name, i),
                    "give either `at` (where the book addresses the item) or `reason` (why it "
                    "does not), not both",
                )
            elif "at" not in entry and "reason" not in entry:
                yield (
                    ("checklists", name, i),
                    f"item {number} maps to no place: give `at` (the page, or page#anchor, that "
                    "addresses it) or `reason` (why the book does not address it)",
                )
            elif "note" in entry and "reason" in entry:
                yield (
                    ("checklists", name, i, "note"),
                    "a `note` says how a place addresses the item; an item not addressed gives "
                    "its `reason` alone",
                )


def _entries(items: list[dict] | None, kind=Entry) -> tuple:
    return tuple(kind(**item) for item in items or [])


def _checklist_items(checklists: dict, located: _Located) -> tuple[ChecklistItem, ...]:
    items = []
    for name, entries in checklists.items():
        for i, entry in enumerate(entries):
            at = entry.get("at", ())
            line, column = located.where(("checklists", name, i))
            items.append(
                ChecklistItem(
                    checklist=name,
                    item=entry["item"],
                    at=(at,) if isinstance(at, str) else tuple(at),
                    note=entry.get("note"),
                    reason=entry.get("reason"),
                    line=line,
                    column=column,
                )
            )
    return tuple(items)


def _build(path: Path, data: dict, located: _Located) -> Descriptor:
    known = known_frameworks()
    spec = data["framework"]
    base = known["frameworks"].get(spec.get("id"), {})
    approach = spec.get("approach", base.get("approach"))
    framework = Framework(
        id=spec.get("id"),
        name=spec.get("name", base.get("name")),
        citation=spec.get("citation", base.get("citation")),
        approach=approach,
        approach_label=known["approaches"][approach]["label"] if approach else None,
        phases=_entries(spec.get("phases", base.get("phases"))),
        core_elements=tuple(base.get("core_elements", ())),
    )
    methods = _entries(data["methods"], Method)
    kinds = {m.id: m.kind for m in methods}
    stages = tuple(
        Stage(
            id=str(s["id"]),
            position=i,
            name=s["name"],
            phase=s["phase"],
            methods=tuple(s["methods"]),
            chapter=s["chapter"],
            template=s.get("template", TEMPLATE_FOR_KIND[kinds[s["methods"][0]]]),
            summary=s["summary"],
            breakdowns=tuple(
                Breakdown(
                    code=b["code"],
                    percent_of=tuple(b["percent_of"].items()) if "percent_of" in b else None,
                    rounding=b.get("rounding", "half_up"),
                )
                for b in s.get("breakdowns", [])
            ),
        )
        for i, s in enumerate(data["stages"], start=1)
    )
    attributes = tuple(
        Attribute(
            **{
                **a,
                "values": tuple(a["values"]) if "values" in a else None,
                "roles": tuple(a["roles"]) if "roles" in a else None,
            }
        )
        for a in data.get("attributes", [])
    )
    trial = data.get("trial")
    return Descriptor(
        path=path,
        id=data["id"],
        title=data["title"],
        book=Book(**{**data["book"], "keywords": tuple(data["book"].get("keywords", ()))}),
        framework=framework,
        stages=stages,
        roles=_entries(data["roles"]),
        methods=methods,
        statuses=_entries(data["statuses"], Status),
        citations=_entries(data.get("citations"), Citation),
        sites=_entries(data.get("sites")),
        attributes=attributes,
        trial=Trial(_entries(trial["arms"]), trial.get("sessions_offered")) if trial else None,
        scales=tuple(
            Scale(s["id"], s["label"], tuple(s["values"])) for s in data.get("scales", [])
        ),
        tables=tuple(
            Table(
                id=t["id"],
                kind=t["kind"],
                title=t["title"],
                caption=t["caption"],
                columns=tuple(
                    Column(str(c["stage"]), c["label"], c["wording"]) for c in t.get("columns", [])
                ),
            )
            for t in data.get("tables", [])
        ),
        glossary=tuple(dict(g) for g in data.get("glossary", [])),
        small_cell_threshold=data.get("disclosure", {}).get(
            "small_cell_threshold", DEFAULT_SMALL_CELL_THRESHOLD
        ),
        checklists=_checklist_items(data.get("checklists", {}), located),
        raw=data,
    )
