"""Citation and Jupyter Book configuration files parse and point at real files."""

from __future__ import annotations

import yaml

from compendium.paths import ROOT

DOI = "10.1186/s13104-017-2900-6"


def _load(name: str):
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def test_citation_cff_parses_and_cites_the_paper():
    cff = _load("CITATION.cff")
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"]
    assert cff["authors"] == [{"name": "The compendium authors"}]
    dois = [ref.get("doi") for ref in cff.get("references", [])]
    if "preferred-citation" in cff:
        dois.append(cff["preferred-citation"].get("doi"))
    assert DOI in dois


def test_book_config_parses():
    config = _load("_config.yml")
    assert config["title"].startswith("Developing a peer-supported")
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "cache"
    sphinx_config = config["sphinx"]["config"]
    assert sphinx_config["nb_execution_raise_on_error"] is True
    assert "compendium.build.sphinx_ext" in config["sphinx"]["extra_extensions"]


def test_toc_root_exists():
    toc = _load("_toc.yml")
    assert toc["format"] == "jb-book"
    root = toc["root"]
    candidates = [ROOT / f"{root}{suffix}" for suffix in (".md", ".ipynb", ".rst")]
    assert any(path.is_file() for path in candidates), f"toc root {root!r} has no file"
