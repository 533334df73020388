"""Where each part of a study lives in its book: stage pages and cross-page anchors.

Findings are shown on their stage's page, decisions on the trace page and components on the
intervention page; all are generated from data, so their anchors are made here, in one place,
from their ids (which the contract restricts to letters, digits, ``.``, ``_`` and ``-``). The
stage pages come from the study descriptor, so another study's page names work unchanged.
"""

from __future__ import annotations

import re

from compendium.contract.descriptor import Descriptor

TRACE_PAGE = "trace"
INTERVENTION_PAGE = "intervention"


def anchor(kind: str, key: str) -> str:
    """Return the HTML id for a finding, decision or component, e.g. ``finding-F2-1``.

    Any character other than a letter, digit, ``_`` or ``-`` becomes ``-``, so the id is safe
    in an attribute and a URL fragment whatever the key holds.
    """
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '-', str(key))}"


def stage_page(descriptor: Descriptor, stage_id: str) -> str:
    """Return the page name of a stage's chapter."""
    return descriptor.stage(str(stage_id)).chapter


def finding_href(descriptor: Descriptor, stage_id: str, finding_id: str) -> str:
    """Return the relative link to a finding on its stage page (pages sit side by side)."""
    return f"{stage_page(descriptor, stage_id)}.html#{anchor('finding', finding_id)}"


def decision_href(decision_id: str) -> str:
    """Return the relative link to a decision on the trace page."""
    return f"{TRACE_PAGE}.html#{anchor('decision', decision_id)}"


def component_href(component_id: str) -> str:
    """Return the relative link to a component on the intervention page."""
    return f"{INTERVENTION_PAGE}.html#{anchor('component', component_id)}"
