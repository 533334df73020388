"""Shared fixtures: a freshly generated package, throwaway copies to break, executed chapters.

Each chapter is executed once per test run and shared: ``book_chapter`` reads the book's own
chapters from the execution cache ``make book`` fills (``make test`` builds the book first),
and ``execute_once`` executes a template on another package once for every worker of the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
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
    "book_visits": "book-visits",
    "edition": "pdf",
    "hostile_book": "hostile-book",
    "built": "new-compendium",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the groups
def pytest_collection_modifyitems(config, items):
    """Send the tests that share a costly fixture to one pytest-xdist worker.

    With ``--dist loadgroup`` (pyproject's addopts) a group runs on one worker, so the pages
    are visited once, the PDF printed once and each book built once per run, not once per
    worker; the groups may run on different workers. Any other browser test is grouped
    with its module, whose module-scoped book (a tiny or a whole build) is then made once.
    """
    for item in items:
        shared = [SHARED_BY_GROUP[name] for name in SHARED_BY_GROUP if name in item.fixturenames]
        if shared:
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
def execute_once(tmp_path_factory):
    """Execute a MyST notebook on a data package once per test run, for every worker.

    Returns a function ``(text, data_dir) -> notebook``. Notebooks are kept in the run's
    shared folder under the digest of the text and of the package's files, so a template
    executed on a package by one worker is read, not executed again, by the others.
    """
    import jupytext

    from compendium.build.execution import execute_notebooks
    from compendium.contract.loading import package_fingerprint

    folder = run_folder(tmp_path_factory) / "executed"

    def execute(text: str, data_dir: Path):
        key = hashlib.sha256(f"{package_fingerprint(data_dir)}\0{text}".encode()).hexdigest()
        target = folder / f"{key}.ipynb"
        with file_lock(folder / f"{key}.lock"):
            if not target.is_file():
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
