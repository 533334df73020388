"""The reporting checklists ship with the package, complete and with their sources."""

from compendium.presentation.checklists import load_checklists


def test_each_checklist_has_its_published_number_of_items():
    checklists = load_checklists()
    counts = {name: len(checklists[name]["items"]) for name in ("guided", "tidier", "coreq")}
    assert counts == {"guided": 14, "tidier": 12, "coreq": 32}


def test_items_are_numbered_one_to_n_and_sources_cite_a_doi():
    checklists = load_checklists()
    for name in ("guided", "tidier", "coreq"):
        items = checklists[name]["items"]
        assert list(items) == list(range(1, len(items) + 1)), name
        assert "doi:10." in checklists[name]["source"], name
    assert checklists["coreq"]["items"][32] == "Clarity of minor themes"
