"""The pre-build check: which chapters of a book this data package can support.

A chapter declares the template it is an instance of in its front matter
(``compendium: {template: trial, stage: "5"}``). ``templates/kinds.yaml`` says what each
template cannot do without: ``needs`` names optional modules of the data contract (a trial
chapter needs the trial module), and ``when`` names a module, or a declaration of
``study.yaml`` (``tables``), whose presence makes a study-wide chapter apply at all. Sections
whose data are absent show a "not applicable" note, so only these requirements can make a
chapter fail; :func:`check_book` finds them before any kernel starts, and says what is missing
in plain words: ``book/pilot-trial.md: pilot-trial (template trial) needs the trial module: no
attendance.csv in data/``.

It also holds the table of contents and the study descriptor to each other. Every stage
``study.yaml`` declares must have its chapter in the table of contents, and every chapter that
names a stage must name a declared one. Both are errors, not warnings: a stage without its
chapter would vanish from the book without a word, and a chapter of an undeclared stage fails
as soon as it runs. A chapter is matched to its stage by the stage its front matter declares
or, when it declares none, by its page name (the stage's ``chapter`` in ``study.yaml``).

``python -m compendium check [--data DIR] [--toc _toc.yml]`` prints the report and exits 1
when a chapter is unsupported or the stages and chapters disagree; ``make book`` runs it before
executing anything.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from compendium import paths
from compendium.build.templates import Template, chapter_kind, chapter_stage, templates
from compendium.contract.descriptor import DESCRIPTOR_FILE, Descriptor, read_descriptor
from compendium.contract.problems import InvalidPackage, display_path
from compendium.contract.schema import (
    Module,
    modules,
    modules_present,
    read_package_json,
)
from compendium.failures import print_problems

#: Declarations of ``study.yaml`` that a template's ``when`` may name (besides modules).
DECLARATIONS = {"tables": "summary tables"}


@dataclass(frozen=True)
class Package:
    """What a data package holds, as far as chapters care: its descriptor and its modules."""

    path: Path
    descriptor: Descriptor
    modules: frozenset[str]

    @classmethod
    def read(cls, data_dir: Path) -> Package:
        """Return the package in ``data_dir`` (its descriptor checked, its resource list read).

        Raises
        ------
        compendium.contract.problems.InvalidPackage
            When ``study.yaml`` is invalid.
        OSError, ValueError
            When ``datapackage.json`` cannot be read as JSON.
        """
        data_dir = Path(data_dir)
        descriptor = read_descriptor(data_dir)
        resources = {r["name"] for r in read_package_json(data_dir)["resources"]}
        return cls(data_dir, descriptor, frozenset(modules_present(resources)))

    def has(self, name: str) -> bool:
        """Return whether the package holds module ``name``, or declares ``name`` (``tables``)."""
        if name in DECLARATIONS:
            return bool(getattr(self.descriptor, name))
        return name in self.modules

    def lacks(self, name: str) -> str:
        """Return, in plain words, what is missing for ``name``: a module, or a declaration."""
        where = display_path(self.path)
        if name in DECLARATIONS:
            return (
                f"{DECLARATIONS[name]} declared under `{name}`: none in "
                f"{display_path(self.path / DESCRIPTOR_FILE)}"
            )
        module = _module(name)
        files = ", ".join(f"{r}.csv" for r in module.resources)
        return f"the {module.label.lower()} module: no {files} in {where}/"


def _module(name: str) -> Module:
    return next(m for m in modules() if m.name == name)


@dataclass(frozen=True)
class ChapterSupport:
    """Whether one chapter of the table of contents can be built on the package, and why not."""

    source: Path
    page: str
    kind: str | None
    stage: str | None
    missing: tuple[str, ...] = ()

    @property
    def supported(self) -> bool:
        """True when nothing the chapter's template requires is missing."""
        return not self.missing

    def describe(self) -> str:
        """Return one line: the chapter, its template, and what it lacks if anything."""
        name = Path(self.page).name
        what = f"{name} (template {self.kind})" if self.kind else name
        if self.supported and self.kind is None:
            return f"{display_path(self.source)}: {what}: supported (declares no template)"
        if self.supported:
            return f"{display_path(self.source)}: {what}: supported"
        return f"{display_path(self.source)}: {what} needs {'; and '.join(self.missing)}"


def requirements(template: Template) -> tuple[str, ...]:
    """Return every module or declaration a template requires: its ``needs``, then its ``when``."""
    return template.needs + ((template.when,) if template.when else ())


def template_support(template: Template, package: Package) -> tuple[str, ...]:
    """Return what the package lacks for a template, one phrase per requirement unmet."""
    return tuple(package.lacks(name) for name in requirements(template) if not package.has(name))


def applies(template: Template, package: Package) -> bool:
    """Return whether a study-wide template applies to the package (its ``when`` is met)."""
    return template.when is None or package.has(template.when)


