"""Chapter templates: assembled from shared sections, filled in for a study, and checked.

``templates/kinds.yaml`` lists the templates: one per kind of stage (evidence review,
interviews, focus groups, think-aloud, survey, trial) and one per chapter that spans the study
(overview, the paper's tables, the trace, the intervention, reproduction, provenance). Each is a
sequence of section fragments (``templates/sections/*.md``), so a section several templates
share is written once. :func:`render_chapter` fills a template in for one study (its stage id,
page name and title) and returns a MyST-Markdown notebook.

A chapter is an *instance* of its template when every code cell of the filled-in template
appears in the chapter, in the same order; narrative, and extra cells, may stand between them.
:func:`missing_cells` says which template cells a chapter lacks, so a test can hold this
study's hand-written chapters to the same code path a student's generated ones follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from compendium import paths
from compendium.contract.descriptor import Descriptor, Stage

TEMPLATES_DIR = paths.PACKAGE_DIR / "templates"
KINDS_FILE = TEMPLATES_DIR / "kinds.yaml"


@dataclass(frozen=True)
class Template:
    """A chapter template: its kind, sections, the modules it needs, and its scope."""

    kind: str
    scope: str  # "stage" or "study"
    sections: tuple[str, ...]
    needs: tuple[str, ...] = ()
    page: str | None = None
    when: str | None = None


@cache
def templates() -> dict[str, Template]:
    """Return every template by kind (stage templates first)."""
    spec = yaml.safe_load(KINDS_FILE.read_text(encoding="utf-8"))
    found = {}
    for scope in ("stage", "study"):
        for kind, entry in spec[scope].items():
            found[kind] = Template(
                kind=kind,
                scope=scope,
                sections=tuple(entry["sections"]),
                needs=tuple(entry.get("needs", ())),
                page=entry.get("page"),
                when=entry.get("when"),
            )
    return found


def template_source(kind: str) -> str:
    """Return a template's text: its section fragments joined, not yet filled in."""
    template = templates()[kind]
    parts = [
        (TEMPLATES_DIR / "sections" / f"{name}.md").read_text(encoding="utf-8").strip("\n")
        for name in template.sections
    ]
    return "\n\n".join(parts) + "\n"


def _environment():
    import jinja2

    # Markdown, not HTML: nothing to escape, but an undefined name is an error, not a blank.
    return jinja2.Environment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )


def stage_title(descriptor: Descriptor, stage: Stage) -> str:
    """Return a stage chapter's title, e.g. ``Stage 2: Developing theory``."""
    return f"Stage {stage.id}: {stage.name}"


def render_chapter(kind: str, descriptor: Descriptor, stage: Stage | None = None) -> str:
    """Return the MyST-Markdown notebook of a template filled in for this study.

    Parameters
    ----------
    kind
        A template kind (see :func:`templates`).
    descriptor
        The study descriptor.
    stage
        The stage, for a stage template.
    """
    template = templates()[kind]
    if (template.scope == "stage") != (stage is not None):
        raise ValueError(
            f"template {kind!r} is for a {template.scope}, not a {'stage' if stage else 'study'}"
        )
    page = stage.chapter if stage else template.page
    context = {
        "descriptor": descriptor,
        "stage": stage,
        "page": page,
        "title": stage_title(descriptor, stage) if stage else None,
        "kind": kind,
    }
    return _environment().from_string(template_source(kind)).render(**context)


def code_cells(text: str) -> list[str]:
    """Return the source of every code cell of a MyST-Markdown notebook, in order."""
    import jupytext

    notebook = jupytext.reads(text, fmt="md:myst")
    return [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]


def missing_cells(chapter: str, template: str) -> list[str]:
    """Return the template's code cells that the chapter lacks, in order.

    Each template cell must match a chapter cell exactly, and the matches must come in the
    template's order (extra chapter cells may stand between them).
    """
    own = code_cells(chapter)
    missing, position = [], 0
    for cell in code_cells(template):
        try:
            position = own.index(cell, position) + 1
        except ValueError:
            missing.append(cell)
    return missing


def front_matter(text: str) -> dict:
    """Return a MyST-Markdown text's YAML front matter, as jupytext's MyST reader reads it.

    Reading only the front matter (markdown-it's front-matter rule, then LibYAML when it is
    there) costs a few milliseconds where parsing the whole notebook with jupytext costs tens:
    ``compendium check`` reads every chapter's front matter on every build. Front matter that
    is not valid YAML is left to jupytext, so it fails with jupytext's own error.
    """
    tokens = _front_matter_parser().parse(text + "\n")
    if not tokens or tokens[0].type != "front_matter":
        return {}
    try:
        metadata = yaml.load(
            tokens[0].content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except yaml.YAMLError:
        import jupytext

        return dict(jupytext.reads(text, fmt="md:myst").metadata)
    return metadata if isinstance(metadata, dict) else {}


@cache
def _front_matter_parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    # As jupytext's MyST reader finds it; the "zero" preset parses nothing else.
    return MarkdownIt("zero").use(front_matter_plugin)


def chapter_kind(text: str) -> str | None:
    """Return the template kind a chapter declares in its front matter (``compendium: template``)."""
    return (front_matter(text).get("compendium") or {}).get("template")


def chapter_stage(text: str) -> str | None:
    """Return the stage id a stage chapter declares in its front matter (``compendium: stage``)."""
    stage = (front_matter(text).get("compendium") or {}).get("stage")
    return None if stage is None else str(stage)
