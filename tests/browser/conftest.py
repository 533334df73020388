"""Fixtures for testing the built book as a reader's browser sees it.

The built HTML (``_build/html``, built with ``make book`` when missing) is served on
127.0.0.1 from an ephemeral port, and Debian's Chromium is driven through Playwright.
Every page is visited once per test run in each of three ways, in two passes of one browser
each (:func:`visits`; :func:`narrow_and_dark_visits`); each test then checks one property of
all the recorded visits and lists every page that fails it. Every test that reads a pass runs
on the pass's pytest-xdist worker (the ``book-visits`` and ``book-visits-narrow-dark``
groups, see ``tests/conftest.py``), so each pass is made once, not once per worker, and the
two passes run side by side.

``COMPENDIUM_HTML_DIR`` points the suite at another build (for instance one made with
``jupyter-book build --path-output``); screenshots go beside it, in ``screenshots/``, named
``<page>-<width>.png`` (``<page>-<width>-dark.png`` in dark mode), each of the page's first
screen; ``COMPENDIUM_SCREENSHOTS=whole`` photographs whole pages instead (a long page costs
Chromium about a second to paint and encode whole, so the suite does not by default).

The three ways (:data:`MODES`): at 1280 px (:func:`visits`, with the accessibility scan,
then the code toggles clicked), at 390 px, a phone's width (:func:`narrow_visits`), and at
1280 px in dark mode (:func:`dark_visits`, with the scan's colour rules again: the rest of
axe-core's rules read the page's structure, which dark mode does not change).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import re
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from compendium import paths
from compendium.build.chromium import CHROMIUM, CHROMIUM_ARGS

AXE_JS = paths.ROOT / "node_modules" / "axe-core" / "axe.min.js"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Sphinx's generated pages, not chapters (the search page has its own test).
NOT_CHAPTERS = {"genindex.html", "search.html", "py-modindex.html"}
NOT_CHAPTER_DIRS = {"_static", "_sources", "_images", "_downloads"}
# A page has settled when its fonts are loaded and two frames have been painted since: the
# theme's scripts run before "load", and plotly's drawing is awaited on its own.
SETTLED_JS = (
    "() => document.fonts.ready.then(() => new Promise((done) =>"
    " requestAnimationFrame(() => requestAnimationFrame(done))))"
)
PLOTLY_WAIT_MS = 10_000
# Pages in flight at once: the screenshot of one overlaps the accessibility scan of another.
VISIT_CONCURRENCY = 2
WIDE, NARROW = 1280, 390  # a laptop and a phone, in CSS pixels
VIEWPORT_HEIGHT = 900
#: Photograph whole pages, not their first screens (for a reviewer looking at every page).
WHOLE_PAGE_SHOTS = os.environ.get("COMPENDIUM_SCREENSHOTS") == "whole"
# The only elements allowed to scroll sideways, or to hold content wider than the screen:
# a cell's output (wide tables and figures scroll inside it, compendium.css), a code
# block, and the theme's wrapper around Markdown tables. Everything else must fit the
# viewport.
SCROLL_CONTAINERS = "div.cell_output div.output, div.highlight pre, .pst-scrollable-table-container"

# The page facts gathered in the browser after load (see PageVisit for their meaning).
PAGE_FACTS_JS = """
() => {
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, ' ').trim() : '');
  const article = document.querySelector('main article') || document.querySelector('main');
  const plots = [...document.querySelectorAll('.plotly-graph-div')].map((gd) => {
    // Data marks of the common trace types (bars and markers, heatmap images, pie
    // slices, sankey links and nodes, lines), not axes, grid lines or legends.
    const marks = gd.querySelectorAll('.main-svg .point, .main-svg .hm image, .slice path, '
      + '.sankey-link, .sankey-node rect, .scatterlayer .js-line, .trace .surface').length;
    const figure = gd.closest('figure');
    return {
      id: gd.id,
      svg: gd.querySelector('.main-svg') !== null,
      traces: Array.isArray(gd.data) ? gd.data.length : 0,
      layout: gd._fullLayout !== undefined,
      marks: marks,
      label: (gd.closest('[aria-label]') || {}).ariaLabel
        || (figure ? text(figure.querySelector('figcaption')) : '') || '',
    };
  });
  const tables = [...document.querySelectorAll('table')].map((t, i) => {
    const first = t.rows.length ? [...t.rows[0].cells] : [];
    return {
      name: t.id || text(t.querySelector('caption')) || ('table ' + (i + 1)),
      header: t.querySelector('thead th') !== null
        || (first.length > 0 && first.every((c) => c.tagName === 'TH')),
    };
  });
  // Counts tables (compendium.presentation.tables.COUNTS): how wide each is, how much room
  // its cell output gives it, and whether that output scrolls sideways to show it.
  const counts = [...document.querySelectorAll(
    'main table.compendium-counts, main .compendium-counts table')].map((t) => {
    const output = t.closest('div.output') || t.parentElement;
    return {
      name: t.id || (t.closest('[id]') || {}).id || text(t.querySelector('caption')),
      width: Math.round(t.getBoundingClientRect().width),
      room: output.clientWidth,
      scrolls: output.scrollWidth > output.clientWidth + 1,
    };
  });
  const images = [...document.querySelectorAll('img')].map((img) => ({
    src: img.getAttribute('src') || '', alt: (img.getAttribute('alt') || '').trim(),
  }));
  const figures = [...document.querySelectorAll('figure')].map((f, i) => ({
    name: f.id || ('figure ' + (i + 1)),
    caption: text(f.querySelector('figcaption')),
    label: f.getAttribute('aria-label') || '',
  }));
  const hrefs = (selector) => [...document.querySelectorAll(selector)]
    .map((a) => a.getAttribute('href')).filter((h) => h !== null);
  return {
    title: document.title,
    h1: text(document.querySelector('main h1')),
    plots, tables, counts, images, figures,
    prev: hrefs('a.left-prev'), next: hrefs('a.right-next'),
    toc: hrefs('nav.bd-docs-nav a, .bd-toc-nav a, .toctree-wrapper a'),
    links: hrefs('a[href]'),
    favicon: hrefs('link[rel~=icon]'),
    meta: Object.fromEntries([...document.querySelectorAll('meta[name]')]
      .map((m) => [m.getAttribute('name'), m.getAttribute('content')])),
    paragraphs: [...(article ? article.querySelectorAll('p') : [])].map(text),
    footer: [...document.querySelectorAll('footer')].map(text).join(' '),
    licence: hrefs('a[rel~=license]'),
    // Code cells: how many inputs there are, how many sit in a closed fold, how many show.
    code: (() => {
      const inputs = [...document.querySelectorAll('main .cell .cell_input')];
      const outputs = [...document.querySelectorAll('main .cell .cell_output')];
      return {
        inputs: inputs.length,
        folded: inputs.filter((i) => (i.closest('details.hide') || {}).open === false).length,
        shown: inputs.filter((i) => i.checkVisibility()).length,
        outputs: outputs.length,
        outputsShown: outputs.filter((o) => o.checkVisibility()).length,
        toggle: text(document.querySelector('.compendium-code-toggle')),
      };
    })(),
    citations: hrefs('main .bibtex-citation a'),
    terms: [...document.querySelectorAll('main a:has(> .std-term)')].map((a) => ({
      href: a.getAttribute('href'), text: text(a),
      auto: a.querySelector('.glossary-term') !== null,
    })),
    downloads: hrefs('.dropdown-download-buttons a'),
    theme: document.documentElement.dataset.theme || '',
    // Relative luminance of what each figure output is drawn on: the first ancestor (or the
    // element itself) with an opaque background colour.
    figureBackgrounds: [...document.querySelectorAll(
      'main .cell_output .plotly-graph-div, main .cell_output img')].map((el) => {
      let node = el;
      while (node) {
        const match = getComputedStyle(node).backgroundColor.match(/[\\d.]+/g);
        if (match && (match.length < 4 || Number(match[3]) > 0.9)) {
          const [r, g, b] = match.slice(0, 3).map((v) => {
            const c = Number(v) / 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        }
        node = node.parentElement;
      }
      return 1;  // nothing opaque behind it: the browser's white canvas
    }),
  };
}
"""

# Where a page is wider than the screen: the page's own scroll width, elements that scroll
# sideways without being one of SCROLL_CONTAINERS, and visible elements outside those
# containers that reach past the viewport's edge (caught even if the page clips them).
# Elements placed wholly off screen on purpose (plotly's text-measuring SVG) are left out.
LAYOUT_FACTS_JS = """
(containers) => {
  const width = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map((c) => '.' + c).join('');
  const scrolling = [];
  const outside = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const style = getComputedStyle(el);
    const container = el.matches(containers);
    if (['auto', 'scroll'].includes(style.overflowX) && el.clientWidth > 0
        && el.scrollWidth > el.clientWidth + 1 && !container) {
      scrolling.push(name(el));
    }
    if (el.parentElement && el.parentElement.closest(containers)) continue;
    if (style.position === 'fixed' && (el.closest('dialog') || style.visibility === 'hidden')) {
      continue;
    }
    const box = el.getBoundingClientRect();
    const offScreen = box.right <= 0 || box.left >= width;
    if (box.width > 0 && box.height > 0 && !offScreen && (box.right > width + 1 || box.left < -1)) {
      outside.push(name(el) + ' [' + Math.round(box.left) + ', ' + Math.round(box.right) + ']');
    }
  }
  return {
    viewport: width,
    pageWidth: document.documentElement.scrollWidth,
    scrolling: [...new Set(scrolling)],
    outside: [...new Set(outside)],
  };
}
"""

AXE_RUN_JS = """
async (rules) => {
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  const result = await axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary),
  }));
}
"""


#: The axe-core rules whose outcome depends on colours: the only ones dark mode can change.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]

# What the code toggles show: which inputs are visible, and the page toggle's words.
TOGGLE_JS = """
() => {
  const inputs = [...document.querySelectorAll('main .cell .cell_input')];
  return {
    shown: inputs.map((i) => i.checkVisibility()),
    toggle: document.querySelector('.compendium-code-toggle').textContent,
  };
}
"""


@dataclass(frozen=True)
class Mode:
    """One way of visiting every page: a viewport width, a colour scheme, what to check.

    ``scan`` is ``"all"`` (every axe-core rule), ``"colour"`` (:data:`COLOUR_RULES`) or
    ``""`` (no scan); ``toggles`` clicks the code toggles after everything else.
    """

    width: int
    dark: bool
    scan: str
    toggles: bool = False


MODES = {
    "wide": Mode(WIDE, dark=False, scan="all", toggles=True),
    "narrow": Mode(NARROW, dark=False, scan=""),
    "dark": Mode(WIDE, dark=True, scan="colour"),
}


@dataclass
class PageVisit:
    """What the browser saw on one page of the book.

    Attributes
    ----------
    page : str
        Path of the page relative to the HTML root, e.g. ``book/intro.html``.
    url : str
        The address it was loaded from.
    console : list of str
        Console messages of type ``error``, as ``"text (source)"``.
    page_errors : list of str
        Uncaught exceptions thrown by the page's scripts.
    requests : list of str
        Every URL the page requested, in order.
    failed : list of str
        Responses with status 400 or more, and requests that failed, with the reason.
    violations : list of dict
        axe-core violations (``id``, ``impact``, ``help``, ``nodes``).
    facts : dict
        The DOM facts gathered by ``PAGE_FACTS_JS``.
    screenshot : pathlib.Path
        Where its screenshot was saved: the first screen, or the whole page when
        ``COMPENDIUM_SCREENSHOTS=whole`` (:data:`WHOLE_PAGE_SHOTS`).
    width : int
        The viewport's width in CSS pixels.
    dark : bool
        Whether the browser asked for dark mode (the book follows it).
    layout : dict
        The layout facts gathered by ``LAYOUT_FACTS_JS``.
    toggles : dict
        On a page with code, visited with ``toggles``: what :data:`TOGGLE_JS` read
        ``before`` any click, after opening the first cell (``one``), after the page toggle
        (``all``) and after it again (``none``).
    """

    page: str
    url: str
    width: int = WIDE
    dark: bool = False
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    screenshot: Path | None = None
    layout: dict = field(default_factory=dict)
    toggles: dict = field(default_factory=dict)


def html_dir() -> Path:
    """Return the built book's HTML directory (``$COMPENDIUM_HTML_DIR`` or ``_build/html``)."""
    override = os.environ.get("COMPENDIUM_HTML_DIR")
    return Path(override).resolve() if override else paths.HTML_DIR


