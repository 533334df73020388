"""Sphinx extension that serves plotly.js from the built site instead of a CDN.

Figures are rendered by :mod:`compendium.presentation.figures` as HTML fragments that expect a
global ``Plotly`` object. This extension adds one ``<script src="_static/plotly.min.js">``
to each page that draws a plotly figure, and only to those (plotly.js is 4.8 MB, and
compiling it takes a phone or a slow laptop a second or more), and, when the build
finishes, copies the copy of plotly.js bundled with the installed ``plotly`` package into
``<outdir>/_static/``. The book therefore needs no
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

For readers it adds, each in its own function or class below:

- every code cell's input is folded behind a toggle, its output shown
  (:class:`FoldCodeInputs`), and ``compendium.js`` adds a page-level "Show all code" button;
  the executed notebooks keep their code, only the HTML changes;
- each page built from a notebook offers its executed ``.ipynb`` for download beside its
  source (:func:`offer_executed_notebook`);
- a glossary page built from YAML (:class:`GlossaryDirective`, ``{compendium-glossary}``)
  from the package's general terms and the study's own terms, whose file is the
  ``compendium_study_glossary`` setting (a path relative to the book root);
- the first mention of each glossary term on every other page becomes a link to its
  entry (:class:`LinkGlossaryTerms`);
- author-year citations in round brackets and an author-year labelled reference list for
  sphinxcontrib-bibtex (the ``compendium`` styles, :class:`RoundBracketReferences`,
  :class:`AuthorYearStyle`);
- markup that passes axe where the stock one does not (:func:`visit_fold`,
  :func:`visit_citation`);
- reporting-checklist pages (:class:`ChecklistDirective`, ``{compendium-checklist} guided``):
  every item of the checklist, linked to the places of the book the study's descriptor maps it
  to, or flagged not addressed with its reason. Every page's anchors are recorded as it is read
  (:func:`collect_anchors`), and once all are read :func:`check_checklist_places` warns about
  each mapped page or anchor that does not exist, so ``-W`` fails the build on a dangling one.

It also takes what the book says about itself from the study descriptor of the data package
in force (``$COMPENDIUM_DATA``, else ``data/`` beside ``_config.yml``), not from ``_config.yml``:
the title, author and copyright (``book:`` in ``study.yaml``), the footer (``book.footer``,
escaped, each web address in it made a link; the study's citation when no footer is declared)
and the page metadata (description, keywords, author and ``citation_*`` tags). ``_config.yml``
keeps only settings every compendium shares, so ``make book DATA=other-package`` builds a book
that names the other study throughout.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from docutils import nodes
from docutils.statemachine import StringList
from docutils.writers.html5_polyglot import HTMLTranslator
from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput
from pybtex.plugin import find_plugin, register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSortingBase
from sphinx import addnodes
from sphinx.domains.std import Glossary
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

from compendium import paths
from compendium.presentation import glossary

logger = logging.getLogger(__name__)

PLOTLY_JS = "plotly.min.js"
#: What plotly.io writes around every figure it renders: a page whose body holds it draws one.
PLOTLY_MARKER = 'class="plotly-graph-div"'


STYLESHEET = "compendium.css"  # the book's own few style rules, shipped with the package
SCRIPT = "compendium.js"  # the page-level "Show all code" button, sortable tables


DATATABLES = ("dt_bundle.js", "dt_bundle.css")


def package_dir(name: str) -> Path:
    """Return the folder of the installed package ``name``, without importing it.

    Importing ``itables`` imports pandas, NumPy and pyarrow (about half a second); the
    render only needs files that it ships.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {name} package is not installed", name=name)
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def datatables_dir() -> Path:
    """Return the folder of the DataTables bundle shipped inside the ``itables`` package."""
    return package_dir("itables") / "html"


def plotly_js_path() -> Path:
    """Return the path of the ``plotly.min.js`` shipped inside the ``plotly`` package.

    Returns
    -------
    pathlib.Path
        Location of ``plotly/package_data/plotly.min.js``.
    """
    return package_dir("plotly") / "package_data" / PLOTLY_JS


