"""Every location the project reads or writes, in one place.

The compendium's root is the book this process works on: ``$COMPENDIUM_ROOT`` if set, else
the nearest folder at or above the working directory that holds a book (``_config.yml`` and
``_toc.yml``), else the source checkout the engine runs from. So the engine finds the right
book whether it runs from its own repository or is installed, pinned, in a compendium that
``compendium new`` made. The data directory can be redirected with the ``COMPENDIUM_DATA``
environment variable, so a student's own package (or a test's broken copy) is used without
editing any chapter.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _root() -> Path:
    override = os.environ.get("COMPENDIUM_ROOT")
    if override:
        return Path(override).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder
    source = PACKAGE_DIR.parents[1]
    return source if (source / "pyproject.toml").is_file() else here


ROOT = _root()
BOOK_DIR = ROOT / "book"
BUILD_DIR = ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"
DEFAULT_DATA_DIR = ROOT / "data"
RESOURCES_DIR = PACKAGE_DIR / "resources"
#: The specification of this project's own study (`make data` realises it as data/).
SPEC_DIR = ROOT / "spec"


def data_dir() -> Path:
    """Return the data-package directory: ``$COMPENDIUM_DATA`` if set, else ``data/``."""
    override = os.environ.get("COMPENDIUM_DATA")
    return Path(override).resolve() if override else DEFAULT_DATA_DIR