def book_command() -> list[str]:
    """Return the Jupyter Book command ``make book`` runs to render the book, as an argument list.

    ``make book`` runs :mod:`compendium.build.pipeline`, which renders with
    :func:`compendium.build.pipeline.render_command`; checked against ``make -n book`` so that
    the hygiene tests exercise the real flags.
    """
    from compendium.build.pipeline import render_command

    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "book"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in dry_run.stdout.splitlines() if "-m compendium.build.pipeline" in line]
    assert len(lines) == 1, f"expected `make -n book` to run the pipeline once:\n{dry_run.stdout}"
    toc = shlex.split(lines[0])
    return render_command(toc[toc.index("--toc") + 1] if "--toc" in toc else "_toc.yml")


def run_build_step(
    command: list[str], root: Path, env: dict, timeout: int
) -> subprocess.CompletedProcess:
    """Run one step of a book build in ``root``, its output and errors captured as one text."""
    return subprocess.run(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def build_tiny_book(root: Path, pages: dict[str, str]) -> subprocess.CompletedProcess:
    """Build a throwaway book with the project's configuration and ``make book``'s command.

    Parameters
    ----------
    root : pathlib.Path
        Empty directory to hold the book.
    pages : dict
        Page name (without ``.md``) to its MyST-Markdown text; the first one is the root.

    Returns
    -------
    subprocess.CompletedProcess
        The finished build, with ``stdout`` holding stdout and stderr together.
    """
    config_text = (paths.ROOT / "_config.yml").read_text(encoding="utf-8")
    (root / "_config.yml").write_text(config_text, encoding="utf-8")
    config = yaml.safe_load(config_text)
    # Files the configuration refers to (favicon, template overrides, bibliography, study
    # glossary) come along.
    sphinx_config = config.get("sphinx", {}).get("config", {})
    referenced = [config.get("html", {}).get("favicon")]
    referenced += sphinx_config.get("templates_path", [])
    referenced += config.get("bibtex_bibfiles", [])
    for relative in filter(None, referenced):
        source, target = paths.ROOT / relative, root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    names = list(pages)
    toc = {"format": "jb-book", "root": names[0]}
    if names[1:]:
        toc["chapters"] = [{"file": name} for name in names[1:]]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    for name, text in pages.items():
        (root / f"{name}.md").write_text(text, encoding="utf-8")
    # The tiny book has no data of its own: it is built on the project's package.
    environment = {**os.environ, "COMPENDIUM_DATA": str(paths.data_dir())}
    return run_build_step(book_command(), root, environment, timeout=600)


def notebook_page(title: str, *cells: str) -> str:
    """Return a MyST-Markdown notebook with a heading and the given code cells."""
    header = (
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
    )
    body = "".join(f"\n```{{code-cell}} ipython3\n{cell}\n```\n" for cell in cells)
    return f"{header}\n# {title}\n\nA page built by the test suite.\n{body}"


def discover_pages(root: Path) -> list[str]:
    """Return every content page of a built book, relative to its HTML root.

    Sphinx's generated pages (index, search) and redirects (the ``index.html`` that
    Jupyter Book writes for the root) are left out; so are asset folders.
    """
    pages = []
    for path in sorted(root.rglob("*.html")):
        relative = path.relative_to(root)
        if relative.parts[0] in NOT_CHAPTER_DIRS or relative.as_posix() in NOT_CHAPTERS:
            continue
        if redirect_target(path) is not None:
            continue
        pages.append(relative.as_posix())
    return pages


def redirect_target(path: Path) -> str | None:
    """Return where an HTML file redirects to (``<meta http-equiv="refresh">``), or None."""
    head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    match = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', head, re.I)
    return match.group(1) if match else None


def screenshot_name(page: str, pages: list[str], width: int = WIDE, dark: bool = False) -> str:
    """Return a file name for a page's screenshot: ``<stem>-<width>[-dark].png``.

    The stem is the page's file name, or its whole path when two pages share a name.
    """
    stem = PurePosixPath(page).stem
    if sum(PurePosixPath(other).stem == stem for other in pages) > 1:
        stem = page.removesuffix(".html").replace("/", "__")
    return f"{stem}-{width}{'-dark' if dark else ''}.png"


def is_local(url: str) -> bool:
    """Return True for a request the book may make: same machine, or inline data."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static file handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def built_html() -> Path:
    """The built book's HTML directory; runs ``make book`` first if it has not been built."""
    root = html_dir()
    if not (root / "index.html").is_file():
        build = subprocess.run(
            ["make", "book"],
            cwd=paths.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert build.returncode == 0, f"`make book` failed:\n{build.stdout[-5000:]}"
    assert (root / "index.html").is_file(), f"no built book in {root}"
    return root


@contextlib.contextmanager
def serving(directory: Path):
    """Yield the base URL of a threaded HTTP server for ``directory`` on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="session")
def server(built_html: Path):
    """Base URL of a threaded HTTP server for the built book on 127.0.0.1 (ephemeral port)."""
    with serving(built_html) as base:
        yield base


@contextlib.asynccontextmanager
async def chromium(profile: Path, width: int = WIDE, dark: bool = False):
    """Yield a headless Debian Chromium browser context with a fresh profile in ``profile``.

    The viewport is ``width`` CSS pixels wide; with ``dark`` the browser prefers a dark
    colour scheme, which the book (``default_mode: auto``) follows.

    Host names other than this machine's do not resolve (``--host-resolver-rules``), so a
    page that depends on the network fails at once instead of hanging; each visit still
    records the request. (Routing every request through Playwright would do the same but
    costs about a second per page.)
    """
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: `make test` installs it first (`make system`, tools/system-packages)"
    )
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": VIEWPORT_HEIGHT},
            color_scheme="dark" if dark else "light",
        )
        try:
            yield context
        finally:
            await context.close()


async def wait_for_plotly(page) -> None:
    """Wait until every plotly figure on the page has drawn (at most ``PLOTLY_WAIT_MS``)."""
    if await page.locator(".plotly-graph-div").count():
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".every((gd) => gd._fullLayout && gd.querySelector('.main-svg'))",
            timeout=PLOTLY_WAIT_MS,
        )


async def each_page(context, names: list, action, at_once: int = VISIT_CONCURRENCY) -> list:
    """Return ``action(page, name)`` for each name, on ``at_once`` tabs of ``context``.

    Each tab goes from one page to the next, as a reader following links does: Chromium keeps
    the tab's renderer process and its compiled scripts, where a new tab for every page would
    start both again (about 15% of a pass's time). An action adds its event handlers with
    :func:`listening`, so that none outlives its page. The results come in the order of
    ``names``.
    """
    tabs: asyncio.Queue = asyncio.Queue()
    for _ in range(min(at_once, len(names))):
        tabs.put_nowait(await context.new_page())

    async def one(name):
        page = await tabs.get()
        try:
            return await action(page, name)
        finally:
            tabs.put_nowait(page)

    try:
        return await asyncio.gather(*(one(name) for name in names))
    finally:
        while not tabs.empty():
            await tabs.get_nowait().close()


@contextlib.contextmanager
def listening(page, handlers: dict):
    """Add ``handlers`` (event name -> function) to ``page`` for the block, then remove them."""
    for event, handler in handlers.items():
        page.on(event, handler)
    try:
        yield
    finally:
        for event, handler in handlers.items():
            page.remove_listener(event, handler)


async def visit(page, url: str, page_name: str, screenshot: Path | None, mode: Mode) -> PageVisit:
    """Load one page into ``page``, let it settle, and record what happened (:class:`PageVisit`).

    ``mode`` says how to show the page (width, colour scheme) and what else to do: the
    accessibility scan, the code toggles.
    """
    record = PageVisit(page=page_name, url=url, width=mode.width, dark=mode.dark)
    await page.set_viewport_size({"width": mode.width, "height": VIEWPORT_HEIGHT})
    await page.emulate_media(color_scheme="dark" if mode.dark else "light")

    def on_console(message) -> None:
        if message.type == "error":
            record.console.append(f"{message.text} ({message.location.get('url', '')})")

    def on_response(response) -> None:
        if response.status >= 400:
            record.failed.append(f"HTTP {response.status} {response.url}")

    handlers = {
        "console": on_console,
        "pageerror": lambda error: record.page_errors.append(str(error)),
        "request": lambda request: record.requests.append(request.url),
        "response": on_response,
        "requestfailed": lambda r: record.failed.append(f"{r.failure} {r.url}"),
    }
    with listening(page, handlers):
        await page.goto(url, wait_until="load")
        await wait_for_plotly(page)
        await page.evaluate(SETTLED_JS)
        record.facts = await page.evaluate(PAGE_FACTS_JS)
        record.layout = await page.evaluate(LAYOUT_FACTS_JS, SCROLL_CONTAINERS)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=screenshot, full_page=WHOLE_PAGE_SHOTS)
            record.screenshot = screenshot
        if mode.scan:
            await page.add_script_tag(path=AXE_JS)
            rules = COLOUR_RULES if mode.scan == "colour" else None
            record.violations = await page.evaluate(AXE_RUN_JS, rules)
        if mode.toggles and record.facts["code"]["inputs"]:
            record.toggles["before"] = await page.evaluate(TOGGLE_JS)
            await page.locator("main details.hide.above-input > summary").first.click()
            record.toggles["one"] = await page.evaluate(TOGGLE_JS)
            await page.locator(".compendium-code-toggle").click()
            record.toggles["all"] = await page.evaluate(TOGGLE_JS)
            await page.locator(".compendium-code-toggle").click()
            record.toggles["none"] = await page.evaluate(TOGGLE_JS)
    return record


async def visit_book(
    base: str, pages: list[str], shots: Path, profile: Path, modes: list[str]
) -> dict[str, dict]:
    """Visit every page in each of ``modes`` (:data:`MODES`), ``VISIT_CONCURRENCY`` at a time.

    All visits share one browser context with its profile (and so its disk cache) in
    ``profile``; each page sets its own viewport and colour scheme before it loads. A shared
    disk cache lets Chromium keep the compiled code of the book's scripts (plotly.js takes a
    second to compile here), which separate in-memory contexts never do.

    Returns
    -------
    dict
        Mode name -> page path -> :class:`PageVisit`, pages in the order given.
    """

    async def one(page, job: tuple[str, str]) -> PageVisit:
        name, path = job
        mode = MODES[name]
        shot = shots / screenshot_name(path, pages, mode.width, mode.dark)
        return await visit(page, base + path, path, shot, mode)

    jobs = [(name, page) for page in pages for name in modes]
    async with chromium(profile) as context:
        records = await each_page(context, jobs, one)
    visits = {name: {} for name in modes}
    for (name, page), record in zip(jobs, records, strict=True):
        visits[name][page] = record
    return visits


@pytest.fixture(scope="session")
def pages(built_html: Path) -> list[str]:
    """Every content page of the built book (see :func:`discover_pages`)."""
    found = discover_pages(built_html)
    assert found, f"no pages found in {built_html}"
    return found


@pytest.fixture(scope="session")
def screenshots(built_html: Path) -> Path:
    """The ``screenshots/`` folder beside the HTML directory; each visit overwrites its own.

    It is not emptied here: under pytest-xdist every worker has this fixture, and one
    worker's clearing would delete what another has just written.
    """
    shots = built_html.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def visit_pass(server: str, pages: list[str], shots: Path, profile: Path, modes: list[str]):
    """Visit every page in each of ``modes`` in one browser; return mode -> page -> visit."""
    assert AXE_JS.is_file(), f"{AXE_JS} is missing: run `npm ci` (make node_modules/.installed)"
    return asyncio.run(visit_book(server, pages, shots, profile, modes))


@pytest.fixture(scope="session")
def visits(server: str, pages: list[str], screenshots: Path, tmp_path_factory) -> dict:
    """Every content page at 1280 px, scanned, toggles clicked: page path -> :class:`PageVisit`.

    Screenshots are saved as ``screenshots/<page>-1280.png``.
    """
    profile = tmp_path_factory.mktemp("visits-profile")
    return visit_pass(server, pages, screenshots, profile, ["wide"])["wide"]


@pytest.fixture(scope="session")
def narrow_and_dark_visits(
    server: str, pages: list[str], screenshots: Path, tmp_path_factory
) -> dict[str, dict]:
    """Every content page at a phone's width and in dark mode: mode -> page -> visit."""
    profile = tmp_path_factory.mktemp("narrow-dark-profile")
    return visit_pass(server, pages, screenshots, profile, ["narrow", "dark"])


@pytest.fixture(scope="session")
def narrow_visits(narrow_and_dark_visits: dict) -> dict:
    """Every content page at a phone's width (390 px), screenshots ``<page>-390.png``."""
    return narrow_and_dark_visits["narrow"]


@pytest.fixture(scope="session")
def dark_visits(narrow_and_dark_visits: dict) -> dict:
    """Every content page at 1280 px in dark mode, colours scanned; ``<page>-1280-dark.png``."""
    return narrow_and_dark_visits["dark"]


#: The small-cell threshold the hostile book is built at.
HOSTILE_THRESHOLD = 5


@dataclass(frozen=True)
class HostileBook:
    """The whole book built on a package as untrusted as real data could be.

    Every free-text field of the package carries a script payload or a spreadsheet formula
    (``hostile_package.payload_package``), and the build suppresses counts of people below
    ``threshold``: a real package has both untrusted words and people to protect.
    """

    html: Path
    executed: Path
    payloads: int
    threshold: int = HOSTILE_THRESHOLD


@pytest.fixture(scope="session")
def hostile_book(tmp_path_factory) -> HostileBook:
    """The whole book on a payload package at threshold 5, built once per test run.

    The payload package is written afresh each run and the book is built in
    ``TEST_BUILDS/hostile-book`` (see :data:`conftest.TEST_BUILDS`), so the pipeline executes
    and renders again only what changed since the last run.
    """
    from conftest import TEST_BUILDS, file_lock, mirror

    from .hostile_package import payload_package
    from .whole_book import build_book

    root = TEST_BUILDS / "hostile-book"
    fresh = tmp_path_factory.mktemp("hostile-package") / "data"
    payloads = payload_package(paths.data_dir(), fresh)
    with file_lock(TEST_BUILDS / "hostile-book.lock"):
        mirror(fresh, root / "data")
        html = build_book(
            root / "book", root / "data", COMPENDIUM_SMALL_CELL=str(HOSTILE_THRESHOLD)
        )
    return HostileBook(html, root / "book" / "_build" / "jupyter_execute", payloads)


@pytest.fixture(scope="session")
def book_config() -> dict:
    """What the book says about itself: ``book:`` of the package's study descriptor."""
    from compendium.contract.descriptor import read_descriptor

    book = read_descriptor(paths.data_dir()).book
    return {"title": book.title, "author": book.author}
