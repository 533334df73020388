"""``make book`` in one process: check, execute what changed, render only when something did.

``python -m compendium.build.pipeline [--root .] [--toc _toc.yml] [--data DIR]`` runs the three
steps of a book build and stops at the first that fails:

1. **check** (:func:`compendium.build.support.run_check`), the same report and exit status as
   ``python -m compendium check``;
2. **execution** (:func:`compendium.build.execution.execute_book`): the chapters whose code,
   data or engine code changed run into Jupyter Book's cache;
3. **render**: ``jupyter-book build . --toc TOC --builder html -W -n --keep-going``
   (:func:`render_command`), run by :class:`compendium.build.renderer.Renderer`: when chapters
   execute, its process is started with them and imports Jupyter Book meanwhile.

Even with nothing to execute, Jupyter Book spends seconds starting Sphinx, reading its saved
environment and finding that nothing changed; the check spends a second reading the study
descriptor. Both are deterministic functions of files, so each is skipped when none of its
inputs changed since it last succeeded:

- the check, when the :func:`inputs` digest equals the one of the last check that passed (its
  report is printed again);
- the render, when the digest of the inputs, the executed notebooks and the render command
  equals the one of the last render that succeeded, and ``_build/html`` holds exactly the
  files that render left (:func:`html_manifest`).

The inputs are every file of the book's folder (whatever Jupyter Book may read: chapters,
``_config.yml``, ``_toc.yml``, the files they refer to, templates, bibliographies; only
``_build``, hidden entries, ``node_modules``, ``__pycache__`` and Python environments are left
out), the engine's own files (its code, templates and resources, wherever it is installed),
the data package's files, the interpreter and installed distributions
(:func:`compendium.build.execution.environment_signature`), every ``COMPENDIUM_*`` environment
variable (the small-cell threshold, say), the data folder the book is built on (as a resolved
path, so naming the default folder in ``COMPENDIUM_DATA`` or leaving it unset is the same
build) and the command's arguments. The files are
hashed by content, so touching a file without changing it skips, and any edit, even one
byte, runs the step again. A failed or interrupted render records nothing, so the next build
renders again.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from compendium import paths
from compendium.build.execution import Book, environment_signature, load_state, write_json
from compendium.build.renderer import Renderer

#: Changing how the digests are made must not let an old record match: part of every digest.
DIGEST_VERSION = "1"
#: The engine's own files (code, templates, resources): the kernels and Sphinx run them.
ENGINE_DIR = paths.PACKAGE_DIR
#: Folders never read by a build (outputs, caches, version control, installed packages).
SKIPPED_DIRS = {"_build", "node_modules", "__pycache__"}
#: Environment variables, besides ``COMPENDIUM_*``, that change what Sphinx writes.
RENDER_VARIABLES = ("SOURCE_DATE_EPOCH",)


def render_command(toc: str | Path = "_toc.yml") -> list[str]:
    """Return the Jupyter Book command that renders the book (run in the book's folder).

    Warnings are errors (``-W``), references are checked (``-n``), and every warning is shown
    before the build fails (``--keep-going``).
    """
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return [
        str(jupyter_book),
        "build",
        ".",
        "--toc",
        str(toc),
        "--builder",
        "html",
        "-W",
        "-n",
        "--keep-going",
    ]


# --------------------------------------------------------------------------- digests


def _is_environment(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def tree_files(folder: Path) -> list[Path]:
    """Return every file a build may read under ``folder``, sorted.

    Left out: hidden files and folders, ``_build``, ``node_modules``, ``__pycache__`` and any
    Python environment (a folder holding ``pyvenv.cfg``).
    """
    found = []
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS and not _is_environment(here / d)
        )
        found += [here / f for f in files if not f.startswith(".")]
    return sorted(found)


def _file_digest(path: Path, otherwise: bytes) -> bytes:
    """Return a file's SHA-256, or ``otherwise`` (no digest's length) when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").digest()
    except OSError:
        return otherwise


