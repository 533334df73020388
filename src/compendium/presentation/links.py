"""Where each part of the study lives in the book: stage pages and cross-page anchors.

Findings are shown on their stage's page and decisions on the trace page; both are
generated from data, so their anchors are made here, in one place, from their ids.
"""

from __future__ import annotations

STAGE_PAGES = {
    1: "evidence-reviews",
    2: "service-user-interviews",
    3: "stakeholder-focus-groups",
    4: "feasibility-testing",
    5: "pilot-trial",
}
TRACE_PAGE = "trace"
INTERVENTION_PAGE = "intervention"


def anchor(kind: str, key: str) -> str:
    """Return the HTML id for a finding, decision or component, e.g. ``finding-F2-1``."""
    return f"{kind}-{key.replace('.', '-')}"


def finding_href(stage: int, finding_id: str) -> str:
    """Return the relative link to a finding on its stage page (pages sit side by side)."""
    return f"{STAGE_PAGES[int(stage)]}.html#{anchor('finding', finding_id)}"


def decision_href(decision_id: str) -> str:
    """Return the relative link to a decision on the trace page."""
    return f"{TRACE_PAGE}.html#{anchor('decision', decision_id)}"


def component_href(component_id: str) -> str:
    """Return the relative link to a component on the final-intervention page."""
    return f"{INTERVENTION_PAGE}.html#{anchor('component', component_id)}"
