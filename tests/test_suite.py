"""The suite's own organisation: ``pytest -m "not slow"`` is quick, ``make test`` runs it all."""

from __future__ import annotations

from conftest import SHARED_BY_GROUP


def test_no_quick_test_waits_for_a_costly_fixture(request):
    # Every page visited, the PDF printed, a whole book built: tens of seconds each. A test
    # that reads one of them is slow, however quick its own body, so `-m "not slow"` never
    # makes them (this run's tests are checked, whichever subset was asked for).
    quick = [item for item in request.session.items if not item.get_closest_marker("slow")]
    costly = {
        item.nodeid: sorted(set(SHARED_BY_GROUP) & set(item.fixturenames))
        for item in quick
        if set(SHARED_BY_GROUP) & set(item.fixturenames)
    }
    assert quick and not costly, costly
