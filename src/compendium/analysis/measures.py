"""The numbers a book prints, as typed calls on a study.

A chapter asks ``measures.participants(activity="A2-INT", status="interviewed")`` or
``measures.sources("A2-1.1.1")``; a published figure in ``published_figures.csv`` says the same
thing as an expression, ``participants('A2-INT', status='interviewed')``, which
:mod:`compendium.analysis.expressions` parses into calls of these same methods. The measures
are therefore the one place where a count is defined, and the expression language accepts
exactly the methods marked :func:`measure` here.

Every result is a :class:`Count` (an ``int``) or a :class:`Quantity` (a ``float``) that also
knows the canonical call that made it, the published figure it reproduces (if any), and, for
counts of people, how many people it rests on, so the presentation layer can mark its origin
and apply disclosure control to it without being told.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import pandas as pd

from compendium.analysis.themes import code_counts


class MeasureError(ValueError):
    """A measure asked of data that cannot answer it: unknown ids, columns, a zero denominator."""


@dataclass(frozen=True)
class Call:
    """A canonical measure call: its name and every argument by keyword, sorted.

    Two calls that mean the same (``participants('A2-INT')`` and
    ``participants(activity='A2-INT')``) are equal and hash alike.
    """

    name: str
    kwargs: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        def show(value: Any) -> str:
            if isinstance(value, Call):
                return str(value)
            if isinstance(value, tuple):
                return "[" + ", ".join(show(v) for v in value) + "]"
            return repr(value)

        return f"{self.name}({', '.join(f'{k}={show(v)}' for k, v in self.kwargs)})"


class _Measured:
    """What every measured number carries besides its value."""

    call: Call
    figure_id: str | None
    origin: str | None
    people: int | None

    def _tag(self, call: Call, figure: tuple[str, str] | None, people: int | None):
        self.call = call
        self.figure_id, self.origin = figure if figure else (None, None)
        self.people = people
        return self


class Count(_Measured, int):
    """An integer made by a measure (see the module docstring)."""

    def __repr__(self) -> str:
        return int.__repr__(self)


class Quantity(_Measured, float):
    """A non-integer number made by a measure (see the module docstring)."""

    def __repr__(self) -> str:
        return float.__repr__(self)


def _freeze(value: Any) -> Any:
    if isinstance(value, _Measured):
        return value.call
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def measure(people: str | None = None) -> Callable:
    """Mark a method of :class:`Measures` as a measure; its result is tagged (see the module).

    Parameters
    ----------
    people
        How the result relates to people: ``"count"`` when it counts people,
        ``"numerator"`` when it is a share whose first argument counts them.
    """

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @wraps(function)
        def tagged(self: Measures, *args, **kwargs):
            call = canonical(function.__name__, args, kwargs, signature)
            value = function(self, *args, **kwargs)
            if people == "count":
                count = int(value)
            elif people == "numerator":
                count = getattr(args[0] if args else kwargs.get("numerator"), "people", None)
            else:
                count = None
            figure = self.published.get(call)
            if figure is None and function.__name__ == "participants":
                # The same people, asked for another way, are the same published count.
                figure = self.published_selections().get(self.last_selection)
            kind = Count if float(value).is_integer() else Quantity
            number = kind(int(value) if kind is Count else value)
            return number._tag(call, figure, count)

        tagged.is_measure = True
        return tagged

    return decorate


def canonical(name: str, args, kwargs: dict, signature=None) -> Call:
    """Return the canonical :class:`Call` of measure ``name`` with these arguments.

    Every argument is bound to its parameter by keyword, defaults are filled in and ``None``
    left out, lists become tuples and measured numbers the calls that made them; so
    ``participants('A2-INT')`` and ``participants(activity='A2-INT')`` give one call.
    """
    signature = signature or inspect.signature(getattr(Measures, name))
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise MeasureError(f"{name}: {exc}") from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("self")
    extra = arguments.pop("filters", {})
    merged = {**arguments, **extra}
    return Call(name, tuple(sorted((k, _freeze(v)) for k, v in merged.items() if v is not None)))


def measure_names() -> frozenset[str]:
    """Return the names of every measure: the whitelist of the expression language."""
    return frozenset(name for name, f in vars(Measures).items() if getattr(f, "is_measure", False))


class Measures:
    """The measures of one study; see the module docstring.

    Parameters
    ----------
    study
        A loaded :class:`~compendium.contract.loading.Study`.
    """

    def __init__(self, study):
        self.study = study
        self._counts: pd.DataFrame | None = None
        self.published: dict[Call, tuple[str, str]] = {}
        self.last_selection: frozenset = frozenset()
        self._selections: dict[frozenset, tuple[str, str]] | None = None
        if study.has("published_figures"):
            from compendium.analysis.expressions import canonical_call

            figures = study.tables["published_figures"]
            for expression, figure_id, origin in zip(
                figures["expression"], figures["figure_id"], figures["origin"], strict=True
            ):
                try:
                    self.published[canonical_call(expression)] = (figure_id, origin)
                except MeasureError:
                    continue  # reported by the validator, not here

    def published_selections(self) -> dict[frozenset, tuple[str, str]]:
        """Return, for each published count of participants, the set of people it counts.

        A chapter may count the same people with other filters than the paper's expression
        (the interviewees who attended all ten sessions, or those who said they did); it is
        still the paper's number, so its origin is looked up by the people, not the wording.
        """
        if self._selections is None:
            self._selections = {}
            kept = self.last_selection
            for call, figure in self.published.items():
                if call.name != "participants":
                    continue
                try:
                    Measures.participants.__wrapped__(self, **dict(call.kwargs))
                except MeasureError:
                    continue  # a figure that cannot be evaluated is the validator's to report
                self._selections.setdefault(self.last_selection, figure)
            self.last_selection = kept
        return self._selections

    # helpers ---------------------------------------------------------------

    def _activity(self, activity: str) -> pd.Series:
        activities = self.study.activities.set_index("activity_id")
        if activity not in activities.index:
            raise MeasureError(f"no activity {activity!r} in activities.csv")
        return activities.loc[activity]

    def _code(self, code: str) -> str:
        counts = self.counts()
        if code not in counts.index:
            raise MeasureError(f"no code {code!r} in codes.csv")
        return code

    def counts(self) -> pd.DataFrame:
        """Return sources and references of every code (:func:`compendium.analysis.themes.code_counts`)."""
        s = self.study
        if self._counts is None:
            self._counts = code_counts(s.codes, s.segments, s.codings)
        else:  # the counts rest on these files whenever they are used, not only when first made
            for name in ("codes", "segments", "codings"):
                s.note_read(f"{name}.csv")
        return self._counts

    def people(self, columns=()) -> pd.DataFrame:
        """Return participants, joined with their trial allocation and attendance when ``columns`` need it."""
        people = self.study.participants
        if self.study.has("attendance") and any(c not in people.columns for c in columns):
            people = people.merge(self.study.attendance, on="participant_id", how="left")
        return people

    # measures --------------------------------------------------------------

    @measure(people="count")
    def participants(
        self,
        activity: str | list[str] | None = None,
        status: str | list[str] | None = None,
        role: str | list[str] | None = None,
        **filters: Any,
    ) -> int:
        """Return how many participants match: an activity, statuses, roles, any other column.

        Filters name a column of ``participants`` (a declared attribute, ``site_id``) or of
        ``attendance`` (``arm``, ``sessions_attended``, ``attendance_pattern``); a list
        matches any of its values.
        """
        wanted = {"activity_id": activity, "status": status, "role": role, **filters}
        people = self.people([c for c, v in wanted.items() if v is not None])
        mask = pd.Series(True, index=people.index)
        for column, value in wanted.items():
            if value is None:
                continue
            if column == "activity_id":
                for one in value if isinstance(value, list | tuple) else [value]:
                    self._activity(one)
            if column not in people.columns:
                known = [
                    c for c in people.columns if c not in ("participant_id", "label", "group_id")
                ]
                raise MeasureError(
                    f"participants: no column {column!r} to filter on; expected one of {', '.join(known)}"
                )
            values = list(value) if isinstance(value, list | tuple) else [value]
            mask &= people[column].isin(values).fillna(False).astype(bool)
        self.last_selection = frozenset(people.loc[mask.to_numpy(), "participant_id"])
        return int(mask.sum())

    @measure()
    def groups(self, activity: str) -> int:
        """Return how many focus groups an activity held."""
        self._activity(activity)
        if not self.study.has("focus_groups"):
            return 0
        return int((self.study.focus_groups["activity_id"] == activity).sum())

    @measure()
    def sites(self, activity: str) -> int:
        """Return how many sites an activity drew on (its groups' sites, else its people's)."""
        self._activity(activity)
        own = pd.DataFrame()
        if self.study.has("focus_groups"):
            groups = self.study.focus_groups
            own = groups[groups["activity_id"] == activity]
        if own.empty:
            people = self.study.participants
            own = people[people["activity_id"] == activity]
        return int(own["site_id"].nunique())

    @measure(people="count")
    def sources(self, code: str) -> int:
        """Return a code's sources: distinct transcripts (people or groups) coded there or beneath."""
        return int(self.counts().at[self._code(code), "sources"])

    @measure()
    def references(self, code: str) -> int:
        """Return a code's references: distinct segments coded there or beneath."""
        return int(self.counts().at[self._code(code), "references"])

    @measure()
    def themes(self, activity: str) -> int:
        """Return how many main themes (codes with no parent) an analysis has."""
        self._activity(activity)
        codes = self.study.codes
        return int(((codes["activity_id"] == activity) & codes["parent_id"].isna()).sum())

    @measure()
    def programmes(self, concept: str | None = None) -> int:
        """Return how many reviewed programmes there are, or how many hold ``concept``."""
        if not self.study.has("programmes"):
            raise MeasureError("the package has no programmes.csv (evidence review module)")
        if concept is None:
            return len(self.study.programmes)
        if concept not in set(self.study.concepts["concept_id"]):
            raise MeasureError(f"no concept {concept!r} in concepts.csv")
        links = self.study.programme_concepts
        return int((links["concept_id"] == concept).sum())

    def _component(self, component: str) -> pd.Series:
        if not self.study.has("components"):
            raise MeasureError("the package has no components.csv (intervention module)")
        components = self.study.components.set_index("component_id")
        if component not in components.index:
            raise MeasureError(f"no component {component!r} in components.csv")
        return components.loc[component]

    @measure()
    def component_quantity(self, component: str) -> float:
        """Return the quantity of an intervention component (e.g. its number of sessions)."""
        quantity = self._component(component)["quantity"]
        if pd.isna(quantity):
            raise MeasureError(f"component {component!r} has no quantity in components.csv")
        return float(quantity)

    @measure()
    def subcomponents(self, component: str) -> int:
        """Return how many components are part of ``component``."""
        self._component(component)
        return int((self.study.components["parent_id"] == component).sum())

    @measure()
    def stages(self) -> int:
        """Return how many stages the study declares."""
        return len(self.study.descriptor.stages)

    @measure(people="numerator")
    def percent(self, numerator: float, denominator: float, rounding: str = "half_up") -> int:
        """Return ``numerator`` as a whole percentage of ``denominator``, rounded as the paper did.

        ``rounding`` is ``"half_up"`` (78.5 -> 79) or ``"floor"`` (55.6 -> 55).
        """
        if rounding not in ("half_up", "floor"):
            raise MeasureError(
                f"percent: unknown rounding {rounding!r}; expected 'half_up' or 'floor'"
            )
        if denominator == 0:
            raise MeasureError("percent: the denominator is 0")
        share = 100 * numerator / denominator
        return math.floor(share) if rounding == "floor" else math.floor(share + 0.5)
