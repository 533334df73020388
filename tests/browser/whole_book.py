"""Build this study's whole book, as ``make book`` does, in a folder of its own on any package.

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``) are copied into the folder, so
the build's caches and HTML stay there and the project's own ``_build`` is untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import mirror, update_file

from compendium import paths

from .conftest import run_build_step


def build_book(root: Path, data: Path, **environment: str) -> Path:
    """Build the book into ``root`` on the package ``data``; return its HTML folder.

    ``root`` may hold an earlier build: its sources are brought up to date with the book's
    and the pipeline then executes and renders only what changed since.

    ``environment`` adds variables (e.g. ``COMPENDIUM_SMALL_CELL="5"``). Raises
    AssertionError with the build's last output when a step fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        update_file(paths.ROOT / name, root / name)
    mirror(paths.ROOT / "book", root / "book")
    env = {
        **os.environ,
        **environment,
        "COMPENDIUM_DATA": str(data),
        "COMPENDIUM_ROOT": str(root),
    }
    # What `make book` runs: check, execute, then render with book_command()'s flags.
    step = [sys.executable, "-m", "compendium.build.pipeline", "--root", str(root)]
    run = run_build_step(step, root, env, timeout=1800)
    assert run.returncode == 0, f"{' '.join(step[:3])} failed:\n{run.stdout[-6000:]}"
    return root / "_build" / "html"
