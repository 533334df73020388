"""Every location the project reads or writes, in one place.

The data directory can be redirected with the ``COMPENDIUM_DATA`` environment
variable, so a student's own package (or a test's broken copy) is used without
editing any chapter.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = ROOT / "book"
BUILD_DIR = ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"
DEFAULT_DATA_DIR = ROOT / "data"
PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
#: The specification of this project's own study (`make data` realises it as data/).
SPEC_DIR = ROOT / "spec"


def data_dir() -> Path:
    """Return the data-package directory: ``$COMPENDIUM_DATA`` if set, else ``data/``."""
    override = os.environ.get("COMPENDIUM_DATA")
    return Path(override).resolve() if override else DEFAULT_DATA_DIR
