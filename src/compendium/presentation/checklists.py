"""Reporting checklists (GUIDED, TIDieR, COREQ) kept as data, with their sources.

The item lists live in ``resources/checklists.yaml``, a copy of the project's shared
reference file: short item labels only, each list with the citation it comes from. A
checklist page maps each item to the place in the book that addresses it.
"""

from __future__ import annotations

import yaml

from compendium import paths

CHECKLISTS_PATH = paths.RESOURCES_DIR / "checklists.yaml"


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