def hash_files(digest, label: str, folder: Path) -> None:
    """Feed ``digest`` the label, the folder and each file's name and bytes (:func:`tree_files`)."""
    digest.update(f"{label}\0{folder}\0".encode())
    for path in tree_files(folder):
        digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        digest.update(_file_digest(path, b"unreadable"))


def inputs(root: Path, data_dir: Path, arguments: list[str]) -> str:
    """Return the digest of everything a build of the book at ``root`` reads (module notes).

    Parameters
    ----------
    root
        The book's folder.
    data_dir
        The data package.
    arguments
        What else decides the outcome: the table of contents, the command run.
    """
    digest = hashlib.sha256(f"compendium pipeline {DIGEST_VERSION}\0".encode())
    folders = [("book", root.resolve())]
    for label, folder in (("engine", ENGINE_DIR), ("data", data_dir.resolve())):
        # A folder inside the book's is hashed with it already.
        if not folder.is_relative_to(folders[0][1]):
            folders.append((label, folder))
    for label, folder in folders:
        hash_files(digest, label, folder)
    from compendium.build.support import book_data_dir

    variables = sorted(
        (name, value)
        for name, value in os.environ.items()
        if (name.startswith("COMPENDIUM_") and name != "COMPENDIUM_DATA")
        or name in RENDER_VARIABLES
    )
    # The folder the render and the kernels read, however it was named (or left unnamed).
    variables.append(("data folder", str(book_data_dir(root).resolve())))
    digest.update(json.dumps([variables, arguments, environment_signature()]).encode())
    return digest.hexdigest()


def executed_notebooks(book: Book) -> str:
    """Return the digest of the executor's record and of every executed notebook it names.

    MyST-NB renders a chapter from the notebook in the jupyter-cache filed under its code's
    hash; a chapter re-executed for changed data keeps that hash but not its outputs, so the
    notebooks' bytes count, not only their keys.
    """
    state = load_state(book)
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode())
    executed = book.cache_dir() / "executed"
    for key, entry in sorted(state["chapters"].items()):
        if not entry.get("notebook"):
            continue
        notebook = executed / entry["hashkey"] / "base.ipynb"
        digest.update(f"{key}\0".encode())
        digest.update(_file_digest(notebook, b"missing"))
    return digest.hexdigest()