def copy_plotly_js(app: Any, exception: Exception | None) -> None:
    """Copy plotly.js, the book's style sheet and script, and DataTables into ``_static``.

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
    for name in (STYLESHEET, SCRIPT):
        shutil.copyfile(paths.RESOURCES_DIR / name, static / name)
    # DataTables for the long reference tables, as the itables package bundles it (ES module
    # and its style sheet); compendium.js loads it on pages that have such a table.
    for name in DATATABLES:
        shutil.copyfile(datatables_dir() / name, static / name)


def add_plotly_where_drawn(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Add plotly.js to a page whose body draws a plotly figure (see :data:`PLOTLY_MARKER`).

    The builder's per-page ``add_js_file`` puts the script in this page's ``<head>`` only;
    Sphinx restores the book-wide list before the next page.
    """
    if PLOTLY_MARKER in context.get("body", ""):
        app.builder.add_js_file(PLOTLY_JS)


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


class AuthorYearLabels(BaseLabelStyle):
    """pybtex labels that name authors and year, as the citations in the text do.

    One author gives ``Surname 2020``, two give ``Braun and Clarke 2006``, three or more
    ``Tong et al. 2007``; labels that would clash get ``a``, ``b``... after the year.
    """

    def format_labels(self, sorted_entries: Any) -> Any:
        """Yield one label per entry, in the order given."""
        labels = [self._label(entry) for entry in sorted_entries]
        clashing = {label for label in labels if labels.count(label) > 1}
        seen: dict[str, int] = {}
        for label in labels:
            if label in clashing:
                seen[label] = seen.get(label, 0) + 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label

    @staticmethod
    def _label(entry: Any) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = ["".join(str(part) for part in person.rich_last_names) for person in persons]
        year = entry.fields.get("year", "")
        if len(names) > 2:
            who = f"{names[0]} et al."
        else:
            who = " and ".join(names) or entry.key
        return f"{who} {year}".strip()


class AuthorYearTitleSorting(AuthorYearTitleSortingBase):
    """pybtex's author-year-title order, reading a braced corporate author as its words."""

    def person_key(self, person: Any) -> str:
        """Return the sort key of one person, without BibTeX's protecting braces."""
        return super().person_key(person).replace("{", "").replace("}", "")


class AuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` style (sorted by author, year, title) with author-year labels."""

    default_label_style = "compendium-author-year"
    default_sorting_style = "compendium-author-year-title"


def _round_brackets() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundBracketReferences(AuthorYearReferenceStyle):
    """Author-year citations in round brackets: "Tong et al. (2007)", "(Braun and Clarke, 2006)"."""

    bracket_parenthetical: BracketStyle = field(default_factory=_round_brackets)
    bracket_textual: BracketStyle = field(default_factory=_round_brackets)
    bracket_author: BracketStyle = field(default_factory=_round_brackets)
    bracket_label: BracketStyle = field(default_factory=_round_brackets)
    bracket_year: BracketStyle = field(default_factory=_round_brackets)


# The name _config.yml gives both bibtex_default_style and bibtex_reference_style.
BIBTEX_STYLE = "compendium"


class FoldCodeInputs(SphinxPostTransform):
    """Fold every code cell's input behind a toggle in the HTML; outputs stay in view.

    MyST-NB folds a cell when it is tagged ``hide-input``; its :class:`HideInputCells`
    post-transform (priority 199) wraps such inputs in a ``<details>`` element. This runs
    just before it and gives every code cell with an input that mode, as if each were
    tagged, so neither the sources nor the executed notebooks change. A cell whose output
    is already tagged ``hide-output`` keeps it folded too; ``hide-cell`` is left as it is.
    """

    default_priority = 198
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        """Set the hide mode of every code cell that shows its input."""
        config = self.env.mystnb_config
        for cell in self.document.findall(nodes.container):
            if cell.get("nb_element") != "cell_code" or not cell.children:
                continue
            if cell.children[0].get("nb_element") != "cell_code_source":
                continue  # the input is removed (remove-input), nothing to fold
            mode = cell.get("hide_mode")
            if mode in ("all", "input", "input+output"):
                continue
            cell["hide_mode"] = "input+output" if mode == "output" else "input"
            cell.setdefault("prompt_show", config.code_prompt_show)
            cell.setdefault("prompt_hide", config.code_prompt_hide)


def visit_fold(translator: Any, node: Any) -> None:
    """Open a folded cell as MyST-NB does, but let the summary's text be its name.

    MyST-NB gives every fold's ``<summary>`` the same ``aria-label`` ("Toggle hidden
    content"), which hides its visible text ("Show code cell source") from screen readers
    and fails axe's label-content-name-mismatch rule. Without the label, the visible prompt
    is the accessible name.
    """
    start = len(translator.body)
    visit_HideCellInput(translator, node)
    translator.body[start:] = [
        part.replace('<summary aria-label="Toggle hidden content">', "<summary>")
        for part in translator.body[start:]
    ]


def visit_citation(translator: Any, node: Any) -> None:
    """Open a bibliography entry as docutils does, as a list item of the citation list.

    docutils marks each entry ``role="doc-biblioentry"`` inside a ``role="list"``; that
    DPUB-ARIA role is deprecated and no longer counts as a list item, so axe reports the
    list as missing its items (aria-required-children). ``listitem`` is what it means.
    """
    start = len(translator.body)
    HTMLTranslator.visit_citation(translator, node)
    translator.body[start:] = [
        part.replace('role="doc-biblioentry"', 'role="listitem"')
        for part in translator.body[start:]
    ]


def executed_notebook(app: Any, pagename: str) -> Any:
    """Return the executed notebook behind a page, outputs included, or None.

    In ``cache`` mode MyST-NB renders a page from the notebook jupyter-cache holds, but the
    copy it writes to its output folder (``_build/jupyter_execute``) has no outputs, so the
    chapter is read again, as MyST-NB reads it, and merged with its cache record. In the
    other modes MyST-NB executes the notebook in place and its written copy is complete.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.
    pagename : str
        The page's document name, e.g. ``book/intro``.

    Returns
    -------
    nbformat.NotebookNode or None
        The notebook, or None when there is none to offer (a warning says why).
    """
    import nbformat

    from compendium.build.execution import read_notebook

    config = app.env.mystnb_config
    notebook = None
    if config.execution_mode == "cache":
        from jupyter_cache import get_cache

        source = read_notebook(Path(app.env.doc2path(pagename)))
        try:
            _, notebook = get_cache(config.execution_cache_path).merge_match_into_notebook(source)
        except KeyError:
            reason = f"no record for it in {config.execution_cache_path}"
        if notebook is not None:
            notebook.metadata.pop("source_map", None)
    else:
        written = Path(config.output_folder, *f"{pagename}.ipynb".split("/"))
        if written.is_file():
            notebook = nbformat.read(written, as_version=4)
        reason = f"{written} is missing"
    if notebook is None:
        logger.warning(
            "page %r: no executed notebook to offer for download: %s",
            pagename,
            reason,
            type="compendium",
            subtype="notebook_download",
        )
    return notebook


def offer_executed_notebook(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Offer a page's executed notebook (``.ipynb``) in its download menu, beside the source.

    sphinx-book-theme lists ``context["ipynb_source"]`` in the download menu, but sets it
    (and copies a notebook to ``_sources``) only when a launch button is configured; an
    offline book has none. This writes the executed notebook (:func:`executed_notebook`)
    to ``_sources`` and sets the key. It must run before the theme's ``add_header_buttons``
    (priority 501). The arguments are those of Sphinx's ``html-page-context`` event (see
    :func:`refuse_external_assets`).
    """
    if app.builder.format != "html" or doctree is None or context.get("ipynb_source"):
        return
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook
    notebook = executed_notebook(app, pagename)
    if notebook is None:
        return
    import nbformat

    target = Path(app.outdir, "_sources", *f"{pagename}.ipynb".split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


GLOSSARY_CLASS = "compendium-glossary"  # marks the glossary's own definition list
TERM_LINK_CLASS = "glossary-term"  # marks a term linked automatically in the text


def glossary_files(app: Any) -> dict[str, Path]:
    """Return the book's glossary files by kind: ``general`` and, when it has terms, ``study``.

    The study's terms are the ``glossary`` of the study descriptor of the data in force
    (:func:`compendium.paths.data_dir`), so another package brings its own.
    """
    files = {"general": glossary.GENERAL_GLOSSARY}
    study = paths.data_dir() / "study.yaml"
    if study.is_file() and glossary.load_entries(study):
        files["study"] = study
    return files


def load_book_glossary(app: Any) -> None:
    """Read the glossary once per build and compile its mention pattern (``builder-inited``).

    A malformed glossary file stops the build with its path named.
    """
    files = glossary_files(app)
    entries = {kind: glossary.load_entries(path) for kind, path in files.items()}
    everything = glossary.load_glossary(files.values())  # also refuses names defined twice
    pattern, terms = glossary.mention_pattern(everything)
    app.compendium_glossary = {
        "files": files,
        "entries": entries,
        "pattern": pattern,
        "terms": terms,
    }


class GlossaryDirective(Glossary):
    """``{compendium-glossary} general`` or ``study``: one part of the glossary, A to Z.

    The entries come from the YAML file of that kind (see :func:`glossary_files`) and are
    handed to Sphinx's own ``glossary`` directive, so each becomes a term that ``{term}``
    references and the automatic links resolve to.
    """

    has_content = False
    required_arguments = 1
    option_spec: dict[str, Any] = {}

    def run(self) -> list[nodes.Node]:
        """Build the glossary's definition list from the YAML entries of the given kind."""
        kind = self.arguments[0]
        state = self.env.app.compendium_glossary
        if kind == "study" and kind not in state["files"]:
            # A study that declares no terms of its own: say so rather than fail the build.
            return [
                nodes.paragraph(
                    text="This study's descriptor declares no glossary terms of its own."
                )
            ]
        if kind not in state["files"]:
            raise self.error(f"no {kind!r} glossary: expected one of {sorted(state['files'])}")
        source = str(state["files"][kind])
        self.env.note_dependency(source)
        entries = state["entries"][kind]
        lines = glossary.glossary_lines(entries)
        self.content = StringList(lines, items=[(source, number) for number in range(len(lines))])
        result = super().run()
        for node in result:
            if isinstance(node, addnodes.glossary):
                node["classes"].append(GLOSSARY_CLASS)
            # HTML in a definition (MyST passes it through as raw) is shown as the text it is.
            for raw in list(node.findall(nodes.raw)):
                raw.replace_self(nodes.Text(raw.astext()))
        return result


# Text under these nodes is never linked to the glossary.
_NO_LINK_NODES = (
    nodes.title,
    nodes.subtitle,
    nodes.rubric,
    nodes.literal,
    nodes.FixedTextElement,
    nodes.raw,
    nodes.reference,
    nodes.target,
    nodes.term,
    nodes.citation,
    nodes.citation_reference,
    nodes.footnote_reference,
    nodes.abbreviation,
    nodes.math,
    nodes.comment,
    nodes.substitution_definition,
    addnodes.pending_xref,
    addnodes.glossary,
    addnodes.toctree,
    addnodes.desc_signature,
)


def _in_prose(element: nodes.Element | None) -> bool:
    """Return True when an element is running prose, not a heading, code or a link."""
    node = element
    while node is not None:
        if isinstance(node, _NO_LINK_NODES):
            return False
        if isinstance(node, nodes.container) and node.get("nb_element"):
            return False  # a notebook cell's input or output
        if isinstance(node, nodes.inline) and "xref" in node.get("classes", ()):
            return False
        node = node.parent
    return True


def _join_adjacent_text(element: nodes.Element) -> None:
    """Join neighbouring text nodes (a line break in the source splits them) into one."""
    children: list[nodes.Node] = []
    for child in element.children:
        if children and isinstance(child, nodes.Text) and isinstance(children[-1], nodes.Text):
            children[-1] = nodes.Text(str(children[-1]) + str(child))
        else:
            children.append(child)
    if len(children) != len(element.children):
        element.children = []
        element.extend(children)


def _term_reference(text: str, term: str) -> addnodes.pending_xref:
    """Return a reference to a glossary term, as the ``{term}`` role would make one."""
    reference = addnodes.pending_xref(
        "", refdomain="std", reftype="term", reftarget=term, refexplicit=True, refwarn=True
    )
    reference += nodes.inline(text, text, classes=["xref", "std", "std-term", TERM_LINK_CLASS])
    return reference


class LinkGlossaryTerms(SphinxTransform):
    """Link the first mention of each glossary term on a page to its glossary entry.

    Only running text is searched: headings, code, literal text, notebook cells,
    existing links and the glossary itself are skipped (:func:`_in_prose`); matching
    follows :mod:`compendium.glossary`. The links are ordinary term references, so Sphinx
    resolves them and, with ``-n``, warns about any that do not resolve. A page that holds
    the glossary gets no links. Every page depends on the glossary files, so editing one
    rebuilds the pages whose links may change.
    """

    default_priority = 800

    def apply(self, **kwargs: Any) -> None:
        """Wrap each term's first mention in a term reference."""
        state = getattr(self.app, "compendium_glossary", None)
        if state is None:
            return
        for path in state["files"].values():
            self.env.note_dependency(str(path))
        if any(GLOSSARY_CLASS in n["classes"] for n in self.document.findall(addnodes.glossary)):
            return
        for element in list(self.document.findall(nodes.Element)):
            if _in_prose(element):
                _join_adjacent_text(element)  # so that a phrase may span a line break
        done: set[str] = set()
        for text in list(self.document.findall(nodes.Text)):
            if not _in_prose(text.parent):
                continue
            source = str(text)
            spans = glossary.first_mentions(source, state["pattern"], state["terms"], done)
            if not spans:
                continue
            replacement: list[nodes.Node] = []
            position = 0
            for start, end, term in spans:
                if start > position:
                    replacement.append(nodes.Text(source[position:start]))
                replacement.append(_term_reference(source[start:end], term))
                position = end
            if position < len(source):
                replacement.append(nodes.Text(source[position:]))
            text.parent.replace(text, replacement)


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


def footer_text(descriptor) -> str | None:
    """Return the book's footer: the descriptor's own, else a request to cite the study."""
    citation = descriptor.study_citation
    if descriptor.book.footer is None and citation is not None:
        return f"Please cite the study this book reproduces: {citation.text} {citation.link or ''}"
    return descriptor.book.footer


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

    from compendium.contract.problems import InvalidPackage
    from compendium.presentation.html import escape

    try:
        descriptor = _study_descriptor(app)
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
    footer = footer_text(descriptor)
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


def escape_theme_context(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Escape the author's name where the theme writes it into the page unescaped.

    sphinx-book-theme copies ``config.author`` (the study descriptor's, see
    :func:`book_metadata`) into the page context, and its ``author.html`` inserts it without
    escaping; the name is data, so it is escaped here, after the theme has set it.
    """
    from compendium.presentation.html import escape

    if isinstance(context.get("author"), str):
        context["author"] = str(escape(context["author"]))


def setup(app: Any) -> dict[str, Any]:
    """Register the assets, hooks, transforms, setting and directive with Sphinx.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The running Sphinx application.

    Returns
    -------
    dict
        Extension metadata; the extension is safe for parallel reading and writing.
    """
    app.add_js_file(SCRIPT)
    app.connect("html-page-context", add_plotly_where_drawn)
    app.add_css_file(STYLESHEET)
    app.connect("build-finished", copy_plotly_js)
    app.add_post_transform(FoldCodeInputs)
    app.add_node(HideCodeCellNode, override=True, html=(visit_fold, depart_HideCellInput))
    app.add_node(
        nodes.citation, override=True, html=(visit_citation, HTMLTranslator.depart_citation)
    )
    # Before sphinx-book-theme builds the download menu (priority 501).
    app.connect("html-page-context", offer_executed_notebook, priority=450)
    app.connect("builder-inited", load_book_glossary)
    app.add_directive("compendium-glossary", GlossaryDirective)
    app.add_transform(LinkGlossaryTerms)
    register_plugin("pybtex.style.labels", "compendium-author-year", AuthorYearLabels, force=True)
    register_plugin(
        "pybtex.style.sorting", "compendium-author-year-title", AuthorYearTitleSorting, force=True
    )
    register_plugin("pybtex.style.formatting", BIBTEX_STYLE, AuthorYearStyle, force=True)
    # sphinxcontrib-bibtex looks the plain-text backend up for every citation it resolves, and
    # pybtex scans every installed distribution's entry points at each look-up (tens of ms):
    # registered at run time, as its entry point names it, it is found in a dictionary.
    register_plugin(
        "pybtex.backends", "plaintext", find_plugin("pybtex.backends", "plaintext"), force=True
    )
    register_bibtex_plugin(
        "sphinxcontrib.bibtex.style.referencing", BIBTEX_STYLE, RoundBracketReferences, force=True
    )
    # Late priority, so assets that other extensions add to the page (MathJax) are seen.
    app.connect("html-page-context", refuse_external_assets, priority=900)
    app.connect("html-page-context", drop_thebe_assets)
    app.connect("html-page-context", escape_theme_context, priority=950)
    app.connect("config-inited", book_metadata)
    app.setup_extension("sphinxcontrib.bibtex")
    app.connect("config-inited", engine_references)
    app.add_node(ChecklistPlace)
    app.add_directive("compendium-checklist", ChecklistDirective)
    app.add_post_transform(LinkChecklistPlaces)
    app.connect("doctree-read", collect_anchors)
    app.connect("env-purge-doc", purge_checklist_data)
    app.connect("env-merge-info", merge_checklist_data)
    app.connect("env-get-outdated", refresh_checklist_pages)
    app.connect("env-check-consistency", check_checklist_places)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}


#: Works the engine's own pages and glossary cite, whatever the book.
ENGINE_REFERENCES = paths.RESOURCES_DIR / "references.bib"


def engine_references(app: Any, config: Any) -> None:
    """Add the engine's references to the book's bibliography files, and its citation style.

    A book lists its own works (``bibtex_bibfiles`` in ``_config.yml``); the general ones the
    engine's glossary and pages cite come from the package, so a compendium that ``new`` made
    resolves them without a bibliography of its own.
    """
    files = [str(f) for f in config.bibtex_bibfiles or []]
    if str(ENGINE_REFERENCES) not in files:
        config.bibtex_bibfiles = [str(ENGINE_REFERENCES), *files]
    for name in ("bibtex_default_style", "bibtex_reference_style"):
        if config[name] in ("alpha", "label"):  # sphinxcontrib-bibtex's own defaults
            config[name] = BIBTEX_STYLE


# --------------------------------------------------------------------------- reporting checklists

CHECKLIST_CLASS = "compendium-checklist"  # marks a checklist's table
NOT_ADDRESSED_CLASS = "checklist-not-addressed"  # marks the cell of an item not addressed
#: An ``id`` attribute in a cell's HTML output: ids there are anchors a checklist may name.
HTML_ID = re.compile(r"""\sid\s*=\s*["']([^"'<>\s]+)["']""")
#: The env attributes this extension keeps per page: its anchors, and the checklists it shows.
ANCHORS, CHECKLISTS = "compendium_anchors", "compendium_checklists"


class ChecklistPlace(nodes.Inline, nodes.TextElement):
    """A place a checklist item names (``page`` or ``page#anchor``), until it becomes a link.

    :class:`LinkChecklistPlaces` replaces every one with a reference once every page has been
    read; :func:`check_checklist_places` warns about any that does not exist.
    """


def _store(env: Any, name: str) -> dict:
    """Return one of this extension's per-page stores on the build environment, made if new."""
    if not hasattr(env, name):
        setattr(env, name, {})
    return getattr(env, name)


def _section_title(node: nodes.Node) -> str | None:
    """Return the title of the section a node is in (its own, for a section), or None."""
    while node is not None and not isinstance(node, nodes.section):
        node = node.parent
    if node is None:
        return None
    title = next(iter(node.findall(nodes.title)), None)
    return title.astext() if title is not None else None


def page_anchors(doctree: nodes.document) -> dict[str, str | None]:
    """Return every anchor of a page, each with the title of the section it stands in.

    The anchors are the ids of its elements (each heading's, each ``(label)=`` target's) and
    the ``id`` attributes in its cells' HTML outputs (a table row, a component): every id a
    link ``page.html#id`` can reach.
    """
    anchors: dict[str, str | None] = {}
    for element in doctree.findall(nodes.Element):
        for anchor in element.get("ids", ()):
            anchors.setdefault(anchor, _section_title(element))
    for raw in doctree.findall(nodes.raw):
        if "html" in raw.get("format", "").split():
            title = _section_title(raw)
            for match in HTML_ID.finditer(raw.astext()):
                anchors.setdefault(match.group(1), title)
    return anchors


def collect_anchors(app: Any, doctree: nodes.document) -> None:
    """Record the anchors of the page just read (``doctree-read``), for checklists to link to."""
    _store(app.env, ANCHORS)[app.env.docname] = page_anchors(doctree)


def purge_checklist_data(app: Any, env: Any, docname: str) -> None:
    """Forget what was recorded of a page that is read again or removed (``env-purge-doc``)."""
    for name in (ANCHORS, CHECKLISTS):
        _store(env, name).pop(docname, None)


def merge_checklist_data(app: Any, env: Any, docnames: set[str], other: Any) -> None:
    """Take what a parallel reader recorded of its pages (``env-merge-info``)."""
    for name in (ANCHORS, CHECKLISTS):
        theirs = getattr(other, name, {})
        _store(env, name).update({d: theirs[d] for d in docnames if d in theirs})


def refresh_checklist_pages(
    app: Any, env: Any, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Read the checklist pages again whenever another page changes (``env-get-outdated``).

    A checklist's links name other pages' anchors and titles; reading its page again makes
    Sphinx write it again, so the links follow the pages they point at.
    """
    if not (added or changed or removed):
        return []
    return sorted(d for d in _store(env, CHECKLISTS) if d not in changed | removed)


def _study_descriptor(app: Any):
    """Return the study descriptor of the book's data package, read once per build.

    The metadata and each checklist page need it, and reading it checks it against its
    schema (a fifth of a second each time); the file does not change during a build.
    """
    from compendium.build.support import book_data_dir
    from compendium.contract.descriptor import DESCRIPTOR_FILE

    data_dir = book_data_dir(Path(app.srcdir))
    try:
        status = (data_dir / DESCRIPTOR_FILE).stat()
    except OSError:
        status = None  # read_descriptor says what is wrong
    key = (data_dir, status and (status.st_mtime_ns, status.st_size, status.st_ino))
    return _read_descriptor(*key)


@functools.lru_cache(maxsize=4)
def _read_descriptor(data_dir: Path, _signature: tuple | None):
    from compendium.contract.descriptor import read_descriptor

    return read_descriptor(data_dir)


def resolve_place(env: Any, place: Any) -> tuple[str, str] | str:
    """Return (docname, link text) of a checklist place, or why it does not exist.

    Parameters
    ----------
    env : sphinx.environment.BuildEnvironment
        The environment, every page read.
    place : compendium.presentation.checklists.Place
        The page, and optionally the anchor on it.

    Returns
    -------
    tuple or str
        The page's docname and the text of a link to the place (the page's title, then the
        title of the section the anchor is in); or, when the page or anchor does not exist,
        the reason as a sentence.
    """
    pages = sorted(d for d in env.all_docs if d == place.page or d.endswith("/" + place.page))
    if not pages:
        return f"the book has no page {place.page!r}"
    if len(pages) > 1:
        return f"page {place.page!r} is ambiguous: {', '.join(pages)}"
    docname = pages[0]
    title = env.titles[docname].astext() if docname in env.titles else docname
    if place.anchor is None:
        return docname, title
    anchors = _store(env, ANCHORS).get(docname, {})
    if place.anchor not in anchors:
        return (
            f"page {place.page!r} has no anchor {place.anchor!r} (expected a heading's id, a "
            "(label)= target or an id in a cell's output)"
        )
    section = anchors[place.anchor]
    return docname, title if section in (None, title) else f"{title} \u203a {section}"


def check_checklist_places(app: Any, env: Any) -> None:
    """Warn about every place a shown checklist names that the book does not have.

    Connected to ``env-check-consistency``, which runs on every build once all pages are
    read, so a heading renamed on another page is caught even when the checklist page itself
    did not change. The warning names the checklist page, and the item's line in
    ``study.yaml`` where the place is mapped; ``-W`` makes it fail the build.
    """
    shown = _store(env, CHECKLISTS)
    if not shown:
        return
    from compendium.contract.problems import display_path
    from compendium.presentation.checklists import checklist_rows

    descriptor = _study_descriptor(app)
    where = display_path(descriptor.path)
    for docname in sorted(shown):
        for name in shown[docname]:
            for row in checklist_rows(descriptor, name):
                for place in row.places:
                    resolved = resolve_place(env, place)
                    if isinstance(resolved, str):
                        logger.warning(
                            "%s:%s: checklists.%s item %d maps to %r, but %s",
                            where,
                            row.line,
                            name,
                            row.number,
                            str(place),
                            resolved,
                            location=docname,
                            type="compendium",
                            subtype="checklist_place",
                        )


class LinkChecklistPlaces(SphinxPostTransform):
    """Turn each checklist place into a link to its page and anchor, titled by what is there.

    A place that does not exist (already warned about by :func:`check_checklist_places`) is
    shown as its literal text, never as a broken link.
    """

    default_priority = 5  # before Sphinx resolves references (10)

    def run(self, **kwargs: Any) -> None:
        """Replace every :class:`ChecklistPlace` of the page."""
        from compendium.presentation.checklists import Place

        for node in list(self.document.findall(ChecklistPlace)):
            place = Place.parse(node["place"])
            resolved = resolve_place(self.env, place)
            if isinstance(resolved, str):
                node.replace_self(nodes.literal(text=str(place)))
                continue
            docname, text = resolved
            uri = self.app.builder.get_relative_uri(self.env.docname, docname)
            if place.anchor:
                uri += f"#{place.anchor}"
            reference = nodes.reference("", "", internal=True, refuri=uri)
            reference += nodes.inline(text, text)
            node.replace_self(reference)


def _table(
    anchor: str, caption: str, header: list[str], rows: list[tuple[str, list[nodes.Node]]]
) -> nodes.table:
    """Return a docutils table with an id, a caption, a header row and one row per item.

    ``rows`` holds (id, cells) pairs, so each item can be linked to, e.g. ``#coreq-item-24``.
    """
    table = nodes.table(ids=[anchor], classes=[CHECKLIST_CLASS])
    table += nodes.title(caption, caption)
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in (1, 5, 10)[: len(header)]:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for text in header:
        row += nodes.entry("", nodes.paragraph(text, text))
    head += row
    body = nodes.tbody()
    group += body
    for row_id, cells in rows:
        row = nodes.row(ids=[row_id])
        for cell in cells:
            row += nodes.entry("", cell)
        body += row
    return table


def _where(row: Any) -> nodes.paragraph:
    """Return an item's last cell: links to the places that address it, or why none does."""
    if not row.addressed:
        cell = nodes.paragraph(classes=[NOT_ADDRESSED_CLASS])
        cell += nodes.strong("Not addressed", "Not addressed")
        cell += nodes.Text(f": {row.reason}")
        return cell
    cell = nodes.paragraph()
    for i, place in enumerate(row.places):
        if i:
            cell += nodes.Text("; ")
        cell += ChecklistPlace("", str(place), place=str(place))
    if row.note:
        cell += nodes.Text(f" ({row.note})")
    return cell


class ChecklistDirective(SphinxDirective):
    """``{compendium-checklist} guided`` (or ``tidier``, ``coreq``): a checklist's items, mapped.

    One row per item: its number, what it asks for, and the places of the book that address
    it (links) or ``Not addressed`` with the reason, as the ``checklists`` section of the
    study's descriptor says (:func:`compendium.presentation.checklists.checklist_rows`). A
    checklist whose items fall into domains (COREQ) gets one table per domain. Above the
    tables, a sentence counts the items addressed, not addressed, and not yet mapped. Each
    table has the id ``<name>-items`` (``-<domain>`` added) and each row ``<name>-item-<n>``.
    """

    has_content = False
    required_arguments = 1
    option_spec: dict[str, Any] = {}

    def run(self) -> list[nodes.Node]:
        """Build the checklist's summary and tables, and note the page as showing it."""
        from compendium.contract.descriptor import known_checklists
        from compendium.contract.problems import InvalidPackage
        from compendium.presentation.checklists import NOT_MAPPED, checklist_rows

        name = self.arguments[0]
        known = known_checklists()
        if name not in known:
            raise self.error(f"no checklist {name!r}: expected one of {', '.join(sorted(known))}")
        try:
            descriptor = _study_descriptor(self.env.app)
        except InvalidPackage as exc:
            raise self.error(f"the checklist's mapping comes from study.yaml: {exc}") from None
        self.env.note_dependency(str(descriptor.path))
        _store(self.env, CHECKLISTS).setdefault(self.env.docname, []).append(name)
        rows = checklist_rows(descriptor, name)
        addressed = sum(r.addressed for r in rows)
        unmapped = sum(r.reason == NOT_MAPPED for r in rows)
        summary = f"Addressed in this book: {addressed} of {len(rows)} items."
        if addressed < len(rows):
            summary += f" Not addressed: {len(rows) - addressed}, each with its reason."
        if unmapped:
            summary += f" Of these, {unmapped} {'is' if unmapped == 1 else 'are'} {NOT_MAPPED}."
        result: list[nodes.Node] = [nodes.paragraph(summary, summary)]
        header = ["Item", "What it asks for", "Where this book addresses it"]
        short = known[name]["name"].split(":")[0]
        domains = list(dict.fromkeys(r.domain for r in rows))
        for domain in domains:
            own = [r for r in rows if r.domain == domain]
            caption = f"{short} items" + (f": {domain}" if domain else "")
            anchor = f"{name}-items" + (f"-{nodes.make_id(domain)}" if domain else "")
            cells = [
                (
                    f"{name}-item-{r.number}",
                    [
                        nodes.paragraph(str(r.number), str(r.number)),
                        nodes.paragraph(r.label, r.label),
                        _where(r),
                    ],
                )
                for r in own
            ]
            result.append(_table(anchor, caption, header, cells))
        return result
