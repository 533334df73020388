"""What is wrong with a package, said once per problem, on one line, with where it is.

Every check of the data contract (the study descriptor, the package descriptor, the CSV files,
the cross-table rules) reports :class:`Problem` objects, so a student sees one format:

- ``data/participants.csv:12: column 'age_band': '99+' is not one of 18-24, 25-34, ...``
- ``data/study.yaml:14:12: stages[1].phase: 'piloting' is not a phase of the framework; ...``

``line`` is the line in the file (a CSV header is line 1); ``position`` is the character column
where the file format gives one (YAML, JSON, XML); ``field`` names the column or key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: How many problems a message lists before it says how many more there are.
SHOWN_PROBLEMS = 50


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a file, located by line (and column where known)."""

    path: str
    line: int | None
    field: str | None
    message: str
    position: int | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.position is not None:
                where += f":{self.position}"
        if self.field is None:
            label = ""
        elif self.position is not None or self.path.endswith((".yaml", ".yml", ".json")):
            label = f" {self.field}:"
        else:
            label = f" column '{self.field}':"
        return f"{where}:{label} {self.message}"


class InvalidPackage(ValueError):
    """Raised when a package (or its study descriptor) fails validation; carries the problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__(describe(self.problems))


def describe(problems: list[Problem], limit: int = SHOWN_PROBLEMS) -> str:
    """Return a message listing ``problems``, one a line, capped with "... and N more"."""
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    lines = [str(p) for p in problems[:limit]]
    if count > limit:
        lines.append(f"... and {count - limit} more")
    return f"the data package is invalid ({count} {noun}):\n" + "\n".join(lines)


def display_path(path: Path) -> str:
    """Return ``path`` relative to the working directory when it lies beneath it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # a different drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative
