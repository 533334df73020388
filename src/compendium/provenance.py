"""Provenance: which chapter made a table or figure, from which data, with which code.

Chapters open with ``chapter = Chapter("service-user-interviews")`` and display every
table and figure with ``chapter.show(obj)``. Under each one a short line names the chapter,
the data files read to make it (with the first 8 hex digits of their SHA-256), the package
version and the git commit.
"""

from __future__ import annotations

import hashlib
import html
import subprocess
from functools import cache
from pathlib import Path

from . import __version__, paths
from .loading import Study, load_study


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@cache
def git_commit(root: Path = paths.ROOT) -> str:
    """Return the short commit of ``root``, with ``+dirty`` for uncommitted changes, or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "data", "book"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def provenance_html(chapter: str, study: Study, resources: set[str]) -> str:
    """Return the provenance line for an output made by ``chapter`` from ``resources``."""
    paths_by_name = {name: study.data_dir / f"{name}.csv" for name in sorted(resources)}
    files = ", ".join(
        f"<code>{html.escape(p.name)}</code>&nbsp;({file_sha256(p)[:8]})"
        for p in paths_by_name.values()
    )
    files = files or "no data files"
    return (
        '<p class="provenance">'
        f"Made by <code>{html.escape(chapter)}</code> from {files}; "
        f"compendium {html.escape(__version__)}, commit <code>{html.escape(git_commit())}</code>."
        "</p>"
    )


class Chapter:
    """One chapter's handle on the data and on how its outputs are shown.

    Parameters
    ----------
    name
        The chapter's page name, e.g. ``"service-user-interviews"``.
    data_dir
        The data package to load; by default :func:`compendium.paths.data_dir`.
    """

    def __init__(self, name: str, data_dir: Path | None = None):
        self.name = name
        self.study = load_study(data_dir)
        self.study.take_read()

    def show(self, obj) -> None:
        """Display a table or figure, then its provenance line."""
        from IPython.display import HTML, display

        display(obj)
        if hasattr(obj, "savefig"):  # matplotlib: shown once, then released
            import matplotlib.pyplot as plt

            plt.close(obj)
        display(HTML(provenance_html(self.name, self.study, self.study.take_read())))
