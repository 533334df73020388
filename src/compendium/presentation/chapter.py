"""A chapter's handle on its study: what it shows, and how each number reaches the page.

Every chapter opens with one cell that says which page it is::

    chapter = Chapter.for_stage("2")   # a stage chapter: learns its stage from study.yaml
    chapter = Chapter("trace")         # a chapter that spans the stages

and then reaches everything through it:

- ``chapter.study``: the validated data package (:class:`~compendium.contract.loading.Study`);
- ``chapter.measures``: the typed measures (:class:`~compendium.analysis.measures.Measures`);
- ``chapter.stage``, ``chapter.activities``, ``chapter.analyses``: what this stage collected;
- ``chapter.show(obj)``: a table or figure, then its provenance line;
- ``chapter.glue(name, value)``: a number for the prose, through disclosure control, marked
  with its origin;
- ``chapter.not_applicable(text)``: the short note a section shows when its data are absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from compendium.analysis.disclosure import is_small, small_cell_threshold
from compendium.analysis.measures import Measures
from compendium.contract.loading import Study, load_study
from compendium.presentation.provenance import provenance_html


class Chapter:
    """One page of the book and its study; see the module docstring.

    Parameters
    ----------
    page
        The page name (its file name without ``.md``), e.g. ``"trace"``.
    data_dir
        The data package to load; by default :func:`compendium.paths.data_dir`.
    study
        The study, when it is loaded already (``data_dir`` is then not read).
    """

    def __init__(self, page: str, data_dir: Path | None = None, *, study: Study | None = None):
        self.page = page
        self.study: Study = load_study(data_dir) if study is None else study
        self.descriptor = self.study.descriptor
        self.measures = Measures(self.study)
        self.stage = self.descriptor.stage_for_chapter(page)
        self.threshold = small_cell_threshold(self.descriptor)
        self.study.take_read()
        _reset_reads_at_each_cell(self.study)

    @classmethod
    def for_stage(cls, stage_id: str, data_dir: Path | None = None) -> Chapter:
        """Return the chapter of stage ``stage_id``; its page name comes from ``study.yaml``."""
        # The study's own descriptor names the page: reading study.yaml again would check it
        # against its schema a second time (a few tenths of a second in every stage chapter).
        study = load_study(data_dir)
        return cls(study.descriptor.stage(str(stage_id)).chapter, study=study)

    # what the stage holds ---------------------------------------------------

    @property
    def activities(self) -> pd.DataFrame:
        """Return this stage's rows of ``activities`` (all activities on a cross-cutting page)."""
        activities = self.study.activities
        if self.stage is None:
            return activities
        return activities[activities["stage_id"] == self.stage.id]

    @property
    def activity_ids(self) -> list[str]:
        """Return the ids of this stage's activities, in data order."""
        return list(self.activities["activity_id"])

    @property
    def analyses(self) -> list[str]:
        """Return this stage's coded activities (those with a codebook), in data order."""
        coded = set(self.study.codes["activity_id"])
        return [a for a in self.activity_ids if a in coded]

    @property
    def took_part(self) -> list[str]:
        """Return the statuses of people who contributed data (declared in ``study.yaml``)."""
        return list(self.descriptor.took_part)

    def rows(self, resource: str) -> pd.DataFrame:
        """Return the rows of ``resource`` that belong to this stage (all of them on a study page).

        A table keyed by activity is filtered to the stage's activities; one keyed by person
        (``attendance``, ``survey_responses``) to the stage's participants. A resource of a
        module the package does not include gives an empty table with the contract's columns,
        so the pandas steps after it run and the section shows its not-applicable note.
        """
        if not self.study.has(resource):
            return empty_table(resource)
        table = getattr(self.study, resource)
        if self.stage is None:
            return table
        if "activity_id" in table.columns:
            return table[table["activity_id"].isin(self.activity_ids)]
        if "participant_id" in table.columns:
            people = self.study.participants
            own = people.loc[people["activity_id"].isin(self.activity_ids), "participant_id"]
            return table[table["participant_id"].isin(own)]
        return table

    def each_analysis(self, compared: bool = False):
        """Yield this stage's coded activities; show a not-applicable note when there are none.

        With ``compared``, yield nothing (and say so once) when the study declares no
        comparison group.
        """
        if compared and self.descriptor.comparison is None:
            self.show(self.not_applicable("the study declares no comparison group."))
            return
        if not self.analyses:
            self.show(self.not_applicable("this stage coded no transcripts or answers."))
        yield from self.analyses

    def each_breakdown(self):
        """Yield the breakdowns ``study.yaml`` declares for this stage; a note when there are none."""
        breakdowns = self.stage.breakdowns if self.stage else ()
        if not breakdowns:
            self.show(self.not_applicable("the study names no code for this stage to break down."))
        yield from breakdowns

    def label(self, activity_id: str) -> str:
        """Return an activity's display label."""
        activities = self.study.activities.set_index("activity_id")["label"]
        return str(activities[activity_id])

    # output -----------------------------------------------------------------

    def show(self, obj) -> None:
        """Display a table or figure, then its provenance line.

        The line names the data files read in the current cell, and any the object itself
        records (``obj.compendium_reads``, set by helpers that built it earlier).
        """
        from IPython.display import HTML, display

        display(obj)
        if isinstance(obj, NotApplicable):
            return
        if hasattr(obj, "savefig"):  # matplotlib: shown once, then released
            import matplotlib.pyplot as plt

            plt.close(obj)
        reads = set(self.study.read) | set(getattr(obj, "compendium_reads", ()))
        display(HTML(provenance_html(self.page, self.study, reads)))

    def shown_number(self, value) -> str:
        """Return a number as prose shows it: a small count of people becomes ``<k``."""
        people = getattr(value, "people", None)
        if people is not None and is_small(people, self.threshold):
            return f"<{self.threshold}"
        return str(value)

    def glue(
        self, name: str, value, records: bool = False, hidden: str | None = None, people=None
    ) -> None:
        """Glue a number (or text) for the prose, as ``{glue:text}`name```, marked with its origin.

        Counts of people pass through disclosure control first (:meth:`shown_number`): a hidden
        count shows only its marker. A measured value (from ``chapter.measures``) then carries
        its origin's mark, as in the tables (:mod:`compendium.presentation.origin`); so does a
        number the chapter computed from the package's records when ``records`` is true. Other
        values (text, counts of this compendium's own files, rows and checks) carry none.
        ``hidden`` replaces that text (a table's secondary suppression hid the value, or the
        caller worked out the text itself). A count of people (a value with ``.people``, or
        ``people=True`` for text made from one) is glued with ``compendium: {people: true}`` in
        its output's metadata, so a check of the built book can find every count of people the
        prose shows.
        """
        from myst_nb import glue

        from compendium.presentation.origin import glued_text

        text = hidden if hidden is not None else glued_text(self, value, records)
        if people is None:
            people = getattr(value, "people", None) is not None
        glue(name, _Glued(text, people), display=False)

    def glue_breakdown(self, breakdown, rows: pd.DataFrame) -> None:
        """Glue every count of a breakdown for the prose, as ``<code>_<column>``.

        Also glues ``<parent>_children_<sources|references>`` (the children's counts added up)
        and ``<parent>_overlap_<...>`` (how much larger that sum is than the parent's own count,
        because a person or passage coded under two children counts once for the parent).
        """
        from compendium.analysis.disclosure import marker
        from compendium.presentation.origin import combined_origin, origin_mark
        from compendium.presentation.sections import breakdown_shown

        hidden = breakdown_shown(self, rows)
        for i, row in enumerate(rows.itertuples(index=False)):
            for column in ("sources", "references", "percent"):
                if column in rows.columns:
                    value = getattr(row, column)
                    self.glue(f"{row.code_id}_{column}", value, hidden=hidden[column][i])
        children, parent = rows.iloc[:-1], rows.iloc[-1]
        for column in ("sources", "references"):
            total = int(sum(int(v) for v in children[column]))
            # Computed from the counts shown: derived when each of them is published.
            mark = origin_mark(combined_origin(self, [*children[column], parent[column]]))
            # With a child hidden, the children's sum (or the overlap, with the parent's own
            # count) would give it back: both are hidden too.
            withheld = marker(self.threshold) if any(hidden[column][:-1]) else None
            people = getattr(parent["sources"], "people", None) if column == "sources" else None
            for part, count in (("children", total), ("overlap", total - int(parent[column]))):
                counted = _Counted(count, people)
                shown = withheld or self.shown_number(counted)
                text = f"{count}{mark}" if shown == str(count) else shown
                self.glue(f"{breakdown.code}_{part}_{column}", counted, hidden=text)

    def not_applicable(self, text: str) -> NotApplicable:
        """Return the short note a section shows when the package has no data for it."""
        return NotApplicable(text)


