"""Provenance: which chapter made a table or figure, from which data, with which code.

Chapters (:mod:`compendium.presentation.chapter`) display every table and figure with
``chapter.show(obj)``. Under each one a short line names the chapter,
the data files read to make it (with the first 8 hex digits of their SHA-256), the package
version and the git commit.

The same record serves the data-aware execution cache (:mod:`compendium.build.execution`): after a
chapter has run, the executor asks its kernel for :func:`kernel_inputs`, the data files any
study in that kernel was read from and the ``compendium`` modules it loaded, and re-executes
the chapter only when one of those, or its code, changes.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from compendium import __version__, paths
from compendium.contract.loading import READ_IN_PROCESS, Study

if TYPE_CHECKING:
    import pandas as pd


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


def loaded_modules() -> list[str]:
    """Return the source file, relative to the package, of every loaded ``compendium`` module."""
    package_dir = paths.PACKAGE_DIR
    found = set()
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if (name == "compendium" or name.startswith("compendium.")) and source:
            source = Path(source).resolve()
            if source.is_relative_to(package_dir):
                found.add(source.relative_to(package_dir).as_posix())
    return sorted(found)


def kernel_inputs() -> dict[str, object]:
    """Return what this process's chapters depended on, as JSON-ready data.

    Returns
    -------
    dict
        ``data``: for each package directory read, the sorted data file names read from it;
        ``modules``: the ``compendium`` source files loaded (see :func:`loaded_modules`).
    """
    data: dict[str, list[str]] = {}
    for data_dir, resource in sorted(READ_IN_PROCESS):
        data.setdefault(data_dir, []).append(resource)
    return {"data": data, "modules": loaded_modules()}


def provenance_html(chapter: str, study: Study, files: set[str]) -> str:
    """Return the provenance line for an output made by ``chapter`` from the package ``files``."""
    from compendium.presentation.html import render

    listed = [{"name": name, "digest": study.file_digest(name)[:8]} for name in sorted(files)]
    return str(
        render(
            "provenance.html",
            chapter=chapter,
            files=listed,
            version=__version__,
            commit=git_commit(),
        )
    )


# --------------------------------------------------------------------------- the provenance page

#: Packages whose versions the provenance page reports: the build, the analysis, the checks.
KEY_PACKAGES = (
    "jupyter-book",
    "sphinx",
    "myst-nb",
    "jupyter-cache",
    "pandas",
    "numpy",
    "plotly",
    "matplotlib",
    "seaborn",
    "nbclient",
    "nbformat",
    "ipykernel",
    "jsonschema",
    "pytest-notebook",
)


def data_files_table(study: Study) -> pd.DataFrame:
    """Return one row per file of the study's data package, with its size and SHA-256.

    Every resource is read to count its rows, so the provenance line under the table lists
    every file too.

    Returns
    -------
    pandas.DataFrame
        Columns ``file``, ``description``, ``rows``, ``bytes`` and ``sha256``; the study
        descriptor and the package descriptor come first (they have no rows).
    """
    import pandas as pd

    from compendium.contract.descriptor import DESCRIPTOR_FILE
    from compendium.contract.schema import PACKAGE_FILE, read_package_json

    package = read_package_json(study.data_dir)
    study.note_read(DESCRIPTOR_FILE)
    rows = [
        {"file": DESCRIPTOR_FILE, "description": "Study descriptor", "rows": pd.NA},
        {
            "file": PACKAGE_FILE,
            "description": package.get("title", "Package descriptor"),
            "rows": pd.NA,
        },
    ]
    for resource in package["resources"]:
        rows.append(
            {
                "file": resource["path"],
                "description": resource.get("description", ""),
                "rows": len(getattr(study, resource["name"])),
            }
        )
    frame = pd.DataFrame(rows).astype({"rows": "Int64"})
    frame["bytes"] = [(study.data_dir / name).stat().st_size for name in frame["file"]]
    frame["sha256"] = [study.file_digest(name) for name in frame["file"]]
    return frame


def _constraints_text(field: dict) -> str:
    """Return a field's constraints in a few words, e.g. ``required; one of a, b``."""
    rules = field.get("constraints", {})
    parts = [name for name in ("required", "unique") if rules.get(name)]
    if "enum" in rules:
        parts.append("one of " + ", ".join(str(v) for v in rules["enum"]))
    if "pattern" in rules:
        parts.append(f"matches {rules['pattern']}")
    for name, word in (("minimum", "≥"), ("maximum", "≤")):
        if name in rules:
            parts.append(f"{word} {rules[name]}")
    return "; ".join(parts)


