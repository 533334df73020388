"""Where each word and number comes from, said the same way everywhere in the book.

This module is the one place where the book decides and writes an origin; tables, figures,
TIDieR, the trace and every glued number in the prose use it.

Text carries a ``wording``: ``verbatim`` (the paper's words), ``paraphrase`` (the paper's
content in this project's words), ``reconstruction`` (inferred, not printed) or ``synthetic``
(invented for the synthetic data). A piece of text is followed by its wording's note in
parentheses, e.g. "(the paper's words)" (:func:`worded`).

Numbers carry an ``origin``: ``published`` (printed in the paper), ``derived`` (computed from
published numbers), ``reconstructed`` (inferred, not printed) or ``synthetic``. A number the
measures compute from a real package's records, and that no paper printed, is ``from the
data``. A number carries its origin's mark after it: none when published (or from the data),
``‡`` derived, ``*`` reconstructed, ``†`` synthetic (:func:`number_text`); a caption ends with
the legend of the marks it uses (:func:`legend`). Marks are characters, never colour alone.

Disclosure comes first: a count of people hidden by the small-cell rule shows only its marker
(``<k``), which carries no mark, since the mark of a hidden number would say nothing true.
"""

from __future__ import annotations

import numbers

WORDING_NOTES = {
    "verbatim": "the paper's words",
    "paraphrase": "our paraphrase of the paper",
    "reconstruction": "reconstructed, not printed as such",
    "synthetic": "synthetic, newly written",
}
NUMBER_ORIGINS = ("published", "derived", "reconstructed", "synthetic")
#: Origins a number computed from published numbers keeps: the result is ``derived``.
SUPPORTED = ("published", "derived")

#: The mark a number carries after it, by origin; a published number carries none.
MARKS = {
    "published": "",
    "from the data": "",
    "derived": "\u2021",
    "reconstructed": "*",
    "synthetic": "\u2020",
}
LEGEND = {
    "derived": "\u2021 derived from published numbers",
    "reconstructed": "* reconstructed, not printed in the paper",
    "synthetic": "\u2020 synthetic",
}


# --------------------------------------------------------------------------- text


def wording_note(wording: object) -> str:
    """Return how a piece of text's wording is described to readers (empty when unknown)."""
    return WORDING_NOTES.get(str(wording), "") if isinstance(wording, str) else ""


def worded(text: object, wording: object) -> str:
    """Return ``text`` followed by its wording's note in parentheses, e.g. ``(the paper's words)``."""
    note = wording_note(wording)
    return f"{text} ({note})" if note else str(text)


def worded_list(texts, wordings, sep: str = "; ") -> str:
    """Return texts joined by ``sep``: one note at the end when they share a wording, else one each."""
    texts, wordings = list(texts), list(wordings)
    if len(set(wordings)) == 1:
        return worded(sep.join(map(str, texts)), wordings[0])
    return sep.join(worded(t, w) for t, w in zip(texts, wordings, strict=True))


# --------------------------------------------------------------------------- numbers


def records_origin(chapter) -> str:
    """Return the origin of a number computed from the package's records that no paper printed."""
    return "synthetic" if chapter.study.synthetic else "from the data"


def number_origin(chapter, value) -> str:
    """Return the origin of a number shown on ``chapter``'s page.

    A measured value that reproduces a row of ``published_figures`` has that row's origin. A
    percentage of measured values is ``derived`` when every number it is computed from has an
    origin the paper supports (published or derived). Any other number is ``synthetic`` on a
    synthetic package and ``from the data`` on a real one (:func:`records_origin`).
    """
    origin = getattr(value, "origin", None)
    if origin:
        return str(origin)
    call = getattr(value, "call", None)
    if call is not None and call.name == "percent":
        parts = [v for _, v in call.kwargs if hasattr(v, "kwargs")]
        origins = [chapter.measures.published.get(part, (None, None))[1] for part in parts]
        if parts and all(o in SUPPORTED for o in origins):
            return "derived"
    return records_origin(chapter)


def combined_origin(chapter, values) -> str:
    """Return the origin of a number computed from ``values`` (a sum, say).

    ``derived`` when every one of them is published or derived, else :func:`records_origin`.
    """
    origins = [number_origin(chapter, v) for v in values]
    if origins and all(o in SUPPORTED for o in origins):
        return "derived"
    return records_origin(chapter)


def count_origin(chapter, *values) -> str:
    """Return the origin of a group of measured numbers shown together (e.g. sources, references).

    One word when they share it; otherwise each differing one, e.g. ``sources published,
    references synthetic`` (in the order given: sources, then references).
    """
    origins = [number_origin(chapter, v) for v in values]
    if len(set(origins)) == 1:
        return origins[0]
    names = ("sources", "references")
    return ", ".join(f"{name} {origin}" for name, origin in zip(names, origins, strict=False))


def origin_mark(origin: object) -> str:
    """Return the mark of a number's origin: none when published, else ``‡``, ``*`` or ``†``."""
    return MARKS.get(str(origin), "") if isinstance(origin, str) else ""


def number_text(chapter, value, unit: str = "", origin: str | None = None) -> str:
    """Return a number as the page shows it: through disclosure control, then its origin's mark.

    A count of people hidden by the small-cell rule shows only the marker (``<k``), which
    carries no mark. ``unit`` follows the number and precedes the mark. ``origin`` overrides
    the number's own (:func:`number_origin`).
    """
    shown = chapter.shown_number(value)
    if shown != str(value):
        return shown
    text = f"{shown} {unit}" if unit else shown
    return f"{text}{origin_mark(origin or number_origin(chapter, value))}"


def hidden_text(chapter, value, hidden: bool, unit: str = "") -> str:
    """Return :func:`number_text`, or the marker when a table's suppression hid the value."""
    from compendium.analysis.disclosure import marker

    return marker(chapter.threshold) if hidden else number_text(chapter, value, unit)


def marked(chapter, value, shown: str | None = None) -> str:
    """Return a measured number as a table cell shows it: its text, then its origin's mark.

    ``shown`` replaces the number's own text (e.g. a disclosure marker, which carries no mark).
    """
    if shown is not None and shown != str(value):
        return shown
    return f"{value}{origin_mark(number_origin(chapter, value))}"


def glued_text(chapter, value, records: bool = False) -> str:
    """Return what ``chapter.glue`` puts in the prose for ``value``.

    Disclosure first: a hidden count shows only its marker. Then a number carries its
    origin's mark when it is a measured value (it knows its origin), or when ``records`` says
    the chapter computed it from the package's records; any other value (text, a count of this
    compendium's own files, rows or checks) is shown as it is.
    """
    shown = chapter.shown_number(value)
    if shown != str(value):
        return shown
    is_number = isinstance(value, numbers.Number) and not isinstance(value, bool)
    if is_number and (records or hasattr(value, "call")):
        return f"{shown}{origin_mark(number_origin(chapter, value))}"
    return shown


def glue_marked(chapter, name: str, value) -> None:
    """Glue a number computed from the package's records, with its origin's mark."""
    chapter.glue(name, value, records=True)


def legend_text(origins) -> str:
    """Return the sentence (with a leading space) explaining the marks of ``origins``, or empty."""
    used = set(origins)
    parts = [LEGEND[o] for o in ("derived", "reconstructed", "synthetic") if o in used]
    if not parts:
        return ""
    plain = "Unmarked numbers are published in the paper" if "published" in used else ""
    return " " + "; ".join(p for p in [plain, *parts] if p) + "."


def legend(chapter, values) -> str:
    """Return :func:`legend_text` for the origins of measured ``values``."""
    return legend_text({number_origin(chapter, v) for v in values})
