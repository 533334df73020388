"""Tables for the book: styled, captioned, escaped, and downloadable as safe CSV.

Every table a chapter shows goes through :func:`style_table` (stable element ids, a caption,
escaped cells) and, where readers may want the numbers, :func:`downloadable_table`, which adds
an offline CSV download whose cells cannot run as spreadsheet formulas.

Tables come in three kinds, each marked by a class on the ``<table>`` that the book's style
sheet (``resources/compendium.css``) and the browser tests know:

- a *counts table* (:data:`COUNTS`) is made to be read at a glance: it fits the content column
  of a laptop screen, its long labels wrap instead of widening it;
- a *long reference table* (:data:`SORTABLE`: a codebook, the decisions, the schema) is also
  sortable and filterable in the browser. The table itself is the same escaped HTML as any other;
  the book's ``compendium.js`` adds the controls with DataTables, from the copy of it that the
  ``itables`` package ships (served from the book's own ``_static``, so nothing is fetched), and
  a reader without JavaScript, or of the PDF, gets the plain table;
- a *grouped table* (:func:`grouped_table`, great-tables): rows in labelled groups under column
  spanners, with footnotes, for the participants' characteristics.
"""

from __future__ import annotations

import base64
import re

import pandas as pd

from compendium.presentation.html import Markup, escape, fragment, render

NONE_MARK = "\u2013"  # en dash, as printed tables mark an empty cell
#: Characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CELL_STYLES = [
    {"selector": "td", "props": "text-align: left; vertical-align: top;"},
    {"selector": "th", "props": "text-align: left; vertical-align: top;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left;"},
    {"selector": "ul", "props": "margin: 0; padding-left: 1.1em;"},
]
TABLE_CLASS = "compendium-table"
#: Class of a counts table: it must fit a laptop's content column without scrolling.
COUNTS = "compendium-counts"
#: Class of a long reference table that the browser makes sortable and filterable.
SORTABLE = "compendium-sortable"
#: Class of a table that documents the package's files: it shows ids as the files write them.
LITERAL = "compendium-literal"
#: A codebook longer than this many rows is a long reference table too (sortable).
LONG_TABLE_ROWS = 20


def element_id(text: str) -> str:
    """Return ``text`` as a safe HTML id: characters other than letters, digits, ``_``, ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(text))


def style_table(
    frame: pd.DataFrame,
    uuid: str,
    caption: str,
    hide_index: bool = True,
    *,
    counts: bool = False,
    sortable: bool = False,
    literal: bool = False,
):
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
    counts
        Mark it a counts table (:data:`COUNTS`): it fits the content column.
    sortable
        Mark it a long reference table (:data:`SORTABLE`); show it with :func:`sortable_table`,
        which lays every row out in full, as sorting needs.
    literal
        Mark it a table that documents the package's files (:data:`LITERAL`), where ids appear
        as the files write them rather than as labels.
    """
    # The Styler escapes cells and header labels (below) but writes the index's and the
    # columns' level names as they are: they are escaped here, on a copy.
    frame = frame.copy(deep=False)
    frame.index = frame.index.set_names([_escaped_name(n) for n in frame.index.names])
    frame.columns = frame.columns.set_names([_escaped_name(n) for n in frame.columns.names])
    styler = frame.style.set_uuid(element_id(uuid)).set_caption(str(escape(caption)))
    styler = styler.format(na_rep=NONE_MARK, escape="html")
    styler = styler.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    classes = [TABLE_CLASS] + [COUNTS] * counts + [SORTABLE] * sortable + [LITERAL] * literal
    styler = styler.set_table_styles(CELL_STYLES)
    styler = styler.set_table_attributes(f'class="{" ".join(classes)}"')
    return styler.hide(axis="index") if hide_index else styler


def _escaped_name(name: object) -> object:
    return None if name is None else str(escape(name))


def table_html(styler) -> Markup:
    """Return a Styler's HTML; a sortable one repeats its row labels on every row.

    Sorting moves rows one by one, so a row label may not span several rows (``rowspan``).
    The Styler escaped every cell, header and the caption (:func:`style_table`), so its HTML
    is marked safe as it is.
    """
    sortable = SORTABLE in (styler.table_attributes or "")
    return Markup(styler.to_html(sparse_index=not sortable))


