"""Jupyter Book's render in a process started before it is needed.

``make book`` renders after the last chapter has executed. Before Sphinx reads its first page,
Python and Jupyter Book spend about a second starting and importing; after the last page is
written, Python spends about half a second freeing Sphinx's objects at exit. Here both are
taken off the build's critical path:

- :class:`Renderer` launches ``python -m compendium.build.renderer`` while the chapters
  still execute. One thread of it imports Jupyter Book, Sphinx and the book's third-party
  extensions at the lowest priority (``nice 19``: on Linux a thread's own), so that it only
  uses what the kernels leave of the cores; the other waits.
- :meth:`Renderer.run` sends it ``jupyter-book``'s arguments as one JSON line on its standard
  input. It runs the very command-line entry point that ``jupyter-book`` runs, in the same
  folder, environment, standard output and error, and exits with its status, without the
  clean-up (its output streams are flushed first: nothing else is left to write).
- :meth:`Renderer.cancel` closes its standard input: it exits at once, having rendered
  nothing. It does so too if the build dies.

The engine itself (``compendium``) is never imported ahead: its files may change until the
render starts, and the render's record is keyed on their content then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

#: What every Jupyter Book 1 render imports, besides the extensions its configuration names
#: (MyST-NB's and sphinxcontrib-bibtex's setup import these; the first costs 0.3 s alone).
PRELOAD = (
    "jupyter_book.cli.main",
    "jupyter_book.sphinx",
    "sphinx.application",
    "sphinx.builders.html",
    "sphinx_book_theme",
    "sphinx_jupyterbook_latex",
    "sphinx_multitoc_numbering",
    "myst_nb.sphinx_ext",
    "sphinxcontrib.bibtex",
)


class Renderer:
    """A render process for the book in ``root``, started at once: it imports, then waits.

    Use it once: :meth:`run` or :meth:`cancel` (see the module notes).
    """

    def __init__(self, root: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "compendium.build.renderer", str(root)],
            cwd=root,
            stdin=subprocess.PIPE,
        )

    def run(self, arguments: list[str]) -> int:
        """Render with ``jupyter-book``'s ``arguments``; return its exit status."""
        try:
            self.process.stdin.write(json.dumps(arguments).encode() + b"\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # it died: its status says so
        return self.process.wait()

    def cancel(self) -> None:
        """End the process without rendering (nothing to do when it has already run)."""
        if not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait()


def _extensions(root: Path) -> list[str]:
    """Return the modules the book's Sphinx configuration names, the engine's excepted."""
    import yaml
    from jupyter_book.config import get_default_sphinx_config

    names = list(get_default_sphinx_config()["extensions"])
    try:
        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
        names += list((config.get("sphinx") or {}).get("extra_extensions") or [])
    except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError):
        pass  # Jupyter Book reports a broken configuration itself, when it renders
    return [name for name in names if isinstance(name, str) and name.split(".")[0] != "compendium"]


def _preload(root: Path) -> None:
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
    import importlib

    for name in [*PRELOAD, *_extensions(root)]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the render imports it again and reports the error
            pass


def main() -> None:
    """Preload, wait for the arguments on stdin, render, exit with the render's status."""
    root = Path(sys.argv[1])
    preload = threading.Thread(target=_preload, args=(root,), daemon=True)
    preload.start()
    try:
        line = sys.stdin.buffer.readline()
    except KeyboardInterrupt:
        os._exit(130)
    if not line.strip():
        os._exit(0)  # cancelled, or the build is gone
    preload.join()
    from jupyter_book.cli.main import main as jupyter_book

    sys.argv = [str(Path(sys.executable).parent / "jupyter-book")]
    try:
        jupyter_book(json.loads(line), prog_name="jupyter-book")
        status = 0
    except SystemExit as done:  # as Python itself ends on it
        status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    except KeyboardInterrupt:
        status = 130
    except BaseException:  # noqa: BLE001 - shown as the command itself would show it
        import traceback

        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
