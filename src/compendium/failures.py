"""How every command fails: one line, ``compendium: <what>: <why>``, and never a traceback.

Each entry point (``python -m compendium ...``, ``python -m compendium.build.pipeline``,
``python -m compendium.build.execution``,
``python -m compendium.build.pdf``, ``python -m compendium.build.verification``) runs its work
through :func:`guarded`. Errors a command expects (a bad package, a file it cannot write) are
caught where they happen and told in the command's own words; whatever is left (a bug, a full
disk, a package broken in a way no check foresaw) is caught here and told in one line too.
``--debug`` lets it through, with its traceback, for whoever needs to fix it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from compendium.contract.problems import SHOWN_PROBLEMS

#: Problems of an unexpected InvalidPackage named in its one line; the rest are counted.
SHOWN_IN_A_LINE = 3
DEBUG_HELP = "show the traceback of an unexpected error instead of one line"


def add_debug_flag(parser: argparse.ArgumentParser, default=False) -> None:
    """Give ``parser`` the ``--debug`` flag (``default=argparse.SUPPRESS`` on subcommands)."""
    parser.add_argument("--debug", action="store_true", default=default, help=DEBUG_HELP)


def usage_errors(parser: argparse.ArgumentParser, what: str | None) -> None:
    """Make ``parser`` report a usage error as ``compendium: <what>: usage: ...``, exit 2.

    ``what`` is None for the ``compendium`` command itself: ``compendium: usage: ...``.
    """
    prefix = "compendium: " if what is None else f"compendium: {what}: "

    def error(message: str):
        parser.print_usage(sys.stderr)
        parser.exit(2, f"{prefix}usage: {message}\n")

    parser.error = error


def print_problems(problems: list, limit: int = SHOWN_PROBLEMS) -> None:
    """Print located problems on stderr, one a line, then how many more when over ``limit``."""
    for problem in problems[:limit]:
        print(problem, file=sys.stderr)
    if len(problems) > limit:
        print(f"... and {len(problems) - limit} more", file=sys.stderr)


def reason(error: BaseException) -> str:
    """Return why ``error`` happened, in one line."""
    problems = getattr(error, "problems", None)
    if isinstance(problems, list) and problems:
        shown = "; ".join(str(p) for p in problems[:SHOWN_IN_A_LINE])
        more = len(problems) - SHOWN_IN_A_LINE
        return shown + (f"; … and {more} more" if more > 0 else "")
    if isinstance(error, OSError) and error.strerror:
        where = error.filename
        return f"{where}: {error.strerror}" if where else error.strerror
    text = " ".join(str(error).split())
    return text or type(error).__name__


def guarded(what: str, run: Callable[[], int], debug: bool = False) -> int:
    """Return ``run()``; an exception it raises becomes one line on stderr and exit status 1.

    Parameters
    ----------
    what
        The command, as the line names it (``validate``, ``pdf``).
    run
        The command's work; returns its exit status.
    debug
        Re-raise instead, so the traceback shows.
    """
    try:
        return run()
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"compendium: {what}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(
            f"compendium: {what}: {reason(error)} ({type(error).__name__}; --debug shows where)",
            file=sys.stderr,
        )
        return 1
