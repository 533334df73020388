"""A chapter's handle on its study: what it shows, and how each number reaches the page.

Every chapter opens with one cell that says which page it is::

    chapter = Chapter.for_stage("2")   # a stage chapter: learns its stage from study.yaml
    chapter = Chapter("trace")         # a chapter that spans the stages

and then reaches everything through it:

- ``chapter.study``: the validated data package (:class:`~compendium.contract.loading.Study`);
- ``chapter.measures``: the typed measures (:class:`~compendium.analysis.measures.Measures`);
- ``chapter.stage``, ``chapter.activities``, ``chapter.analyses``: what this stage collected;
- ``chapter.show(obj)``: a table or figure, then its provenance line;
- ``chapter.glue(name, value)``: a number for the prose, through disclosure control;
- ``chapter.not_applicable(text)``: the short note a section shows when its data are absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from compendium.analysis.disclosure import is_small, small_cell_threshold
from compendium.analysis.measures import Measures
from compendium.contract.loading import Study, load_study
from compendium.presentation.html import fragment
from compendium.presentation.provenance import provenance_html


class Chapter:
    """One page of the book and its study; see the module docstring.

    Parameters
    ----------
    page
        The page name (its file name without ``.md``), e.g. ``"trace"``.
    data_dir
        The data package to load; by default :func:`compendium.paths.data_dir`.
    """

    def __init__(self, page: str, data_dir: Path | None = None):
        self.page = page
        self.study: Study = load_study(data_dir)
        self.descriptor = self.study.descriptor
        self.measures = Measures(self.study)
        self.stage = self.descriptor.stage_for_chapter(page)
        self.threshold = small_cell_threshold(self.descriptor)
        self.study.take_read()
        _reset_reads_at_each_cell(self.study)

    @classmethod
    def for_stage(cls, stage_id: str, data_dir: Path | None = None) -> Chapter:
        """Return the chapter of stage ``stage_id``; its page name comes from ``study.yaml``."""
        from compendium import paths
        from compendium.contract.descriptor import read_descriptor

        descriptor = read_descriptor(Path(data_dir) if data_dir else paths.data_dir())
        return cls(descriptor.stage(str(stage_id)).chapter, data_dir)

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

    def glue(self, name: str, value) -> None:
        """Glue a number (or text) for the prose, as ``{glue:text}`name```.

        Counts of people pass through disclosure control (:meth:`shown_number`).
        """
        from myst_nb import glue

        glue(name, self.shown_number(value), display=False)

    def not_applicable(self, text: str):
        """Return the short note a section shows when the package has no data for it."""
        return fragment("not_applicable.html", text=text)


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