def render_digest(book: Book, data_dir: Path) -> str:
    """Return the digest of all Jupyter Book reads: inputs, render command, executed notebooks."""
    parts = [
        inputs(book.root, data_dir, ["render", *render_command(book.toc)]),
        executed_notebooks(book),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def html_manifest(html_dir: Path) -> str | None:
    """Return a digest of the files in ``html_dir`` (names, sizes, modification times).

    None when there is no such folder. A page deleted, added or rewritten since the last
    render changes it, so the render is not skipped.
    """
    if not html_dir.is_dir():
        return None
    digest = hashlib.sha256()
    for current, dirs, files in os.walk(html_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(current, name)
            status = path.stat()
            relative = path.relative_to(html_dir).as_posix()
            digest.update(f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _record(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- steps


def check(book: Book, data_dir: Path, digest: str) -> int:
    """Run the check unless it passed on these very inputs; return its exit status."""
    record_path = book.state_dir / "check.json"
    record = _record(record_path)
    if record.get("digest") == digest:
        for line in record["lines"]:
            print(line)
        print("check: unchanged since it last passed")
        return 0
    from compendium.build.support import run_check

    record_path.unlink(missing_ok=True)
    lines: list[str] = []
    status = run_check(book.root, book.toc, data_dir, report_to=lines)
    if status == 0:
        write_json(record_path, {"digest": digest, "lines": lines})
    return status


def render(book: Book, digest: str, renderer: Renderer | None = None) -> int:
    """Run Jupyter Book unless nothing it reads changed since it last succeeded.

    It renders in a :class:`~compendium.build.renderer.Renderer`: ``renderer`` when the
    caller started one ahead (the caller ends it, used or not), else a new one.
    """
    record_path = book.state_dir / "render.json"
    html_dir = book.build_dir / "html"
    record = _record(record_path)
    if record.get("digest") == digest and record.get("html") == html_manifest(html_dir):
        print(
            "render: nothing the book reads changed since the last render; "
            f"{html_dir.relative_to(book.root)} is up to date"
        )
        return 0
    # Forget the last render first: if this one fails or is interrupted, the next renders.
    record_path.unlink(missing_ok=True)
    command = render_command(book.toc)
    print(f"render: {' '.join([Path(command[0]).name, *command[1:]])}", flush=True)
    status = (renderer or Renderer(book.root)).run(command[1:])
    if status == 0:
        write_json(record_path, {"digest": digest, "html": html_manifest(html_dir)})
    return status


def build(book: Book, data_dir: Path, workers: int = 2) -> int:
    """Check, execute and render the book; return 0, or the first failing step's status."""
    from compendium.build.execution import execute_book, plan_ahead

    started = time.perf_counter()
    # Planned first: when a chapter will run, its kernels' zygote imports during the check.
    try:
        planned = plan_ahead(book)
    except Exception:  # noqa: BLE001 - a broken book: the check reports it, with its place
        planned = None
    status = check(book, data_dir, inputs(book.root, data_dir, ["check", str(book.toc)]))
    if status:
        return status
    # A chapter to execute all but always means a render: its process imports meanwhile.
    stale = planned is not None and planned[1].stale  # planned: (state, plan)
    renderer = Renderer(book.root) if stale else None
    try:
        status = execute_book(book, workers=workers, planned=planned)
        if status:
            return status
        # After execution: a kernel may have written files the render reads.
        digest = render_digest(book, data_dir)
        status = render(book, digest, renderer)
    finally:
        if renderer is not None:
            renderer.cancel()
    if status == 0:
        print(f"book: done in {time.perf_counter() - started:.1f} s")
    return status


def main(argv: list[str] | None = None) -> int:
    """Build the book as ``make book`` does; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m compendium.build.pipeline",
        description="Check the data package against the book, execute the chapters whose "
        "code, data or engine code changed, and render the HTML book when anything it reads "
        "changed.",
    )
    parser.add_argument("--root", default=str(paths.ROOT), help="the book's root folder")
    parser.add_argument("--toc", default="_toc.yml", help="table of contents (default _toc.yml)")
    parser.add_argument(
        "--data",
        help="the data package (default: $COMPENDIUM_DATA, else the book's data/); "
        "the chapters' kernels and Sphinx read it too",
    )
    parser.add_argument("--workers", type=int, default=2, help="kernels at once (default 2)")
    from compendium.failures import add_debug_flag, guarded, usage_errors

    add_debug_flag(parser)
    usage_errors(parser, "book")
    args = parser.parse_args(argv)

    def run() -> int:
        root = Path(args.root).resolve()
        if args.data:
            # Every later step (kernels, Sphinx) finds the package through this variable.
            os.environ["COMPENDIUM_DATA"] = str(Path(args.data).resolve())
        from compendium.build.support import book_data_dir

        data_dir = Path(args.data).resolve() if args.data else book_data_dir(root)
        return build(Book(root, Path(args.toc)), data_dir, workers=args.workers)

    return guarded("book", run, debug=args.debug)


def exit_now(status: int) -> None:
    """End this process with ``status`` once its exit handlers have run, skipping the rest.

    Python's own clean-up of a build (freeing pandas, pyarrow, jupyter-client and Sphinx's
    modules) takes about a quarter of a second and writes nothing: every file is written and
    closed by then. The exit handlers (ending the zygote, removing the socket folder, flushing
    logs) and the output streams are run and flushed first, as at a normal exit.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
