"""Data-aware execution of the book's chapters, ahead of Jupyter Book.

Jupyter Book's execution cache (jupyter-cache) keys a notebook on its code cells only, so a
changed data file or a changed analysis function would leave stale pages. This module keys
each chapter on all of its inputs instead:

- its code cells (the same hash jupyter-cache uses);
- the data files its kernel read (recorded by the kernel itself, see
  :func:`compendium.presentation.provenance.kernel_inputs`);
- the ``compendium`` modules its kernel loaded;
- the interpreter, the installed packages and the data directory.

``python -m compendium.build.execution`` (which ``make book``'s :mod:`compendium.build.pipeline`
runs between the check and ``jupyter-book build``) reads
the table of contents, finds the chapters whose key changed, drops their records from the
jupyter-cache, executes them on two kernels at a time and stores the executed notebooks in the
cache. Jupyter Book then finds every chapter in its cache and only renders. A rebuild with no
change executes nothing; a changed data file re-executes only the chapters that read it.

Each kernel is forked from a warm zygote (:mod:`compendium.build.kernels`; off with
``COMPENDIUM_FORK_KERNELS=0``), which spares every chapter ipykernel's and pandas' imports.

When the data package changed, it is validated once here first: an invalid package stops the
build with every problem listed, whether or not a chapter reads the broken file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from compendium import paths

STATE_VERSION = 1
#: The code run in a chapter's kernel after its last cell, to learn what the chapter read.
PROBE = (
    "import json as _json, sys as _sys\n"
    "if any(m == 'compendium' or m.startswith('compendium.') for m in _sys.modules):\n"
    "    from compendium.presentation.provenance import kernel_inputs as _inputs\n"
    "    print(_json.dumps(_inputs()))\n"
    "else:\n"
    "    print(_json.dumps({'data': {}, 'modules': []}))\n"
)
PACKAGE_DIR = paths.PACKAGE_DIR
#: The variable that overrides the small-cell threshold (``compendium.analysis.disclosure``'s
#: ``ENV_VAR``, named here because importing that module brings pandas: a second on every
#: rebuild with nothing to do).
SMALL_CELL_VAR = "COMPENDIUM_SMALL_CELL"


class ExecutionFailed(RuntimeError):
    """A chapter raised an error, or its kernel died, while it was executed."""


@dataclass(frozen=True)
class Book:
    """Where a Jupyter Book keeps its sources, settings and caches.

    Parameters
    ----------
    root
        The book's root (the folder holding ``_config.yml``).
    toc
        The table of contents, relative to ``root`` or absolute.
    """

    root: Path = paths.ROOT
    toc: Path = Path("_toc.yml")

    @property
    def build_dir(self) -> Path:
        """Return the ``_build`` folder."""
        return self.root / "_build"

    @property
    def state_dir(self) -> Path:
        """Return where this module keeps its state: ``_build/.compendium``."""
        return self.build_dir / ".compendium"

    def config(self) -> dict:
        """Return the ``execute:`` section of ``_config.yml`` (empty if there is none)."""
        import yaml

        path = self.root / "_config.yml"
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return (settings or {}).get("execute") or {}

    def cache_dir(self) -> Path:
        """Return the jupyter-cache folder Jupyter Book uses (``_build/.jupyter_cache`` by default)."""
        configured = self.config().get("cache") or ""
        return (self.root / configured) if configured else self.build_dir / ".jupyter_cache"

    def chapters(self) -> list[Path]:
        """Return the source file of every page in the table of contents, in its order."""
        from sphinx_external_toc.parsing import parse_toc_yaml

        toc = self.toc if self.toc.is_absolute() else self.root / self.toc
        found = []
        for docname in parse_toc_yaml(toc):
            for suffix in (".md", ".ipynb"):
                source = self.root / f"{docname}{suffix}"
                if source.is_file():
                    found.append(source)
                    break
        return found


# --------------------------------------------------------------------------- keys


def sha256_file(path: Path) -> str:
    """Return the SHA-256 of a file's bytes, or ``"missing"`` when there is no such file."""
    from compendium.contract.loading import (
        file_sha256,  # loaded on every run anyway, by _check_package
    )

    try:
        return file_sha256(path)
    except FileNotFoundError:
        return "missing"


