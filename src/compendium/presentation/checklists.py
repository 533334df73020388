"""Reporting checklists (GUIDED, TIDieR, COREQ) kept as data, and what a study says of each item.

The item lists live in ``resources/checklists.yaml``, a copy of the project's shared
reference file: short item labels only, each list with the citation it comes from. A study
maps each item to the places of its book that address it, or says why the book does not, in
the ``checklists`` section of its descriptor (``study.yaml``; see
:class:`compendium.contract.descriptor.ChecklistItem`). :func:`checklist_rows` joins the two:
one row per item, in order, so a checklist page lists every item whether or not the study has
mapped it yet. The Sphinx extension turns the rows into the page's table and checks that every
mapped place exists in the built book (:mod:`compendium.build.sphinx_ext`).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from compendium import paths
from compendium.contract.descriptor import DESCRIPTOR_FILE, Descriptor, known_checklists

CHECKLISTS_PATH = paths.RESOURCES_DIR / "checklists.yaml"
#: The reason shown for an item the study's descriptor does not map.
NOT_MAPPED = f"not yet mapped in {DESCRIPTOR_FILE}"


def load_checklists() -> dict:
    """Return the reporting checklists, keyed by short name (``guided``, ``tidier``, ``coreq``).

    Returns
    -------
    dict
        Each checklist has ``name``, ``source`` (the citation, with its DOI) and ``items``,
        a mapping from item number (int) to short label; COREQ also has ``domains``, each
        a ``[first, last]`` item range. The file holds the MRC framework's phases and core
        elements too (``mrc_framework_2021``), which are not numbered items.
    """
    return yaml.safe_load(CHECKLISTS_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Place:
    """A place of the book: a page and, optionally, an anchor on it."""

    page: str
    anchor: str | None = None

    @classmethod
    def parse(cls, text: str) -> Place:
        """Return the place ``page`` or ``page#anchor`` names."""
        page, _, anchor = text.partition("#")
        return cls(page, anchor or None)

    def __str__(self) -> str:
        return f"{self.page}#{self.anchor}" if self.anchor else self.page


@dataclass(frozen=True)
class ChecklistRow:
    """One item of a checklist as its page shows it."""

    number: int
    label: str
    domain: str | None
    places: tuple[Place, ...]
    note: str | None
    reason: str | None
    line: int | None = None

    @property
    def addressed(self) -> bool:
        """True when the study names a place of the book that addresses the item."""
        return bool(self.places)


def domain_of(checklist: dict, number: int) -> str | None:
    """Return the domain an item belongs to (COREQ groups its items in three), or None."""
    for domain, (first, last) in (checklist.get("domains") or {}).items():
        if first <= number <= last:
            return domain
    return None


def checklist_rows(descriptor: Descriptor, name: str) -> list[ChecklistRow]:
    """Return every item of checklist ``name`` with what the study's descriptor says of it.

    An item the descriptor maps to places is addressed there (with the descriptor's note); one
    it maps to a reason is not addressed, for that reason; one it does not list is not
    addressed, with the reason :data:`NOT_MAPPED`.

    Raises
    ------
    KeyError
        When ``name`` is not a checklist the engine knows.
    """
    checklist = known_checklists()[name]
    mapped = descriptor.checklist(name)
    rows = []
    for number, label in checklist["items"].items():
        entry = mapped.get(number)
        domain = domain_of(checklist, number)
        if entry is None:
            rows.append(ChecklistRow(number, label, domain, (), None, NOT_MAPPED))
            continue
        places = tuple(Place.parse(at) for at in entry.at)
        rows.append(
            ChecklistRow(number, label, domain, places, entry.note, entry.reason, entry.line)
        )
    return rows


def checklist_title(name: str) -> str:
    """Return a checklist's short name as its page calls it, e.g. ``GUIDED``."""
    return known_checklists()[name]["name"].split(":")[0]