class _Glued(str):
    """What :meth:`Chapter.glue` glues: the text the prose shows, marked when it counts people."""

    def __new__(cls, text: str, people: bool):
        made = super().__new__(cls, text)
        made.text = str(text)
        made.counts_people = people
        return made

    def _repr_mimebundle_(self, include=None, exclude=None):
        metadata = {"compendium": {"people": True}} if self.counts_people else {}
        # repr, as IPython shows a str: myst-nb's glue role reads it back with literal_eval
        return {"text/plain": repr(self.text)}, metadata


class _Counted(int):
    """A count worked out from counts of people (a sum, a difference), itself one of people."""

    def __new__(cls, value: int, people):
        made = super().__new__(cls, value)
        made.people = None if people is None else int(value)
        return made


class NotApplicable:
    """A section's note that the package holds no data for it; shown without a provenance line."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        from compendium.presentation.html import render

        return str(render("not_applicable.html", text=self.text))

    def __repr__(self) -> str:
        return f"Not applicable: {self.text}"


def empty_table(resource: str) -> pd.DataFrame:
    """Return an empty table with the contract's columns of ``resource`` (typed as loading types them)."""
    from compendium.contract.loading import PANDAS_DTYPES
    from compendium.contract.schema import contract

    fields = contract()["resources"][resource]["fields"]
    return pd.DataFrame({f["name"]: pd.Series(dtype=PANDAS_DTYPES[f["type"]]) for f in fields})


def _reset_reads_at_each_cell(study: Study) -> None:
    """Start the study's record of reads afresh at each cell, so a line credits its own cell."""
    try:
        from IPython import get_ipython
    except ImportError:  # outside IPython every read accumulates until shown
        return
    shell = get_ipython()
    if shell is None:
        return
    # One callback per shell: a chapter created twice in a session replaces the old one.
    for callback in list(shell.events.callbacks["pre_run_cell"]):
        if getattr(callback, "compendium", False):
            shell.events.unregister("pre_run_cell", callback)

    def reset(*_args) -> None:
        study.take_read()

    reset.compendium = True
    shell.events.register("pre_run_cell", reset)