def with_class(styler, name: str):
    """Return a Styler made by :func:`style_table` with one more class on its ``<table>``."""
    attributes = styler.table_attributes or f'class="{TABLE_CLASS}"'
    if name in attributes.split('"')[1].split():
        return styler
    return styler.set_table_attributes(attributes.replace('class="', f'class="{name} ', 1))


def sortable_table(styler):
    """Return a Styler made by :func:`style_table` as a long reference table (sortable, filterable)."""
    return fragment("table.html", table=table_html(with_class(styler, SORTABLE)))


def cell_lines(value: object) -> str:
    """Return a cell as escaped HTML; a value of several lines becomes a bulleted list."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return NONE_MARK
    lines = str(value).split("\n")
    if len(lines) == 1:
        return str(escape(lines[0]))
    return str(render("lines.html", lines=lines))


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


def downloadable_table(
    frame: pd.DataFrame, name: str, caption: str, shown=None, *, sortable: bool = False
):
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
    sortable
        Show it as a long reference table, sortable and filterable (:data:`SORTABLE`).
    """
    styler = shown if shown is not None else styled_table(frame, name, caption)
    if sortable:
        styler = with_class(styler, SORTABLE)
    payload = base64.b64encode(csv_text(frame).encode("utf-8")).decode("ascii")
    return fragment(
        "download.html",
        table=table_html(styler),
        filename=f"{element_id(name)}.csv",
        payload=payload,
    )


def grouped_table(
    frame: pd.DataFrame, uuid: str, title: str, notes: list[str], *, counts: bool = True
):
    """Return a table whose rows sit in labelled groups under column spanners (great-tables).

    A characteristics table reads best this way: each characteristic heads its own group of
    rows, each group of people spans its own columns (n and %), and the notes that explain the
    numbers (their origin, the small-cell rule) sit under the table as footnotes.

    Every text but the group labels goes through :func:`compendium.presentation.html.escape`
    and reaches great-tables as HTML it leaves alone (``great_tables.html``, or the output of a
    formatter); great-tables escapes group labels itself, as it escapes any plain text it is
    given (tests/test_tables.py holds it to that).

    Parameters
    ----------
    frame
        Text cells (already formatted), indexed by (group, row label), with columns
        (spanner, column label).
    uuid
        The table's stable id: its container is ``T_<uuid>`` (made safe by :func:`element_id`).
    title
        The title above the table.
    notes
        Footnotes under it, in order.
    counts
        Mark it a counts table (:data:`COUNTS`).
    """
    from great_tables import GT, html

    def safe(text: object):
        return html(str(escape(text)))

    columns = [f"c{i}" for i in range(frame.shape[1])]
    data = pd.DataFrame(frame.to_numpy(dtype=object), columns=columns)
    data.insert(0, "group", [str(g) for g in frame.index.get_level_values(0)])
    data.insert(1, "row", [str(r) for r in frame.index.get_level_values(1)])
    table = GT(data, rowname_col="row", groupname_col="group", id=f"T_{element_id(uuid)}")
    # Cells and row labels: escaped here, then passed through as they are.
    table = table.fmt(lambda value: str(escape(value)), columns=["row", *columns])
    spanners = dict.fromkeys(frame.columns.get_level_values(0))
    for i, spanner in enumerate(spanners):
        own = [c for c, (top, _) in zip(columns, frame.columns, strict=True) if top == spanner]
        table = table.tab_spanner(label=safe(spanner), columns=own, id=f"spanner-{i}")
    table = table.cols_label(
        **{c: safe(label) for c, (_, label) in zip(columns, frame.columns, strict=True)}
    )
    table = table.cols_align("right", columns=columns).tab_header(title=safe(title))
    for note in notes:
        table = table.tab_footnote(safe(note))
    table = table.tab_options(
        container_overflow_x="visible",
        container_overflow_y="visible",
        container_padding_y="0px",
        heading_align="left",
        heading_title_font_size="100%",
        table_font_names="inherit",
        table_margin_left="0",
    )
    classes = ["compendium-grouped"] + [COUNTS] * counts
    # great-tables puts no class on its <table>: the wrapper carries the table's kind.
    return fragment(
        "grouped_table.html", table=Markup(table.as_raw_html()), classes=" ".join(classes)
    )
