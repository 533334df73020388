"""Replace a data-package folder atomically: the whole old package, or the whole new one.

:func:`replace_package` writes the new files into a staging folder beside the target (the same
parent, so the same file system), fsyncs them, validates them there, and only then swaps the
staging folder into the target's place: in one atomic exchange where the OS offers one
(Linux's ``renameat2``), else by two renames. A kill at any moment leaves either the old package
or the new one, never a mix; the staging folders a killed run leaves behind are removed (or, in
the two-rename window, put back) by the next run into the same target.

The target must be missing, empty, or a package: a folder of the regular files a package holds.
Anything else (a file, a symbolic link, a folder with other files) is refused before anything is
written, so a mistyped ``--out`` cannot destroy someone's work. Runs into the same target must not
overlap; runs into different targets may.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from compendium.contract import schema
from compendium.contract.descriptor import DESCRIPTOR_FILE
from compendium.contract.problems import InvalidPackage, Problem, display_path


class UnsafeTarget(ValueError):
    """The target is something a package must not replace: a file, a link, or not a package."""


def _staging_pattern(name: str) -> re.Pattern:
    """Match the sibling folders a run into folder ``name`` stages in (``-new-``) or retires."""
    return re.compile(rf"^\.synth-{re.escape(name)}-(new|old)-[A-Za-z0-9_]{{8}}$")


def _package_names(folder: Path) -> set[str]:
    """Return the file names a data package in ``folder`` may hold."""
    names = {DESCRIPTOR_FILE, schema.PACKAGE_FILE} | {f"{r}.csv" for r in schema.known_resources()}
    try:
        listed = json.loads((folder / schema.PACKAGE_FILE).read_text(encoding="utf-8"))
        names |= {r["path"] for r in listed["resources"] if isinstance(r.get("path"), str)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no readable descriptor: only the contract's own file names count
    return names


def check_target(out_dir: Path) -> None:
    """Raise :class:`UnsafeTarget` unless ``out_dir`` may be replaced by a package.

    It may be missing, empty, or a data package: a folder of regular files that a package
    holds (``datapackage.json``, ``study.yaml`` and its CSV files), nothing else.
    """
    out_dir = Path(os.path.abspath(out_dir))
    shown = display_path(out_dir)
    if not out_dir.name:
        raise UnsafeTarget(f"{shown}: is not a folder a package can replace")
    if out_dir.is_symlink():
        raise UnsafeTarget(f"{shown}: is a symbolic link; give the folder itself; nothing written")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UnsafeTarget(f"{shown}: is a file, not a package folder; nothing written")
    allowed = _package_names(out_dir)
    strangers = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in out_dir.iterdir()
        if p.name not in allowed or p.is_symlink() or not p.is_file()
    )
    if strangers:
        listed = ", ".join(strangers[:3]) + (
            f" and {len(strangers) - 3} more" if len(strangers) > 3 else ""
        )
        verb = "is" if len(strangers) == 1 else "are"
        raise UnsafeTarget(
            f"{shown}: holds {listed}, which {verb} not part of a data package; nothing written"
        )


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directory entries in one atomic step; return False where the OS cannot.

    Linux's ``renameat2(..., RENAME_EXCHANGE)`` leaves no moment at which ``second`` is
    missing, unlike two renames. Python has no binding for it, hence ctypes.
    """
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _clean_stale(out_dir: Path) -> None:
    """Remove staging folders a killed run left beside ``out_dir``; restore a retired package.

    Only a run killed between the two renames of the fallback swap (no atomic exchange) leaves
    ``out_dir`` missing with its old package retired beside it; that package goes back.
    """
    pattern = _staging_pattern(out_dir.name)
    stale = sorted(p for p in out_dir.parent.iterdir() if pattern.match(p.name))
    for folder in stale:
        if pattern.match(folder.name).group(1) == "old" and not out_dir.exists():
            os.rename(folder, out_dir)
        else:
            shutil.rmtree(folder)
    if stale:
        _fsync_dir(out_dir.parent)


def replace_package(
    files: dict[str, bytes], out_dir: Path, problems: Callable[[Path], list[Problem]]
) -> Path:
    """Write a package to ``out_dir`` atomically, and only if it validates.

    Parameters
    ----------
    files
        The package's files (names within the folder) and their bytes.
    out_dir
        The folder the package goes to; its parent is made if missing.
    problems
        Returns the problems of the package in the folder it is given (the staging folder).

    Returns
    -------
    pathlib.Path
        ``out_dir``, made absolute.

    Raises
    ------
    UnsafeTarget
        When ``out_dir`` is a file, a symbolic link, or a folder holding anything but a package.
    InvalidPackage
        When the files do not make a valid package; nothing is written.
    """
    out_dir = Path(os.path.abspath(out_dir))
    check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".synth-{out_dir.name}-new-", dir=out_dir.parent))
    try:
        for name, data in files.items():
            _write_file(staging / name, data)
        _fsync_dir(staging)
        found = problems(staging)
        if found:
            # Name the files where they were meant to go: the staging folder is gone by now.
            staged, meant = display_path(staging), display_path(out_dir)
            raise InvalidPackage(
                [dataclasses.replace(p, path=p.path.replace(staged, meant, 1)) for p in found]
            )
        check_target(out_dir)  # again: it may have changed while the package was made
        if not out_dir.exists():
            os.rename(staging, out_dir)
        elif not _exchange(staging, out_dir):
            retired = Path(
                tempfile.mkdtemp(prefix=f".synth-{out_dir.name}-old-", dir=out_dir.parent)
            )
            os.rename(out_dir, retired)  # onto the empty folder mkdtemp made: POSIX allows it
            os.rename(staging, out_dir)
            staging = retired
        # After the exchange the staging name holds the old package; it goes below.
        _fsync_dir(out_dir.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new, never half.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the
    file is renamed over ``path`` (atomic on POSIX and Windows). An existing file's
    permissions are kept; a new file gets the usual ``0o666`` less the umask.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
