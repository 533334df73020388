"""Where each word and number comes from, said the same way everywhere in the book.

Text carries a ``wording``: ``verbatim`` (the paper's words), ``paraphrase`` (the paper's
content in this project's words), ``reconstruction`` (inferred, not printed) or ``synthetic``
(invented for the synthetic data). Numbers carry an ``origin``: ``published`` (printed in the
paper), ``derived`` (computed from published numbers), ``reconstructed`` (inferred, not
printed) or ``synthetic``. A number the measures compute from a real package's records, and
that no paper printed, is ``from the data``.
"""

from __future__ import annotations

WORDING_NOTES = {
    "verbatim": "the paper's words",
    "paraphrase": "our paraphrase of the paper",
    "reconstruction": "reconstructed, not printed as such",
    "synthetic": "synthetic, newly written",
}
NUMBER_ORIGINS = ("published", "derived", "reconstructed", "synthetic")


def wording_note(wording: object) -> str:
    """Return how a piece of text's wording is described to readers."""
    return WORDING_NOTES.get(str(wording), "") if isinstance(wording, str) else ""


def number_origin(study, value) -> str:
    """Return the origin of one measured number (see the module docstring)."""
    origin = getattr(value, "origin", None)
    if origin:
        return origin
    return "synthetic" if study.synthetic else "from the data"


def count_origin(study, *values) -> str:
    """Return the origin of a group of measured numbers shown together (e.g. sources, references).

    One word when they share it; otherwise each differing one, e.g. ``sources published,
    references synthetic`` (in the order given: sources, then references).
    """
    origins = [number_origin(study, v) for v in values]
    if len(set(origins)) == 1:
        return origins[0]
    names = ("sources", "references")
    return ", ".join(f"{name} {origin}" for name, origin in zip(names, origins, strict=False))


#: The mark a number carries after it in tables, by origin; a published number carries none.
MARKS = {
    "published": "",
    "from the data": "",
    "derived": "‡",
    "reconstructed": "*",
    "synthetic": "†",
}
LEGEND = {
    "derived": "‡ derived from published numbers",
    "reconstructed": "* reconstructed, not printed in the paper",
    "synthetic": "† synthetic",
}


def marked(study, value, shown: str | None = None) -> str:
    """Return a measured number as a table shows it: its text, then its origin's mark.

    ``shown`` replaces the number's own text (e.g. a disclosure marker, which carries no mark).
    """
    if shown is not None and shown != str(value):
        return shown
    return f"{value}{MARKS[number_origin(study, value)]}"


def legend(study, values) -> str:
    """Return the sentence that explains the marks used on ``values`` (empty when none is)."""
    used = {number_origin(study, v) for v in values}
    parts = [LEGEND[o] for o in ("derived", "reconstructed", "synthetic") if o in used]
    if not parts:
        return ""
    plain = "Unmarked numbers are published in the paper" if "published" in used else ""
    return " " + "; ".join([p for p in [plain, *parts] if p]) + "."
