"""What the book says about itself comes from the study descriptor, escaped, not _config.yml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compendium.build.sphinx_ext import footer_html
from compendium.contract.descriptor import read_descriptor
from compendium.paths import DEFAULT_DATA_DIR, ROOT

DOI = "10.1186/s13104-017-2900-6"
STUDY_WORDS = re.compile(r"crisis|\bCRT\b|peer support|Milton|\bPSW", re.IGNORECASE)


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


def test_book_config_parses_and_says_nothing_about_the_study():
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "cache"
    sphinx_config = config["sphinx"]["config"]
    assert sphinx_config["nb_execution_raise_on_error"] is True
    assert "compendium.build.sphinx_ext" in config["sphinx"]["extra_extensions"]
    for key in ("title", "author", "copyright"):
        assert key not in config
    assert "extra_footer" not in config["html"]
    assert "myst_html_meta" not in sphinx_config
    assert not STUDY_WORDS.findall(text)


def test_toc_root_exists():
    toc = _load("_toc.yml")
    assert toc["format"] == "jb-book"
    root = toc["root"]
    candidates = [ROOT / f"{root}{suffix}" for suffix in (".md", ".ipynb", ".rst")]
    assert any(path.is_file() for path in candidates), f"toc root {root!r} has no file"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "Code: MIT (https://opensource.org/licenses/MIT).",
            '<p class="compendium-footer">Code: MIT (<a href="https://opensource.org/licenses/MIT"'
            ' rel="license">https://opensource.org/licenses/MIT</a>).</p>',
        ),
        (
            "See https://en.wikipedia.org/wiki/Foo_(bar), <b>&</b>",
            '<p class="compendium-footer">See <a href="https://en.wikipedia.org/wiki/Foo_(bar)">'
            "https://en.wikipedia.org/wiki/Foo_(bar)</a>, &lt;b&gt;&amp;&lt;/b&gt;</p>",
        ),
        (
            'Odd: https://x.org/?a=1&b="2" end',
            '<p class="compendium-footer">Odd: <a href="https://x.org/?a=1&amp;b=">'
            "https://x.org/?a=1&amp;b=</a>&#34;2&#34; end</p>",
        ),
        ("No link,\n   just text.", '<p class="compendium-footer">No link, just text.</p>'),
    ],
)
def test_footer_is_escaped_and_its_addresses_are_links(text, html):
    assert footer_html(text) == html


def build(root: Path, env: dict | None = None) -> str:
    """Build a one-page book with the project's _config.yml; return the page's HTML."""
    shutil.copyfile(ROOT / "_config.yml", root / "_config.yml")
    config = _load("_config.yml")
    # Files the configuration refers to (favicon, template overrides, references) come along.
    referenced = [config["html"]["favicon"], *config.get("bibtex_bibfiles", [])]
    referenced += config["sphinx"]["config"].get("templates_path", [])
    for relative in referenced:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / relative).is_dir():
            shutil.copytree(ROOT / relative, root / relative)
        else:
            shutil.copyfile(ROOT / relative, root / relative)
    (root / "book" / "intro.md").write_text("# A page\n\nText.\n", encoding="utf-8")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n", encoding="utf-8")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    environment = {k: v for k, v in os.environ.items() if k != "COMPENDIUM_DATA"}
    result = subprocess.run(
        [str(jupyter_book), "build", ".", "--builder", "html", "-W", "-n", "--keep-going"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (root / "_build" / "html" / "book" / "intro.html").read_text(encoding="utf-8")


def hostile_package(target: Path) -> Path:
    """Copy this study's descriptor with markup in the book's title, author and footer."""
    target.mkdir(parents=True)
    study = yaml.safe_load((DEFAULT_DATA_DIR / "study.yaml").read_text(encoding="utf-8"))
    study["book"] = {
        "title": 'A <script>alert(1)</script> & "quoted" study',
        "author": "Ann <i>Other</i> & Co",
        "copyright": "2031",
        "description": "About <b>this</b>",
        "keywords": ["one", "two <x>"],
        "footer": "Text <em>licence</em>: https://creativecommons.org/licenses/by/4.0/.",
    }
    (target / "study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    return target


@pytest.mark.slow
def test_title_author_footer_and_metadata_come_from_the_descriptor_escaped(tmp_path):
    hostile_package(tmp_path / "data")
    html = build(tmp_path)
    assert "<script>alert(1)</script>" not in html and "<em>licence" not in html
    title = "A &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quoted&#34; study"
    assert f"<title>A page &#8212; {title}</title>" in html
    assert f'<p class="title logo__title">{title}</p>' in html
    found = re.findall(r'<meta content="([^"]*)" name="([^"]*)"', html)
    meta = {name: content for content, name in found}
    assert meta["author"] == meta["citation_author"] == "Ann &lt;i&gt;Other&lt;/i&gt; &amp; Co"
    assert meta["citation_title"] == title.replace("&#34;", "&quot;")
    assert meta["description"] == "About &lt;b&gt;this&lt;/b&gt;"
    assert meta["keywords"] == "one, two &lt;x&gt;"
    assert (
        '<p class="compendium-footer">Text &lt;em&gt;licence&lt;/em&gt;: <a href="https://'
        'creativecommons.org/licenses/by/4.0/" rel="license">https://creativecommons.org/'
        "licenses/by/4.0/</a>.</p>"
    ) in html
    assert "2031" in html
    assert not STUDY_WORDS.findall(html)


@pytest.mark.slow
def test_the_data_in_force_names_the_book(tmp_path):
    """COMPENDIUM_DATA (what `make book DATA=...` sets) wins over the book's own data/."""
    shutil.copytree(DEFAULT_DATA_DIR, tmp_path / "data", ignore=shutil.ignore_patterns("*.csv"))
    other = hostile_package(tmp_path / "other")
    html = build(tmp_path, {"COMPENDIUM_DATA": str(other)})
    assert "A &lt;script&gt;" in html
    assert read_descriptor(DEFAULT_DATA_DIR).book.title not in html
