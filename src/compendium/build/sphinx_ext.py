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

When Thebe is switched off (``launch_buttons: thebe: false``), it removes
sphinx-thebe's assets from every page. Jupyter Book loads sphinx-thebe regardless, and
its inline configuration script (which names a CDN copy of Thebe) is emitted twice, so
the browser reports ``Identifier 'THEBE_JS_URL' has already been declared`` on every
page. An offline book has no use for a remote kernel anyway.

Finally, it takes what the book says about itself from the study descriptor of the data package
in force (``$COMPENDIUM_DATA``, else ``data/`` beside ``_config.yml``), not from ``_config.yml``:
the title, author and copyright (``book:`` in ``study.yaml``), the footer (``book.footer``,
escaped, each web address in it made a link; the study's citation when no footer is declared)
and the page metadata (description, keywords, author and ``citation_*`` tags). ``_config.yml``
keeps only settings every compendium shares, so ``make book DATA=other-package`` builds a book
that names the other study throughout.
"""

from __future__ import annotations

import re
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


#: A web address in plain text; trailing punctuation belongs to the sentence, not the address.
URL = re.compile(r"https?://[^\s<>\"']+")
URL_TRAILING = ".,;:!?)]'\""


def _split_urls(text: str) -> list[tuple[str, str]]:
    """Return ``text`` as (plain text, following address) pairs; the last address may be empty."""
    parts, start = [], 0
    for match in URL.finditer(text):
        url = match.group(0)
        # Keep a closing parenthesis that closes one opened inside the address itself.
        while (
            url
            and url[-1] in URL_TRAILING
            and not (url[-1] == ")" and url.count("(") >= url.count(")"))
        ):
            url = url[:-1]
        parts.append((text[start : match.start()], url))
        start = match.start() + len(url)
    parts.append((text[start:], ""))
    return parts


def footer_html(text: str) -> str:
    """Return the footer's HTML: ``text`` escaped, each web address in it a link.

    Parameters
    ----------
    text : str
        The footer as ``study.yaml`` declares it: plain text, not markup.

    Returns
    -------
    str
        One ``<p>`` element, rendered through :mod:`compendium.presentation.html`.
    """
    from compendium.presentation.html import render

    return str(render("footer.html", parts=_split_urls(" ".join(text.split()))))


def book_metadata(app: Any, config: Any) -> None:
    """Set the book's title, author, footer and page metadata from the study descriptor.

    Connected to ``config-inited``. Values are set as plain text where Sphinx's templates
    escape them (``html_title``, ``project``, ``author``, ``copyright``, the ``<meta>`` tags)
    and escaped where the theme inserts them as HTML (the navbar title, the footer).

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    config : sphinx.config.Config
        The configuration being initialised; changed in place.

    Raises
    ------
    sphinx.errors.ConfigError
        When the package's ``study.yaml`` is missing or invalid (its problems, located).
    """
    from sphinx.errors import ConfigError

    from compendium.build.support import book_data_dir
    from compendium.contract.descriptor import read_descriptor
    from compendium.contract.problems import InvalidPackage
    from compendium.presentation.html import escape

    try:
        descriptor = read_descriptor(book_data_dir(Path(app.srcdir)))
    except InvalidPackage as exc:
        raise ConfigError(f"the book's title and metadata come from study.yaml: {exc}") from None
    book = descriptor.book
    config.html_title = book.title
    config.project = book.title
    config.author = book.author
    if book.copyright:
        config.copyright = book.copyright
    options = dict(config.html_theme_options or {})
    # pydata-sphinx-theme writes the navbar title unescaped; its logo text is used instead.
    options["logo"] = {**(options.get("logo") or {}), "text": str(escape(book.title))}
    footer = book.footer
    citation = descriptor.study_citation
    if footer is None and citation is not None:
        footer = (
            f"Please cite the study this book reproduces: {citation.text} {citation.link or ''}"
        )
    if footer:
        options["extra_footer"] = footer_html(footer)
    config.html_theme_options = options
    meta = dict(config.myst_html_meta or {})
    meta.update(
        {
            "author": book.author,
            "citation_title": book.title,
            "citation_author": book.author,
        }
    )
    if book.description:
        meta["description"] = " ".join(book.description.split())
    if book.keywords:
        meta["keywords"] = ", ".join(book.keywords)
    config.myst_html_meta = meta


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
    app.connect("config-inited", book_metadata)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