def environment_signature() -> str:
    """Return a digest of what every chapter shares: interpreter, installed packages, data dir.

    The small-cell threshold set in the environment counts too: a chapter executed without
    disclosure control must not be reused by a build that asks for it.

    Installing or upgrading any distribution changes its ``.dist-info`` folder name, so the
    listing of the site-packages folders stands in for the whole environment.
    """
    threshold = os.environ.get(SMALL_CELL_VAR, "")
    digest = hashlib.sha256(
        f"{sys.executable}\0{sys.version}\0{paths.data_dir()}\0{threshold}".encode()
    )
    for folder in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".dist-info"))
        except OSError:
            names = []
        digest.update("\0".join(names).encode())
    return digest.hexdigest()


def input_hashes(inputs: dict) -> dict[str, str]:
    """Return the current hash of every input a kernel reported.

    Parameters
    ----------
    inputs
        As returned by :func:`compendium.presentation.provenance.kernel_inputs`: ``data`` maps package
        directories to file names, ``modules`` lists package source files.

    Returns
    -------
    dict
        ``"data:<absolute path>"`` and ``"module:<file>"`` mapped to SHA-256 digests.
    """
    hashes = {}
    for data_dir, names in inputs.get("data", {}).items():
        for name in names:
            path = Path(data_dir) / name
            hashes[f"data:{path}"] = sha256_file(path)
    for module in inputs.get("modules", []):
        hashes[f"module:{module}"] = sha256_file(PACKAGE_DIR / module)
    return hashes


def read_notebook(source: Path):
    """Return a chapter as a notebook, read exactly as Jupyter Book's MyST-NB reads it.

    Returns
    -------
    nbformat.NotebookNode or None
        None for a Markdown page that is not a notebook (no Jupytext top-matter).
    """
    import nbformat
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

    text = Path(source).read_text(encoding="utf-8")
    if Path(source).suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    if not is_myst_markdown_notebook(text):
        return None
    return read_myst_markdown_notebook(text, add_source_map=True, path=str(source))


def code_hashkey(notebook) -> str:
    """Return the key jupyter-cache files a notebook under (its code cells and kernel)."""
    from jupyter_cache.cache.main import JupyterCacheBase

    # The hash is a pure function of the notebook; no cache folder is touched.
    return JupyterCacheBase.create_hashed_notebook(None, notebook)[1]


def is_cached(cache_dir: Path, hashkey: str) -> bool:
    """Return True when jupyter-cache holds an executed notebook under ``hashkey``.

    Reads jupyter-cache 1.0's storage layout (``executed/<hashkey>/base.ipynb``) rather than
    its database, so that a rebuild with nothing to do never pays for importing SQLAlchemy.
    """
    return (Path(cache_dir) / "executed" / hashkey / "base.ipynb").is_file()


# --------------------------------------------------------------------------- state


def load_state(book: Book) -> dict:
    """Return the recorded key of every chapter executed so far (empty when none)."""
    path = book.state_dir / "execution.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": STATE_VERSION, "chapters": {}}
    if state.get("version") != STATE_VERSION:
        return {"version": STATE_VERSION, "chapters": {}}
    return state