def schema_table(descriptor: dict) -> pd.DataFrame:
    """Return one row per field of every resource: its type, constraints and keys.

    Parameters
    ----------
    descriptor
        A Frictionless data package descriptor (``datapackage.json`` as a dict).

    Returns
    -------
    pandas.DataFrame
        Columns ``file``, ``field``, ``type``, ``constraints`` and ``key`` (``primary`` and/or
        ``→ table.field`` for a foreign key).
    """
    import pandas as pd

    rows = []
    for resource in descriptor["resources"]:
        schema = resource["schema"]
        primary = schema.get("primaryKey", [])
        primary = [primary] if isinstance(primary, str) else primary
        foreign = {}
        for key in schema.get("foreignKeys", []):
            fields = key["fields"] if isinstance(key["fields"], list) else [key["fields"]]
            target = key["reference"]
            targets = target["fields"] if isinstance(target["fields"], list) else [target["fields"]]
            for name, other in zip(fields, targets, strict=True):
                foreign[name] = f"→ {target.get('resource') or resource['name']}.{other}"
        for field in schema["fields"]:
            keys = (["primary"] if field["name"] in primary else []) + (
                [foreign[field["name"]]] if field["name"] in foreign else []
            )
            rows.append(
                {
                    "file": resource["path"],
                    "field": field["name"],
                    "type": field.get("type", "any"),
                    "constraints": _constraints_text(field),
                    "key": ", ".join(keys),
                }
            )
    return pd.DataFrame(rows)


def environment_table() -> pd.DataFrame:
    """Return what this page was built with: Python, the key packages, version and commit.

    Returns
    -------
    pandas.DataFrame
        Columns ``component`` and ``version``.
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import pandas as pd

    rows = [
        ("Python", platform.python_version()),
        ("platform", platform.platform(terse=True)),
        ("compendium", __version__),
        ("git commit", git_commit()),
    ]
    for name in KEY_PACKAGES:
        try:
            rows.append((name, version(name)))
        except PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["component", "version"])


def files_display(chapter, files: pd.DataFrame):
    """Return :func:`data_files_table` styled, credited to every file it lists."""
    from compendium.presentation.tables import style_table

    shown = style_table(
        files.rename(columns=str.capitalize).rename(columns={"Sha256": "SHA-256"}),
        "provenance-files",
        "Files of the data package: rows, size in bytes and SHA-256",
    )
    # A digest may break anywhere, so the table fits the column instead of scrolling.
    shown = shown.set_properties(subset=["SHA-256"], **{"overflow-wrap": "anywhere"})
    shown.compendium_reads = set(files["file"])
    return shown


def fields_display(chapter, fields: pd.DataFrame):
    """Return :func:`schema_table` as a sortable table, credited to the package descriptor it summarises.

    Its names and allowed values are written as the package's files hold them (ids, not labels).
    """
    from compendium.presentation.tables import sortable_table, style_table

    shown = sortable_table(
        style_table(
            fields.rename(columns=str.capitalize),
            "provenance-fields",
            "Every field of every table: type, constraints and keys (datapackage.json)",
            literal=True,
        )
    )
    shown.compendium_reads = {"datapackage.json"}
    return shown


def environment_display(chapter, environment: pd.DataFrame):
    """Return :func:`environment_table` styled (made from the running software, not from data)."""
    from compendium.presentation.tables import style_table

    return style_table(
        environment.rename(columns=str.capitalize),
        "provenance-environment",
        "Software that executed this page",
    )
