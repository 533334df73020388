"""Tables for the book: styled, captioned, escaped, and downloadable as safe CSV.

Every table a chapter shows goes through :func:`style_table` (stable element ids, a caption,
escaped cells) and, where readers may want the numbers, :func:`downloadable_table`, which adds
an offline CSV download whose cells cannot run as spreadsheet formulas.
"""

from __future__ import annotations

import base64
import re

import pandas as pd

from compendium.presentation.html import escape, fragment

NONE_MARK = "\u2013"  # en dash, as printed tables mark an empty cell
#: Characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CELL_STYLES = [
    {"selector": "td", "props": "text-align: left; vertical-align: top;"},
    {"selector": "th", "props": "text-align: left; vertical-align: top;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left;"},
    {"selector": "ul", "props": "margin: 0; padding-left: 1.1em;"},
]


def element_id(text: str) -> str:
    """Return ``text`` as a safe HTML id: characters other than letters, digits, ``_``, ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(text))


def style_table(frame: pd.DataFrame, uuid: str, caption: str, hide_index: bool = True):
    """Return a Styler with a stable id, an escaped caption and escaped cells.

    Parameters
    ----------
    frame
        The table to show.
    uuid
        Stable id, so the HTML is the same on every build (made safe by :func:`element_id`).
    caption
        Caption shown above the table.
    hide_index
        Hide the row index (the default) when it carries no information.
    """
    # The Styler escapes cells and header labels (below) but writes the index's and the
    # columns' level names as they are: they are escaped here, on a copy.
    frame = frame.copy(deep=False)
    frame.index = frame.index.set_names([_escaped_name(n) for n in frame.index.names])
    frame.columns = frame.columns.set_names([_escaped_name(n) for n in frame.columns.names])
    styler = frame.style.set_uuid(element_id(uuid)).set_caption(str(escape(caption)))
    styler = styler.format(na_rep=NONE_MARK, escape="html")
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    styler = styler.set_table_styles(CELL_STYLES).set_table_attributes('class="compendium-table"')
    return styler.hide(axis="index") if hide_index else styler


def _escaped_name(name: object) -> object:
    return None if name is None else str(escape(name))


def cell_lines(value: object) -> str:
    """Return a cell as escaped HTML; a value of several lines becomes a bulleted list."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return NONE_MARK
    lines = str(value).split("\n")
    if len(lines) == 1:
        return str(escape(lines[0]))
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def styled_table(frame: pd.DataFrame, uuid: str, caption: str, hide_index: bool = False):
    """Return :func:`style_table` with multi-line cells shown as lists (text stays escaped)."""
    return style_table(frame, uuid, caption, hide_index).format(cell_lines)


def neutralise(value: object) -> object:
    """Return a cell safe to open in a spreadsheet: text that could start a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV with flat headers and formula-safe cells (:func:`neutralise`)."""
    flat = frame.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" / ".join(str(level) for level in col) for col in flat.columns]
    if not isinstance(flat.index, pd.RangeIndex):
        flat.index.names = [name or "" for name in flat.index.names]
        flat = flat.reset_index()
    flat.columns = [neutralise(str(c)) for c in flat.columns]
    flat = flat.astype(object).map(neutralise)
    return flat.to_csv(index=False)


def downloadable_table(frame: pd.DataFrame, name: str, caption: str, shown=None):
    """Return an HTML display: the styled table, then a link to download ``frame`` as CSV.

    The link holds the CSV as a ``data:`` URL, so it needs no server or network.

    Parameters
    ----------
    frame
        The table; the CSV holds exactly these values.
    name
        Fixes the table's element ids and names the file ``<name>.csv``.
    caption
        Caption shown above the table.
    shown
        The Styler to show, when it differs from the default :func:`styled_table`.
    """
    styler = shown if shown is not None else styled_table(frame, name, caption)
    payload = base64.b64encode(csv_text(frame).encode("utf-8")).decode("ascii")
    return fragment(
        "download.html",
        table=_trusted(styler.to_html()),
        filename=f"{element_id(name)}.csv",
        payload=payload,
    )


def _trusted(html: str):
    from markupsafe import Markup

    # The Styler escaped every cell, header and the caption (see style_table), so its HTML
    # goes into the template as it is.
    return Markup(html)