def write_json(path: Path, content: dict) -> None:
    """Write ``content`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(content, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class Stale:
    """A chapter that must be executed, and why.

    ``source_hash`` is the hash of the file when it was planned, and ``notebook`` what was
    read of it then, when planning had to read it (None otherwise).
    """

    source: Path
    reason: str
    source_changed: bool = False
    source_hash: str = ""
    notebook: object = None  # nbformat.NotebookNode


@dataclass
class Plan:
    """The chapters to execute and those already up to date."""

    stale: list[Stale] = field(default_factory=list)
    fresh: list[Path] = field(default_factory=list)
    pages: list[Path] = field(default_factory=list)  # Markdown pages that are not notebooks


def _changed_inputs(recorded: dict[str, str]) -> list[str]:
    current = {key: _current_hash(key) for key in recorded}
    return [key for key in sorted(recorded) if current[key] != recorded[key]]


def _current_hash(key: str) -> str:
    kind, _, name = key.partition(":")
    return sha256_file(Path(name) if kind == "data" else PACKAGE_DIR / name)


def _describe(changed: list[str]) -> str:
    data = [Path(k.partition(":")[2]).name for k in changed if k.startswith("data:")]
    modules = [k.partition(":")[2] for k in changed if k.startswith("module:")]
    parts = []
    if data:
        parts.append("data changed: " + ", ".join(data))
    if modules:
        parts.append("package code changed: " + ", ".join(modules))
    return "; ".join(parts)


def plan(book: Book, state: dict | None = None, on_stale=None) -> Plan:
    """Return which chapters of ``book`` are stale, with the reason for each.

    A chapter is up to date when its recorded source, environment and inputs all hash as they
    did when it was last executed and its executed notebook is still in the jupyter-cache. An
    edit to a chapter's Markdown text alone does not make it stale: only its code counts.
    ``on_stale`` is called with no argument as each stale chapter is found.
    """
    state = load_state(book) if state is None else state
    environment = environment_signature()
    cache_dir = book.cache_dir()
    result = Plan()

    def stale(item: Stale) -> None:
        result.stale.append(item)
        if on_stale is not None:
            on_stale()

    for source in book.chapters():
        key = source.relative_to(book.root).as_posix()
        entry = state["chapters"].get(key)
        source_hash = sha256_file(source)
        if entry is None:
            notebook = read_notebook(source)
            if notebook is None:
                result.pages.append(source)
            else:
                stale(Stale(source, "not executed yet", False, source_hash, notebook))
            continue
        if not entry.get("notebook", True):
            if entry["source"] == source_hash:
                result.pages.append(source)
                continue
            notebook = read_notebook(source)
            if notebook is None:
                entry["source"] = source_hash
                result.pages.append(source)
                continue
            stale(Stale(source, "became a notebook", True, source_hash, notebook))
            continue
        reason, source_changed, notebook = None, entry["source"] != source_hash, None
        if entry["environment"] != environment:
            reason = "environment changed"
        elif changed := _changed_inputs(entry["inputs"]):
            reason = _describe(changed)
        elif source_changed:
            notebook = read_notebook(source)
            if notebook is None or code_hashkey(notebook) != entry["hashkey"]:
                reason = "code changed"
            else:
                entry["source"] = source_hash  # only the text changed: nothing to run
        if reason is None and not is_cached(cache_dir, entry["hashkey"]):
            reason = "not in the execution cache"
        if reason:
            stale(Stale(source, reason, source_changed, source_hash, notebook))
        else:
            result.fresh.append(source)
    return result


# --------------------------------------------------------------------------- execution


@dataclass
class Outcome:
    """The result of executing one notebook."""

    source: Path
    notebook: object  # nbformat.NotebookNode, executed (without the probe cell)
    seconds: float
    inputs: dict | None = None
    error: str | None = None


async def _execute(
    source: Path,
    notebook,
    timeout: int,
    allow_errors: bool,
    env: dict | None,
    gate: asyncio.Semaphore | None = None,
):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from compendium.build.kernels import kernel_manager_class

    runnable = nbformat.from_dict(json.loads(json.dumps(notebook)))
    runnable.cells.append(nbformat.v4.new_code_cell(PROBE))
    last = len(runnable.cells) - 1
    held = gate is not None

    def release(**_) -> None:
        # The chapter's last cell (the probe) has run: the next chapter's kernel may start
        # while this one shuts down (about half a second of waiting, not computing).
        nonlocal held
        if held:
            held = False
            gate.release()

    # As jupyter-cache does: a notebook's own execution settings win, and no timing is
    # recorded in cell metadata (which would change the notebook's cache key).
    overrides = runnable.metadata.get("execution", {})
    client = NotebookClient(
        runnable,
        timeout=overrides.get("timeout", timeout),
        allow_errors=overrides.get("allow_errors", allow_errors),
        record_timing=False,
        resources={"metadata": {"path": str(Path(source).parent)}},
        kernel_manager_class=kernel_manager_class(),
        on_cell_executed=lambda cell_index, **_: release() if cell_index == last else None,
    )
    if gate is not None:
        await gate.acquire()
    started = time.perf_counter()
    error = None
    try:
        await client.async_execute(**({"env": env} if env else {}))
    except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        release()
    seconds = time.perf_counter() - started
    probe = runnable.cells.pop()
    inputs = None
    if error is None:
        text = "".join(o.get("text", "") for o in probe.outputs if o.get("name") == "stdout")
        inputs = json.loads(text.strip().splitlines()[-1])
    return Outcome(Path(source), runnable, seconds, inputs, error)


async def _execute_all(jobs, workers, timeout, allow_errors, env, on_done):
    from compendium.build.kernels import shared_context

    gate = asyncio.Semaphore(workers)

    async def one(source, notebook):
        outcome = await _execute(source, notebook, timeout, allow_errors, env, gate)
        on_done(outcome)
        return outcome

    with shared_context():
        return await asyncio.gather(*(one(s, nb) for s, nb in jobs))


def execute_notebooks(
    jobs: list[tuple[Path, object]],
    workers: int = 2,
    timeout: int = 300,
    allow_errors: bool = False,
    env: dict | None = None,
    on_done=None,
) -> list[Outcome]:
    """Execute notebooks from scratch, ``workers`` kernels at a time, each in its own folder.

    Parameters
    ----------
    jobs
        ``(source path, notebook)`` pairs; each runs with the source's folder as its working
        directory, as Jupyter Book runs it.
    workers
        How many kernels run at once (the machine's cores is a good choice).
    timeout
        Seconds allowed per cell.
    allow_errors
        Whether a cell that raises lets execution continue.
    env
        Environment for the kernels (default: this process's).
    on_done
        Called with each :class:`Outcome` as soon as it is known.

    Returns
    -------
    list of Outcome
        In the order of ``jobs``; a failure is reported in ``Outcome.error``, not raised.
    """
    return asyncio.run(
        _execute_all(jobs, max(1, workers), timeout, allow_errors, env, on_done or (lambda _: None))
    )


def _drop_cached(cache, hashkeys: set[str]) -> None:
    """Remove the executed notebooks filed under ``hashkeys`` from jupyter-cache."""
    from jupyter_cache.cache.db import NbCacheRecord

    for hashkey in hashkeys:
        try:
            record = NbCacheRecord.record_from_hashkey(hashkey, cache.db)
        except KeyError:
            continue
        try:
            cache.remove_cache(record.pk)
        except KeyError:  # the notebook file had gone already; drop the row alone
            NbCacheRecord.remove_records([record.pk], cache.db)


@dataclass
class Report:
    """What :func:`prepare` did."""

    executed: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    fresh: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def plan_ahead(book: Book) -> tuple[dict, Plan]:
    """Return the state and plan :func:`prepare` starts from, starting kernels' zygote early.

    When a chapter is stale and the book executes through the cache, the zygote
    (:mod:`compendium.build.kernels`) imports on another core while the caller checks the
    package, rather than while the first kernels wait for it.
    """
    state = load_state(book)
    on_stale = None
    if book.config().get("execute_notebooks", "auto") == "cache":
        from compendium.build.kernels import prestart

        if not state["chapters"]:
            # Nothing has executed here yet: every chapter that is a notebook will, and
            # telling notebooks from pages first costs a fifth of a second of imports.
            prestart()
        on_stale = prestart  # at the first stale chapter, not after reading every one
    return state, plan(book, state, on_stale)


def prepare(
    book: Book, workers: int = 2, log=print, planned: tuple[dict, Plan] | None = None
) -> Report:
    """Execute every stale chapter of ``book`` into its jupyter-cache (see the module notes).

    Parameters
    ----------
    book
        The book to prepare.
    workers
        Kernels run at once.
    log
        Receives one line per event.
    planned
        What :func:`plan_ahead` returned, when the caller planned before checking the package;
        by default the book is planned here.

    Returns
    -------
    Report
        Chapters executed, failed and already fresh. A failed chapter keeps no record in the
        cache, so Jupyter Book would not render stale outputs for it.

    Raises
    ------
    compendium.contract.validation.InvalidPackage
        When the data package changed and is not valid; nothing is executed.
    """
    started = time.perf_counter()
    state, pending = planned or plan_ahead(book)
    report = Report(fresh=list(pending.fresh))
    for page in pending.pages:
        key = page.relative_to(book.root).as_posix()
        state["chapters"][key] = {"notebook": False, "source": sha256_file(page)}
    _check_package(state)
    if not pending.stale:
        write_json(book.state_dir / "execution.json", state)
        report.seconds = time.perf_counter() - started
        log(
            f"execution: all {len(pending.fresh)} chapters up to date; nothing to execute "
            f"({report.seconds:.2f} s)"
        )
        _write_last_run(book, report)
        return report

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(book.cache_dir())
    settings = book.config()
    jobs, hashkeys, source_hashes = [], {}, {}
    for item in pending.stale:
        key = item.source.relative_to(book.root).as_posix()
        log(f"execution: {key}: {item.reason}")
        # The hash recorded is that of the text executed, read once.
        if item.notebook is None:
            source_hashes[item.source] = sha256_file(item.source)
            notebook = read_notebook(item.source)
        else:
            source_hashes[item.source], notebook = item.source_hash, item.notebook
        hashkeys[item.source] = code_hashkey(notebook)
        old = state["chapters"].pop(key, None)
        # Drop old outputs first: if the new run fails, Jupyter Book must not render them.
        _drop_cached(cache, {hashkeys[item.source]} | ({old["hashkey"]} if old else set()))
        jobs.append((item.source, notebook))
    environment = environment_signature()
    write_json(book.state_dir / "execution.json", state)
    reports = book.state_dir / "reports"

    def record(outcome: Outcome) -> None:
        key = outcome.source.relative_to(book.root).as_posix()
        if outcome.error:
            reports.mkdir(parents=True, exist_ok=True)
            log_path = reports / (key.replace("/", "__") + ".log")
            log_path.write_text(outcome.error, encoding="utf-8")
            log(f"execution: FAILED {key} after {outcome.seconds:.1f} s:\n{outcome.error}")
            log(f"execution: the error is kept in {log_path}")
            report.failed.append(outcome.source)
            return
        cached = cache.cache_notebook_bundle(
            CacheBundleIn(
                outcome.notebook, str(outcome.source), data={"execution_seconds": outcome.seconds}
            ),
            check_validity=False,
            overwrite=True,
        )
        if cached.hashkey != hashkeys[outcome.source]:  # Jupyter Book would not find it
            raise RuntimeError(
                f"{key}: executing changed the notebook's cache key "
                f"({hashkeys[outcome.source]} -> {cached.hashkey})"
            )
        state["chapters"][key] = {
            "notebook": True,
            "source": source_hashes[outcome.source],
            "hashkey": hashkeys[outcome.source],
            "environment": environment,
            "inputs": input_hashes(outcome.inputs),
        }
        write_json(book.state_dir / "execution.json", state)
        report.executed.append(outcome.source)
        log(f"execution: executed {key} in {outcome.seconds:.1f} s")

    execute_notebooks(
        jobs,
        workers=workers,
        timeout=int(settings.get("timeout", 30)),
        allow_errors=bool(settings.get("allow_errors", False)),
        on_done=record,
    )
    # Sphinx re-reads a page only when its source is newer than its last read: a page
    # re-executed for a data or package change must look edited to be rendered again.
    for item in pending.stale:
        if item.source in report.executed and not item.source_changed:
            os.utime(item.source)
    report.seconds = time.perf_counter() - started
    log(
        f"execution: executed {len(report.executed)}, failed {len(report.failed)}, "
        f"up to date {len(report.fresh)} ({report.seconds:.1f} s, {workers} kernels)"
    )
    _write_last_run(book, report)
    return report


def _check_package(state: dict) -> None:
    """Validate the data package when it changed since the last run (raises InvalidPackage)."""
    from compendium.contract.loading import ensure_valid, package_fingerprint

    data_dir = paths.data_dir()
    fingerprint = package_fingerprint(data_dir)
    if state.get("package") != fingerprint:
        ensure_valid(data_dir, fingerprint)  # skips validation when the cache knows it
    state["package"] = fingerprint


def _write_last_run(book: Book, report: Report) -> None:
    def keys(items):
        return [p.relative_to(book.root).as_posix() for p in items]

    write_json(
        book.state_dir / "last-run.json",
        {
            "executed": keys(report.executed),
            "failed": keys(report.failed),
            "fresh": keys(report.fresh),
            "seconds": round(report.seconds, 3),
        },
    )


def execute_book(book: Book, workers: int = 2, planned: tuple[dict, Plan] | None = None) -> int:
    """Run :func:`prepare` as ``make book`` does; return 0, or 1 when a chapter or the data failed.

    Nothing runs when ``_config.yml`` does not ask for the cache (Jupyter Book executes then).
    An invalid data package is told in one line on stderr, nothing executed. ``planned`` is
    passed on to :func:`prepare`.
    """
    mode = book.config().get("execute_notebooks", "auto")
    if mode != "cache":
        print(f"execution: execute_notebooks is {mode!r}, not 'cache'; Jupyter Book executes")
        return 0
    try:
        report = prepare(book, workers=workers, planned=planned)
    except ValueError as exc:
        # InvalidPackage can only come from compendium.contract.validation once it was imported;
        # importing it up front would cost every no-change rebuild a second.
        validation = sys.modules.get("compendium.contract.validation")
        if validation is None or not isinstance(exc, validation.InvalidPackage):
            raise
        print(f"execution: nothing executed: {exc}", file=sys.stderr)
        return 1
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    """Prepare the book's execution cache; return 0, or 1 when a chapter or the data failed."""
    parser = argparse.ArgumentParser(
        prog="python -m compendium.build.execution",
        description="Execute the chapters whose code, data or package code changed, "
        "into Jupyter Book's cache.",
    )
    parser.add_argument("--root", default=str(paths.ROOT), help="the book's root folder")
    parser.add_argument("--toc", default="_toc.yml", help="table of contents (default _toc.yml)")
    parser.add_argument("--workers", type=int, default=2, help="kernels at once (default 2)")
    parser.add_argument("--dry-run", action="store_true", help="only say what is stale")
    from compendium.failures import add_debug_flag, guarded, usage_errors

    add_debug_flag(parser)
    usage_errors(parser, "execution")
    args = parser.parse_args(argv)

    def run() -> int:
        book = Book(Path(args.root).resolve(), Path(args.toc))
        if args.dry_run:
            pending = plan(book)
            for item in pending.stale:
                print(f"stale: {item.source.relative_to(book.root)}: {item.reason}")
            print(f"up to date: {len(pending.fresh)}; stale: {len(pending.stale)}")
            return 0
        return execute_book(book, workers=args.workers)

    return guarded("execution", run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
