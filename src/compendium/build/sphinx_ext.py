"""Sphinx extension that serves plotly.js from the built site instead of a CDN.

Figures are rendered by :mod:`compendium.presentation.figures` as HTML fragments that expect a
global ``Plotly`` object. This extension adds one ``<script src="_static/plotly.min.js">``
to every page and, when the build finishes, copies the copy of plotly.js bundled with
the installed ``plotly`` package into ``<outdir>/_static/``. The book therefore needs no
network access, at build time or when read.

It also refuses external assets: a page whose ``<script src>`` or stylesheet ``<link>``
points at another host (for instance Sphinx's MathJax, which comes from a CDN and is
added only to pages that contain maths) gets a Sphinx warning, which ``-W`` turns into a
failed build. The book currently has no maths; if it ever needs some, vendor MathJax 3
(npm ``mathjax@3``, one ``es5/tex-svg-full.js`` file needs no fonts) and set
``mathjax_path`` to it, rather than loading it from a CDN.

Finally, when Thebe is switched off (``launch_buttons: thebe: false``), it removes
sphinx-thebe's assets from every page. Jupyter Book loads sphinx-thebe regardless, and
its inline configuration script (which names a CDN copy of Thebe) is emitted twice, so
the browser reports ``Identifier 'THEBE_JS_URL' has already been declared`` on every
page. An offline book has no use for a remote kernel anyway.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sphinx.util import logging

from compendium import paths

logger = logging.getLogger(__name__)

PLOTLY_JS = "plotly.min.js"


STYLESHEET = "compendium.css"  # the book's own few style rules, shipped with the package


def plotly_js_path() -> Path:
    """Return the path of the ``plotly.min.js`` shipped inside the ``plotly`` package.

    Returns
    -------
    pathlib.Path
        Location of ``plotly/package_data/plotly.min.js``.
    """
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS


def copy_plotly_js(app: Any, exception: Exception | None) -> None:
    """Copy plotly.js into the HTML output's ``_static`` folder.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    exception : Exception or None
        The exception that ended the build, if any; nothing is copied then.
    """
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js_path(), static / PLOTLY_JS)
    shutil.copyfile(paths.RESOURCES_DIR / STYLESHEET, static / STYLESHEET)


def _is_external(filename: object) -> bool:
    """Return True when an asset's file name is a URL to another host (or protocol-relative)."""
    text = str(filename or "")
    parts = urlsplit(text)
    return bool(parts.scheme and parts.scheme != "file") or text.startswith("//")


def refuse_external_assets(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Warn about every script or stylesheet on a page that would load from another host.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    pagename : str
        Name of the page being written.
    templatename : str
        Template used for the page (unused).
    context : dict
        The page's template context, holding ``script_files`` and ``css_files``.
    doctree : docutils.nodes.document or None
        The page's doctree (unused).
    """
    for key in ("script_files", "css_files"):
        for asset in context.get(key, ()):
            filename = getattr(asset, "filename", asset)
            if _is_external(filename):
                logger.warning(
                    "page %r would load %s from another host: %s (vendor it instead; "
                    "see compendium.build.sphinx_ext)",
                    pagename,
                    "a script" if key == "script_files" else "a stylesheet",
                    filename,
                    type="compendium",
                    subtype="external_asset",
                )


THEBE_FILES = frozenset({"sphinx-thebe.js", "sphinx-thebe.css"})


def _is_thebe_asset(asset: object) -> bool:
    """Return True for sphinx-thebe's script, stylesheet or inline configuration script."""
    filename = getattr(asset, "filename", asset)
    if filename and str(filename).rsplit("/", 1)[-1] in THEBE_FILES:
        return True
    body = getattr(asset, "attributes", {}).get("body") or ""
    return "THEBE_JS_URL" in body


def thebe_enabled(app: Any) -> bool:
    """Return whether the book's ``launch_buttons`` switch Thebe on.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.

    Returns
    -------
    bool
        The ``thebe`` launch-button setting (False when absent).
    """
    options = app.config.html_theme_options or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def drop_thebe_assets(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Remove sphinx-thebe's scripts and stylesheet from a page when Thebe is off.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    pagename : str
        Name of the page being written (unused).
    templatename : str
        Template used for the page (unused).
    context : dict
        The page's template context; ``script_files`` and ``css_files`` are filtered in place.
    doctree : docutils.nodes.document or None
        The page's doctree (unused).
    """
    if thebe_enabled(app):
        return
    for key in ("script_files", "css_files"):
        if key in context:
            context[key][:] = [a for a in context[key] if not _is_thebe_asset(a)]


def setup(app: Any) -> dict[str, Any]:
    """Register the plotly.js script tag and the copy step with Sphinx.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.

    Returns
    -------
    dict
        Extension metadata; the extension is safe for parallel reading and writing.
    """
    app.add_js_file(PLOTLY_JS)
    app.add_css_file(STYLESHEET)
    app.connect("build-finished", copy_plotly_js)
    # Late priority, so assets that other extensions add to the page (MathJax) are seen.
    app.connect("html-page-context", refuse_external_assets, priority=900)
    app.connect("html-page-context", drop_thebe_assets)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
