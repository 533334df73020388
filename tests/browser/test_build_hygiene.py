"""The build configuration: warnings and failing cells fail ``make book``; offline head.

These build throwaway books in a temporary directory with the project's ``_config.yml``
and the exact command ``make book`` runs, so they test the configuration, not a chapter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compendium.build import sphinx_ext

from .conftest import book_command, build_tiny_book, notebook_page

ROOT_PAGE = "# A tiny book\n\nThe root page of a book built by the test suite.\n"


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    """A tiny book with a plain page and two executed notebooks, one drawing a plotly figure."""
    root = tmp_path_factory.mktemp("clean-book")
    chapter = notebook_page("Working chapter", "print(6 * 7)")
    figure = notebook_page(
        "Figure chapter",
        "import plotly.graph_objects as go\n"
        "from compendium.presentation.figures import AccessibleFigure",
        "AccessibleFigure(go.Figure(go.Bar(x=['a'], y=[1])), alt='One bar.', caption='One bar')",
    )
    pages = {"index": ROOT_PAGE, "working-chapter": chapter, "figure-chapter": figure}
    return root, build_tiny_book(root, pages)


def test_make_book_treats_warnings_as_errors_and_checks_links():
    argv = book_command()
    assert argv[1:3] == ["build", "."]
    assert {"-W", "-n", "--keep-going"} <= set(argv), argv


@pytest.mark.slow
def test_a_clean_book_builds_with_the_offline_head(clean_build):
    root, build = clean_build
    assert build.returncode == 0, build.stdout[-4000:]
    html = (root / "_build/html/working-chapter.html").read_text(encoding="utf-8")
    assert "42" in html
    # Thebe is off, so none of sphinx-thebe's assets (or its CDN address) reach the page.
    assert "THEBE_JS_URL" not in html and "sphinx-thebe" not in html
    assert 'rel="icon" href="_static/favicon.svg"' in html
    assert (root / "_build/html/_static/favicon.svg").is_file()
    assert 'data-default-mode="auto"' in html


@pytest.mark.slow
def test_plotly_js_is_loaded_by_the_pages_that_draw_a_figure_and_no_others(clean_build):
    root, build = clean_build
    assert build.returncode == 0, build.stdout[-4000:]
    script = f'src="_static/{sphinx_ext.PLOTLY_JS}'
    figure = (root / "_build/html/figure-chapter.html").read_text(encoding="utf-8")
    assert sphinx_ext.PLOTLY_MARKER in figure and figure.count(script) == 1
    # In the head, before the figure's own script calls Plotly.
    assert figure.index(script) < figure.index("</head>") < figure.index(sphinx_ext.PLOTLY_MARKER)
    for plain in ("working-chapter.html", "index.html"):
        html = (root / "_build/html" / plain).read_text(encoding="utf-8")
        assert script not in html, plain
    assert (root / "_build/html/_static" / sphinx_ext.PLOTLY_JS).is_file()


@pytest.mark.slow
def test_a_warning_fails_the_build(tmp_path: Path):
    page = ROOT_PAGE + "\nSee {ref}`a-label-that-does-not-exist`.\n"
    build = build_tiny_book(tmp_path, {"index": page})
    assert build.returncode != 0, build.stdout[-4000:]
    assert "index.md" in build.stdout and "a-label-that-does-not-exist" in build.stdout


@pytest.mark.slow
def test_a_failing_cell_fails_the_build_naming_the_chapter(tmp_path: Path):
    chapter = notebook_page("Broken chapter", "raise ValueError('deliberately broken cell')")
    build = build_tiny_book(tmp_path, {"index": ROOT_PAGE, "broken-chapter": chapter})
    assert build.returncode != 0, build.stdout[-4000:]
    assert "broken-chapter.md: WARNING: Executing notebook failed" in build.stdout
    assert "ValueError" in build.stdout and "deliberately broken cell" in build.stdout


class _Asset:
    """Stand-in for Sphinx's script/stylesheet objects (``filename`` and ``attributes``)."""

    def __init__(self, filename, **attributes):
        self.filename, self.attributes = filename, attributes


class _App:
    def __init__(self, launch_buttons):
        self.config = type("Config", (), {"html_theme_options": {"launch_buttons": launch_buttons}})


def test_drop_thebe_assets_only_when_thebe_is_off():
    def context():
        return {
            "script_files": [
                _Asset(None, body='const THEBE_JS_URL = "https://example.org/thebe.js"'),
                _Asset("_static/sphinx-thebe.js"),
                _Asset("_static/plotly.min.js"),
            ],
            "css_files": [_Asset("_static/sphinx-thebe.css"), _Asset("_static/basic.css")],
        }

    page = context()
    sphinx_ext.drop_thebe_assets(_App({"thebe": False}), "intro", "page.html", page, None)
    assert [a.filename for a in page["script_files"]] == ["_static/plotly.min.js"]
    assert [a.filename for a in page["css_files"]] == ["_static/basic.css"]
    assert sphinx_ext.thebe_enabled(_App({"thebe": True}))
    page = context()
    sphinx_ext.drop_thebe_assets(_App({"thebe": True}), "intro", "page.html", page, None)
    assert len(page["script_files"]) == 3 and len(page["css_files"]) == 2
