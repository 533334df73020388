"""Scaffolding: a complete new compendium for any valid data package.

``python -m compendium new DIR --data PKG`` (or ``--spec SPEC.yaml [--seed N]``, which first
generates a synthetic package with ``python -m compendium synth``) writes a book that builds at
once with ``make book``:

- ``data/``: the package, copied (or generated);
- ``book/<chapter>.md``: one chapter per stage, from the stage's template, and the study-wide
  chapters that apply (the overview, the paper's tables when ``study.yaml`` declares ``tables``,
  the trace, the intervention and the reproduction report when their modules are present, and
  provenance, then the reporting checklists GUIDED, TIDieR and COREQ), each a filled-in
  template whose narrative slots are marked admonitions;
- ``_toc.yml``: the overview as root, the stage chapters in stage order grouped into parts by
  framework phase, then the study-wide chapters; ``_config.yml``: settings every compendium
  shares (the title, author, footer and page metadata come from ``study.yaml`` at build time,
  see :mod:`compendium.build.sphinx_ext`);
- ``README.md``, ``CITATION.cff`` (Citation File Format 1.2.0, checked against its schema),
  ``Makefile`` and ``.gitignore``;
- ``vendor/`` and ``requirements/``: the engine, pinned.

How the new compendium gets the engine: as an installed, pinned package, not a copy of its
source. ``new`` builds a wheel of the engine it runs from (reproducibly: the same source gives
the same bytes) into ``vendor/``, and pins it by its SHA-256 in ``requirements/engine.txt``;
``requirements/lock.txt`` (every other package, with hashes) and ``requirements/uv.txt`` (the
installer) are copies of the engine's own locks. ``make`` installs ``.venv`` from those files
with hash checking, so the book is built by exactly the engine, and the libraries, it was made
with, and a later change to the engine reaches it only when someone replaces the wheel and its
pin. ``new`` therefore runs from a clone of the engine's repository, whose locks and source it
packs.

Everything is written in a temporary sibling folder and renamed into place at the end, so an
interrupted or refused ``new`` leaves nothing behind. ``new`` refuses a ``DIR`` that exists and is
not empty, and a package that fails validation (with the validator's located problems).

:func:`write_package_descriptor` (``python -m compendium schema DIR``) rewrites a package's
``datapackage.json`` from its ``study.yaml`` and the CSV files present, keeping the package-level
metadata: how a student adopts a newly declared attribute or vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import yaml

from compendium import __version__, paths
from compendium.build.support import Package, template_support
from compendium.build.templates import _environment as markdown_environment
from compendium.build.templates import render_chapter, templates
from compendium.contract.descriptor import Descriptor, Stage, read_descriptor
from compendium.contract.problems import InvalidPackage, display_path
from compendium.contract.schema import (
    PACKAGE_FILE,
    descriptor_text,
    known_resources,
    package_descriptor,
    package_metadata,
)
from compendium.contract.validation import validate_package

SCAFFOLD_DIR = paths.RESOURCES_DIR / "scaffold"
#: The Citation File Format project's JSON Schema of CFF 1.2.0 (CC BY 4.0), as cffconvert 2.0.0
#: ships it: a new compendium's CITATION.cff is checked against it before it is written.
CFF_SCHEMA = SCAFFOLD_DIR / "cff-1.2.0.schema.json"
#: The seed ``new --spec`` generates with when none is given.
DEFAULT_SEED = 1
#: Zip timestamps of the engine wheel (1980-01-01, the earliest a zip can hold): with a fixed
#: time, the same source always gives the same wheel, and so the same pinned hash.
WHEEL_EPOCH = "315532800"
#: The parts of the table of contents that hold the study-wide chapters, by template.
STUDY_PARTS = {
    "paper-tables": "From evidence to intervention",
    "trace": "From evidence to intervention",
    "intervention": "From evidence to intervention",
    "reproduction": "Reproducibility",
    "provenance": "Reproducibility",
    "checklist-guided": "Reporting",
    "checklist-tidier": "Reporting",
    "checklist-coreq": "Reporting",
    "glossary": "Reference",
    "bibliography": "Reference",
}
OTHER_PART = "The study as a whole"
ROOT_KIND = "overview"
#: Engine locks copied into a new compendium (made by the engine's ``make lock``).
LOCK_FILES = ("requirements/lock.txt", "requirements/uv.txt")
#: Files of the engine's own book every compendium's ``_config.yml`` refers to.
BOOK_ASSETS = ("book/_templates", "book/_static_assets")


class ScaffoldError(Exception):
    """``new`` or ``schema`` cannot go on; the message is one line: what, then why."""


# --------------------------------------------------------------------------- atomic writes


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, so no reader sees half."""
    from compendium.contract.writing import write_atomically

    write_atomically(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- package descriptor


def write_package_descriptor(data_dir: Path) -> tuple[Path, list[str]]:
    """Rewrite ``datapackage.json`` from ``study.yaml`` and the CSV files in ``data_dir``.

    The package-level metadata (name, title, licences, sources, ...) of an existing
    ``datapackage.json`` is kept; a package without one gets its name and title from
    ``study.yaml``. The resources are the contract's core and every table whose CSV file is
    present, each with the Table Schema the study's declarations imply.

    Returns
    -------
    tuple
        The file written, and the names of the resources it lists.

    Raises
    ------
    compendium.contract.problems.InvalidPackage
        When ``study.yaml`` is invalid (its problems, located).
    ScaffoldError
        When ``datapackage.json`` cannot be read, or a CSV file is not a table of the contract.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ScaffoldError(f"{display_path(data_dir)}: not a folder; expected a data package")
    descriptor = read_descriptor(data_dir)
    path = data_dir / PACKAGE_FILE
    if path.exists():
        metadata = package_metadata(_read_json_object(path))
    else:
        metadata = {"name": descriptor.id, "title": descriptor.title}
    known = known_resources()
    present = sorted(p.stem for p in data_dir.glob("*.csv"))
    for name in present:
        if name not in known:
            raise ScaffoldError(
                f"{display_path(data_dir / (name + '.csv'))}: not a table of the data contract; "
                f"expected one of {', '.join(known)} (rename or remove it)"
            )
    package = package_descriptor(descriptor, set(present), metadata)
    write_text_atomic(path, descriptor_text(package))
    return path, [r["name"] for r in package["resources"]]


def _read_json_object(path: Path) -> dict:
    shown = display_path(path)
    try:
        package = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ScaffoldError(
            f"{shown}:{exc.lineno}:{exc.colno}: is not valid JSON ({exc.msg}); its metadata "
            "cannot be kept: mend it, or delete it to start from study.yaml"
        ) from None
    except UnicodeDecodeError as exc:
        raise ScaffoldError(f"{shown}: is not UTF-8 text (byte {exc.start})") from None
    if not isinstance(package, dict):
        raise ScaffoldError(f"{shown}:1:1: expected a JSON object, got {type(package).__name__}")
    return package


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Engine:
    """The engine a new compendium installs: its wheel and the locks of its dependencies."""

    wheel: Path
    locks: tuple[Path, ...]
    version: str

    @property
    def sha256(self) -> str:
        """Return the SHA-256 of the wheel, as pinned in ``requirements/engine.txt``."""
        return hashlib.sha256(self.wheel.read_bytes()).hexdigest()


def engine_root() -> Path:
    """Return the root of the engine's source tree (the clone ``new`` runs from).

    Raises
    ------
    ScaffoldError
        When the engine is installed from a wheel, with no source or locks beside it.
    """
    root = paths.PACKAGE_DIR.parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == "compendium":
            return root
    raise ScaffoldError(
        f"{paths.PACKAGE_DIR}: the engine is installed as a package, without its source; run "
        "`python -m compendium new` from a clone of the engine's repository, whose source and "
        "locks it packs into the new compendium"
    )


def _wheel_command(root: Path, source: Path, out: Path) -> list[str]:
    uv = root / ".uv" / "bin" / "uv"
    found = str(uv) if uv.is_file() else shutil.which("uv")
    if found:
        return [found, "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)]
    return [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        str(out),
        str(source),
    ]


def build_engine(out: Path, root: Path | None = None) -> Engine:
    """Build a wheel of the engine into ``out`` and return it with the engine's locks.

    The wheel is built from a clean copy of the package's source (``pyproject.toml``,
    ``LICENSE`` and ``src/compendium`` without caches), so nothing is written into the clone
    and no stray file is packed; its zip timestamps are fixed, so the same source gives the
    same wheel.

    Raises
    ------
    ScaffoldError
        When the clone lacks its locks, or the build fails (with the builder's last line).
    """
    root = root or engine_root()
    locks = tuple(root / name for name in LOCK_FILES)
    for lock in locks:
        if not lock.is_file():
            raise ScaffoldError(
                f"{lock}: missing; a new compendium installs from the engine's hashed locks "
                "(run `make lock` in the engine's clone)"
            )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compendium-wheel-") as scratch:
        source = Path(scratch) / "source"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
        shutil.copytree(root / "src" / "compendium", source / "src" / "compendium", ignore=ignore)
        for name in ("pyproject.toml", "LICENSE"):
            shutil.copy2(root / name, source / name)
        command = _wheel_command(root, source, Path(scratch) / "dist")
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": WHEEL_EPOCH},
            check=False,
        )
        wheels = sorted((Path(scratch) / "dist").glob("compendium-*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            said = (result.stderr or result.stdout).strip().splitlines()
            why = said[-1] if said else f"exit status {result.returncode}"
            raise ScaffoldError(f"cannot build the engine's wheel with {command[0]}: {why}")
        wheel = out / wheels[0].name
        shutil.copy2(wheels[0], wheel)
    return Engine(wheel=wheel, locks=locks, version=__version__)


def engine_requirement(engine: Engine, wheel: Path) -> str:
    """Return ``requirements/engine.txt``: the vendored wheel, pinned by its SHA-256."""
    return (
        f"# The engine: the compendium package {engine.version}, built by `python -m compendium "
        "new`\n# and pinned by its SHA-256. To change the engine, replace the wheel in vendor/ "
        "and this\n# line together; `make` then reinstalls .venv.\n"
        f"./vendor/{wheel.name} --hash=sha256:{engine.sha256}\n"
    )


# --------------------------------------------------------------------------- the book


@dataclass(frozen=True)
class Page:
    """A chapter a new compendium gets: its page name, template, stage, and part of the book."""

    page: str
    kind: str
    stage: Stage | None
    part: str | None

    @property
    def docname(self) -> str:
        """Return the chapter's name in the table of contents, e.g. ``book/intro``."""
        return f"book/{self.page}"


def plan_pages(package: Package) -> list[Page]:
    """Return every chapter of a new compendium, in book order (the overview first).

    Raises
    ------
    ScaffoldError
        When a stage's template needs data the package lacks (the stage should declare
        another template in ``study.yaml``).
    """
    descriptor = package.descriptor
    known = templates()
    pages = []
    for kind, template in known.items():
        if template.scope == "study" and kind == ROOT_KIND:
            pages.append(Page(template.page, kind, None, None))
    for stage in descriptor.stages:
        lacking = template_support(known[stage.template], package)
        if lacking:
            raise ScaffoldError(
                f"stage {stage.id} ({stage.name}): its template, {stage.template}, needs "
                f"{'; and '.join(lacking)} (declare another `template` for the stage in "
                "study.yaml, or add the data)"
            )
        part = descriptor.framework.phase_label(stage.phase)
        pages.append(Page(stage.chapter, stage.template, stage, part))
    for kind, template in known.items():
        if template.scope != "study" or kind == ROOT_KIND:
            continue
        if not template_support(template, package):
            pages.append(Page(template.page, kind, None, STUDY_PARTS.get(kind, OTHER_PART)))
    return pages


def toc(pages: list[Page]) -> dict:
    """Return the table of contents: the first page as root, then parts of consecutive pages.

    Stage chapters sharing a phase stand in one part captioned with the phase's label;
    a phase the stages leave and come back to gets a part each time, so stage order holds.
    """
    root, *rest = pages
    parts: list[dict] = []
    for page in rest:
        if not parts or parts[-1]["caption"] != page.part:
            parts.append({"caption": page.part, "chapters": []})
        parts[-1]["chapters"].append({"file": page.docname})
    return {"format": "jb-book", "root": root.docname, "parts": parts}


def toc_text(pages: list[Page], descriptor: Descriptor) -> str:
    """Return ``_toc.yml``'s text, headed by a comment saying where it came from."""
    head = (
        "# Table of contents (jb-book), written by `python -m compendium new` from the stages of\n"
        f"# data/study.yaml, in parts by phase of: {descriptor.framework.name}.\n"
        "# The order lives only here; `make book` checks that every stage has its chapter.\n"
    )
    return head + yaml.safe_dump(toc(pages), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- citation


YEAR = re.compile(r"\((\d{4})\)")


def citation_cff(descriptor: Descriptor) -> dict:
    """Return ``CITATION.cff`` (Citation File Format 1.2.0) as a mapping.

    The compendium itself is the work cited (title and author from ``book:``, its DOI or URL
    when a citation of role ``compendium`` gives one); every other citation of ``study.yaml``
    is a reference, its full text in ``notes``.
    """
    book = descriptor.book
    cff: dict = {
        "cff-version": "1.2.0",
        "message": (
            "If you use this compendium, please cite it as below, and also cite the study it "
            "reproduces (listed under references)."
        ),
        "type": "software",
        "title": book.title,
        "authors": [{"name": book.author}],
    }
    if book.description:
        cff["abstract"] = " ".join(book.description.split())
    if book.keywords:
        cff["keywords"] = list(book.keywords)
    references = []
    for citation in descriptor.citations:
        if citation.role == "compendium":
            if citation.doi:
                cff["doi"] = citation.doi
            if citation.url:
                cff["url"] = citation.url
            continue
        year = YEAR.search(citation.short)
        reference: dict = {
            "type": "article" if citation.doi else "generic",
            "title": descriptor.title if citation.role == "study" else citation.short,
            "authors": [{"name": YEAR.sub("", citation.short).strip() or citation.short}],
        }
        if year:
            reference["year"] = int(year.group(1))
        if citation.doi:
            reference["doi"] = citation.doi
        if citation.url:
            reference["url"] = citation.url
        notes = " ".join(citation.text.split())
        if citation.fictional:
            notes = f"A fictional study, invented as an example. {notes}"
        reference["notes"] = notes
        references.append(reference)
    if references:
        cff["references"] = references
    return cff


@cache
def _cff_schema() -> dict:
    return json.loads(CFF_SCHEMA.read_text(encoding="utf-8"))


def cff_problems(cff: dict) -> list[str]:
    """Return where ``cff`` breaks the Citation File Format 1.2.0 schema, one line each."""
    import jsonschema

    validator = jsonschema.Draft7Validator(_cff_schema())
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {error.message}"
        for error in sorted(validator.iter_errors(cff), key=lambda e: list(e.absolute_path))
    ]


def citation_text(descriptor: Descriptor) -> str:
    """Return ``CITATION.cff``'s text.

    Raises
    ------
    ScaffoldError
        When what ``study.yaml`` says cannot make a valid CFF file (the first problem).
    """
    cff = citation_cff(descriptor)
    problems = cff_problems(cff)
    if problems:
        raise ScaffoldError(
            f"CITATION.cff: the citations of study.yaml break Citation File Format 1.2.0: "
            f"{problems[0]}"
        )
    head = "# Written by `python -m compendium new` from data/study.yaml (book, citations).\n"
    return head + yaml.safe_dump(cff, sort_keys=False, allow_unicode=True, width=100)


# --------------------------------------------------------------------------- other files


def scaffold_file(name: str, **context) -> str:
    """Return ``resources/scaffold/<name>`` filled in with ``context``.

    The files are filled in as the chapter templates are (``[[ name ]]``, ``[% tag %]``,
    nothing escaped: they are Markdown, YAML and make, not HTML), so ``{{`` in a Makefile or
    ``{glue:text}`` in Markdown needs no quoting.
    """
    text = (SCAFFOLD_DIR / name).read_text(encoding="utf-8")
    return markdown_environment().from_string(text).render(**context)


# --------------------------------------------------------------------------- new


def _refuse_existing(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ScaffoldError(f"{target}: exists and is not a folder; choose a new folder")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(f"{target}: exists and is not empty; choose a new or empty folder")


def _generate(spec: Path, seed: int, out: Path) -> None:
    """Generate the synthetic package of ``spec`` into ``out`` with ``compendium synth``."""
    if not spec.is_file():
        raise ScaffoldError(f"{spec}: no such specification file")
    command = [sys.executable, "-m", "compendium", "synth"]
    command += ["--spec", str(spec), "--seed", str(seed), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise ScaffoldError(
            f"{spec}: the generator failed: "
            + (" | ".join(said[:5]) or f"exit {result.returncode}")
        )


def _copy_package(source: Path, target: Path) -> None:
    """Copy a package, its files only (hidden files and caches left behind)."""
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(".*", "__pycache__"),
        symlinks=True,
    )


def create(
    target: Path,
    data: Path | None = None,
    spec: Path | None = None,
    seed: int = DEFAULT_SEED,
    engine: Engine | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Write a new compendium into ``target`` for a data package, and return its path.

    Parameters
    ----------
    target
        A folder that does not exist yet, or is empty.
    data
        A valid data package to copy in as ``data/``.
    spec
        Instead of ``data``: a specification to generate a synthetic package from.
    seed
        The generator's seed, with ``spec``.
    engine
        A wheel already built by :func:`build_engine`, to reuse; by default one is built.
    log
        Called with a line for each step.

    Raises
    ------
    ScaffoldError
        When ``target`` is not empty, a stage's template needs missing data, the engine cannot
        be packed, or the generator fails; nothing is written.
    compendium.contract.problems.InvalidPackage
        When the package is invalid; nothing is written.
    """
    if (data is None) == (spec is None):
        raise ScaffoldError("give either a data package (--data) or a specification (--spec)")
    target = Path(target).absolute()
    _refuse_existing(target)
    if data is not None:
        problems = validate_package(Path(data))
        if problems:
            raise InvalidPackage(problems)
        plan_pages(Package.read(Path(data)))  # refuse early, naming the student's own folder
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        _write(work, target, data, spec, seed, engine, log)
        _refuse_existing(target)  # again: something may have been put there meanwhile
        if target.is_dir():
            target.rmdir()
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def _write(
    work: Path,
    target: Path,
    data: Path | None,
    spec: Path | None,
    seed: int,
    engine: Engine | None,
    log: Callable[[str], None],
) -> None:
    data_dir = work / "data"
    if spec is not None:
        log(f"new: generating the synthetic package of {spec} (seed {seed})")
        _generate(Path(spec), seed, data_dir)
        problems = validate_package(data_dir)
        if problems:
            raise InvalidPackage(problems)
    else:
        log(f"new: copying the data package {data}")
        _copy_package(Path(data), data_dir)
    package = Package.read(data_dir)
    descriptor = package.descriptor
    # What a stage lacks is said of the package where the student will find it.
    pages = plan_pages(replace(package, path=Path(data) if data else target / "data"))
    book = work / "book"
    book.mkdir()
    for page in pages:
        text = render_chapter(page.kind, descriptor, page.stage)
        (book / f"{page.page}.md").write_text(text, encoding="utf-8")
    log(f"new: {len(pages)} chapters from their templates: {', '.join(p.page for p in pages)}")
    (work / "_toc.yml").write_text(toc_text(pages, descriptor), encoding="utf-8")
    (work / "CITATION.cff").write_text(citation_text(descriptor), encoding="utf-8")
    root = engine_root()
    for name in BOOK_ASSETS:
        shutil.copytree(root / name, work / name)
    context = {
        "descriptor": descriptor,
        "pages": pages,
        "spec": spec,
        "seed": seed,
        "engine_version": __version__,
    }
    for name, target in (
        ("_config.yml", "_config.yml"),
        ("Makefile", "Makefile"),
        ("README.md", "README.md"),
        ("gitignore", ".gitignore"),
    ):
        (work / target).write_text(scaffold_file(name, **context), encoding="utf-8")
    log("new: packing the engine (a wheel pinned by its SHA-256) and its locks")
    vendor = work / "vendor"
    vendor.mkdir()
    if engine is None:
        engine = build_engine(vendor, root)
        wheel = engine.wheel
    else:
        wheel = vendor / engine.wheel.name
        shutil.copy2(engine.wheel, wheel)
    requirements = work / "requirements"
    requirements.mkdir()
    for lock in engine.locks:
        shutil.copy2(lock, requirements / lock.name)
    (requirements / "engine.txt").write_text(engine_requirement(engine, wheel), encoding="utf-8")
