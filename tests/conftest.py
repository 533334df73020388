"""Shared fixtures: a freshly generated package, throwaway copies to break, executed chapters.

Each chapter is executed once and shared: ``book_chapter`` reads the book's own chapters
from the execution cache ``make book`` fills (``make test`` builds the book first), and
``execute_once`` executes a template on another package once for every worker of the run,
and again in a later run only when something it reads changed (``TEST_BUILDS``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from compendium import paths
from compendium.contract.loading import load_study

#: Session fixtures too costly to make on every worker -> the pytest-xdist group of the
#: tests that use them: the book's pages visited in Chromium, the PDF printed, the whole book
#: built on a hostile package at a small-cell threshold, the example compendium that ``new``
#: writes and builds (tests/test_new.py; a second worker would only wait for its lock).
SHARED_BY_GROUP = {
    "visits": "book-visits",
    "narrow_and_dark_visits": "book-visits-narrow-dark",
    "edition": "pdf",
    "hostile_book": "hostile-book",
    "built": "new-compendium",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the groups
def pytest_collection_modifyitems(config, items):
    """Mark the tests that share a costly fixture slow, and send them to one xdist worker.

    Each of those fixtures takes tens of seconds (every page visited, the PDF printed, a whole
    book built), so a test that reads one is ``slow``, whatever its own body costs: ``pytest -m
    "not slow"`` stays quick. With ``--dist loadgroup`` (pyproject's addopts) a group runs on
    one worker, so the pages are visited once, the PDF printed once and each book built once
    per run, not once per worker; the groups may run on different workers. Any other browser
    test is grouped with its module, whose module-scoped book (a tiny or a whole build) is
    then made once.
    """
    for item in items:
        shared = [SHARED_BY_GROUP[name] for name in SHARED_BY_GROUP if name in item.fixturenames]
        if shared:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(shared[0]))
        elif item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A package generated with the book's seed, in a temporary directory."""
    from compendium.contract.synthesis import synthesize

    return synthesize(2017, tmp_path_factory.mktemp("generated") / "data")


@pytest.fixture(scope="session")
def study():
    """The committed package, validated and loaded."""
    return load_study(paths.DEFAULT_DATA_DIR)


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A writable copy of the committed package, for tests that break it."""
    target = tmp_path / "data"
    shutil.copytree(paths.DEFAULT_DATA_DIR, target)
    return target


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of a generated CSV (no quoted commas in the edited row's earlier cells)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[line - 1][rows[0].index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Under pytest-xdist every worker runs its own session; the lock makes one of them do a
    shared piece of work while the others wait for its result.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Where the suite keeps the books it builds (the hostile book, the example compendium) from
#: one run to the next. Each is rebuilt every run by the same pipeline as ``make book``, which
#: executes and renders only what changed (by content) since: a run that changed nothing reads
#: them in seconds, one that changed a chapter, the engine or the data rebuilds what that
#: touches. ``make clean-all`` (or deleting the folder) starts them from nothing; CI always does.
TEST_BUILDS = paths.ROOT / "_build" / "tests"
#: The notebooks ``execute_once`` keeps between runs, and when this run started.
EXECUTED = TEST_BUILDS / "executed"
STARTED = pytest.StashKey[float]()


def update_file(source: Path, copy: Path) -> None:
    """Copy ``source`` to ``copy`` unless ``copy`` already holds the same bytes."""
    import filecmp

    if not (copy.is_file() and filecmp.cmp(source, copy, shallow=False)):
        shutil.copy2(source, copy)


def mirror(source: Path, target: Path, keep: tuple[str, ...] = ()) -> None:
    """Make ``target`` hold exactly ``source``'s files, rewriting only those that differ.

    Files of ``target`` that ``source`` lacks are deleted, except under its top-level names in
    ``keep`` (a build's ``_build``). An unchanged file keeps its modification time, so Sphinx
    does not read it again.
    """
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(exist_ok=True)
        else:
            update_file(path, copy)
    for path in sorted(target.rglob("*"), reverse=True):  # children before their folders
        relative = path.relative_to(target)
        if relative.parts[0] in keep or (source / relative).exists():
            continue
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()


def run_folder(tmp_path_factory) -> Path:
    """Return a folder shared by every worker of this test run (their base folders' parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


class ExecutedBook:
    """The book's chapters as ``make book`` executed them, read from its execution cache.

    Parameters
    ----------
    book
        The book (this repository's).
    failed
        Chapters whose execution failed, mapped to the error kept in ``_build/.compendium``.
    """

    def __init__(self, book, failed: dict[str, str]):
        self.book = book
        self.failed = failed

    def __call__(self, name: str):
        """Return chapter ``name`` (``book/<name>.md``) executed, with its outputs."""
        from compendium.build.execution import load_state

        key = f"book/{name}.md"
        if key in self.failed:
            pytest.fail(f"{key} failed to execute:\n{self.failed[key]}", pytrace=False)
        entry = load_state(self.book)["chapters"][key]
        path = self.book.cache_dir() / "executed" / entry["hashkey"] / "base.ipynb"
        return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def book_chapter() -> ExecutedBook:
    """Each chapter of the book executed once per test run, shared by every test and worker.

    ``make test`` builds the book first, so its execution cache already holds every chapter
    and this only checks that it is up to date. Run on its own, pytest executes the stale
    chapters here, exactly as ``make book`` would (the first worker does; the other waits).
    """
    from compendium.build.execution import Book, prepare

    book = Book(paths.ROOT)
    with file_lock(book.state_dir / "tests.lock"):
        report = prepare(book, log=lambda _: None)
    reports = book.state_dir / "reports"
    failed = {}
    for source in report.failed:
        key = source.relative_to(book.root).as_posix()
        log = reports / (key.replace("/", "__") + ".log")
        failed[key] = log.read_text(encoding="utf-8") if log.is_file() else "(no log kept)"
    return ExecutedBook(book, failed)


@pytest.fixture(scope="session")
def execute_once():
    """Execute a MyST notebook on a data package once, for every worker and later runs.

    Returns a function ``(text, data_dir) -> notebook``. Notebooks are kept in
    ``TEST_BUILDS/executed`` under the digest of all a kernel reads: the text, the package's
    files (by content, wherever the package lies), the engine's files, and the interpreter
    and installed packages (:func:`compendium.build.execution.environment_signature`). Any
    change to these executes the notebook again; notebooks no run has read since are removed
    when the run ends (:func:`pytest_sessionfinish`).
    """
    import jupytext

    from compendium.build.execution import environment_signature, execute_notebooks
    from compendium.build.pipeline import ENGINE_DIR, hash_files
    from compendium.contract.loading import package_fingerprint

    engine = hashlib.sha256()
    hash_files(engine, "engine", ENGINE_DIR)

    def execute(text: str, data_dir: Path):
        # The environment is read at each call: a test may have set the small-cell threshold.
        key = f"{engine.hexdigest()}\0{environment_signature()}\0{package_fingerprint(data_dir)}"
        key = f"{key}\0{text}"
        target = EXECUTED / f"{hashlib.sha256(key.encode()).hexdigest()}.ipynb"
        with file_lock(target.with_suffix(".lock")):
            if target.is_file():
                os.utime(target)  # read by this run: kept (see pytest_sessionfinish)
            else:
                notebook = jupytext.reads(text, fmt="md:myst")
                (outcome,) = execute_notebooks(
                    [(paths.BOOK_DIR / "executed.md", notebook)],
                    workers=1,
                    env={**os.environ, "COMPENDIUM_DATA": str(data_dir)},
                )
                assert outcome.error is None, outcome.error
                partial = target.with_suffix(".partial")
                nbformat.write(outcome.notebook, partial)
                partial.replace(target)
        return nbformat.read(target, as_version=4)

    return execute


def pytest_sessionstart(session):
    session.config.stash[STARTED] = time.time()


def pytest_sessionfinish(session):
    """After a run of the whole suite, remove the kept notebooks it did not read.

    Only a whole run (no paths, ``-k`` or ``-m`` given; not stopped early) knows which
    notebooks are still wanted. Run by pytest-xdist's controller after every worker has
    finished (or by the only process without it): a worker's own session end would remove
    what another still reads.
    """
    config = session.config
    whole = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword
        and not config.option.markexpr
        and not (session.shouldfail or session.shouldstop)
    )
    started = config.stash.get(STARTED, None)
    if hasattr(config, "workerinput") or not whole or started is None or not EXECUTED.is_dir():
        return
    for path in EXECUTED.iterdir():
        if path.stat().st_mtime < started:
            path.unlink()