@dataclass(frozen=True)
class Report:
    """The outcome of the check: each chapter's support, and stages and chapters that disagree."""

    chapters: tuple[ChapterSupport, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every chapter is supported and every stage has exactly its chapter."""
        return all(c.supported for c in self.chapters) and not self.problems

    def lines(self) -> list[str]:
        """Return the report as a reader sees it: one line per chapter, then every problem."""
        shown = [c.describe() for c in self.chapters] + list(self.problems)
        supported = sum(c.supported for c in self.chapters)
        verdict = "" if self.ok else "; the book cannot be built until this is put right"
        shown.append(f"check: {supported} of {len(self.chapters)} chapters supported{verdict}")
        return shown


def _front_matter(source: Path) -> tuple[str | None, str | None]:
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".md":
        return chapter_kind(text), chapter_stage(text)
    import nbformat

    metadata = nbformat.reads(text, as_version=4).metadata.get("compendium") or {}
    stage = metadata.get("stage")
    return metadata.get("template"), None if stage is None else str(stage)


def chapter_support(source: Path, page: str, package: Package) -> ChapterSupport:
    """Return whether the chapter in ``source`` can be built on ``package``."""
    kind, stage = _front_matter(source)
    if kind is None:
        return ChapterSupport(source, page, None, stage)
    known = templates()
    if kind not in known:
        reason = f"a template the engine knows ({', '.join(known)}), not {kind!r}"
        return ChapterSupport(source, page, kind, stage, (reason,))
    return ChapterSupport(source, page, kind, stage, template_support(known[kind], package))


def toc_chapters(root: Path, toc: Path) -> list[tuple[str, Path]]:
    """Return (page name, source file) of every page of the table of contents, in its order."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    found = []
    for docname in parse_toc_yaml(toc if toc.is_absolute() else root / toc):
        for suffix in (".md", ".ipynb"):
            source = root / f"{docname}{suffix}"
            if source.is_file():
                found.append((docname, source))
                break
    return found


def stage_problems(chapters: list[ChapterSupport], package: Package, toc: Path) -> list[str]:
    """Return a line for each declared stage without a chapter, and each chapter of no stage."""
    descriptor = package.descriptor
    declared = {stage.id for stage in descriptor.stages}
    shown_toc = display_path(toc)
    shown_study = display_path(package.path / DESCRIPTOR_FILE)
    problems, covered = [], set()
    for chapter in chapters:
        if chapter.stage is not None:
            if chapter.stage not in declared:
                problems.append(
                    f"{display_path(chapter.source)}: declares stage {chapter.stage!r}, which "
                    f"{shown_study} does not declare (its stages: {', '.join(sorted(declared))})"
                )
            covered.add(chapter.stage)
            continue
        stage = descriptor.stage_for_chapter(Path(chapter.page).name)
        if stage is not None:
            covered.add(stage.id)
    for stage in descriptor.stages:
        if stage.id not in covered:
            problems.append(
                f"{shown_toc}: stage {stage.id} ({stage.name}) declared in {shown_study} has no "
                f"chapter; add book/{stage.chapter}.md to the table of contents (`python -m "
                f"compendium new` writes one from its template, {stage.template})"
            )
    return problems


def check_book(root: Path, toc: Path, data_dir: Path) -> Report:
    """Return which chapters of the book at ``root`` the package in ``data_dir`` supports.

    Parameters
    ----------
    root
        The book's root folder (holding ``_config.yml``).
    toc
        The table of contents, relative to ``root`` or absolute.
    data_dir
        The data package.

    Raises
    ------
    compendium.contract.problems.InvalidPackage
        When the package's ``study.yaml`` is invalid.
    """
    toc = toc if toc.is_absolute() else root / toc
    package = Package.read(data_dir)
    chapters = [chapter_support(source, page, package) for page, source in toc_chapters(root, toc)]
    return Report(tuple(chapters), tuple(stage_problems(chapters, package, toc)))


def book_data_dir(root: Path) -> Path:
    """Return the data package a book is built on.

    ``$COMPENDIUM_DATA`` when set; else ``data/`` in the book's folder ``root``, so an engine
    installed as a package still finds the data of the book it builds; else the engine's own
    default (:func:`compendium.paths.data_dir`), for a throwaway book with no data of its own.
    """
    own = Path(root) / "data"
    if os.environ.get("COMPENDIUM_DATA") or not own.is_dir():
        return paths.data_dir()
    return own


def run_check(root: Path, toc: Path, data_dir: Path, report_to: list[str] | None = None) -> int:
    """Print the check's report for the book at ``root`` and return its exit status (0 or 1).

    What ``python -m compendium check`` and ``make book`` run: supported chapters on stdout;
    each unsupported chapter, each problem and the verdict on stderr when the check fails; an
    invalid descriptor as its located problems, then one ``compendium: check:`` line.

    Parameters
    ----------
    root, toc, data_dir
        As for :func:`check_book`.
    report_to
        When given, receives the lines printed on stdout when the check passes.
    """
    if not (toc if toc.is_absolute() else root / toc).is_file():
        print(f"compendium: check: {toc}: no such table of contents", file=sys.stderr)
        return 1
    try:
        report = check_book(root, toc, data_dir)
    except InvalidPackage as exc:
        print_problems(exc.problems)
        print(f"compendium: check: {data_dir}: the study descriptor is invalid", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"compendium: check: {data_dir}: cannot read the package: {exc}", file=sys.stderr)
        return 1
    for chapter in report.chapters:
        print(chapter.describe(), file=sys.stdout if chapter.supported else sys.stderr)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    *_, verdict = report.lines()
    print(verdict, file=sys.stdout if report.ok else sys.stderr)
    if report.ok and report_to is not None:
        report_to.extend(report.lines())
    return 0 if report.ok else 1
