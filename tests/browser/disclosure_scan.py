"""Find every count of people a built book shows that is below the small-cell threshold.

Counts of people are found by where they are, not by what the engine says about them:

- tables, by their element id (``T_<id>``, fixed by ``style_table``; a great-tables table
  sits in a ``div`` with that id) and column headers: the
  ``n`` columns of characteristics tables, ``Participants`` in flows, attendance and delivery,
  ``Sources`` in theme, breakdown and concept tables, every cell of survey and comparison
  tables, a sample size reported in participants; a group's ``(n = N)`` in a header; and a
  percentage shown beside a hidden count;
- CSV downloads (``data:text/csv`` links), by file name and header, with the same rules;
- figures, by their plotly JSON: a sunburst's hover data (sources);
- prose, by the glued values the build kept (``<page>.glue.json`` beside the executed
  notebooks): every one whose output the chapter flagged as a count of people.

A count is small when it is from 1 to k - 1; a hidden one shows a marker (``<k``).
"""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup

PEOPLE_UNITS = re.compile(r"^(\d+)\S*\s+(participants|people|respondents|interviewees)\b")
GROUP_N = re.compile(r"\(n = (\d+)\)")
NUMBER = re.compile(r"^\s*(\d+)")
# table id prefix -> header (last level) -> "count", or a percentage's count column's header
RULES = {
    "characteristics-": {"n": "count", "%": "n"},
    "flow-": {"Participants": "count"},
    "attendance-": {"Participants": "count"},
    "delivery": {"Participants": "count", "% of those analysed": "Participants"},
    "themes-": {"Sources": "count"},
    "breakdown-": {"Sources": "count", "% of sources": "Sources"},
    "endorsement-": {"Sources": "count"},
    "comparison-": {"*": "count"},
    "survey-": {"*": "count"},
    "activities-": {"Sample size reported": "units"},
}


@dataclass
class Scan:
    """What a scan looked at, and the small counts of people it found."""

    pages: int = 0
    tables: int = 0
    csvs: int = 0
    figures: int = 0
    glued: int = 0
    counts: int = 0
    found: list[str] = field(default_factory=list)


def _rules(table_id: str) -> dict | None:
    for prefix, rules in RULES.items():
        if table_id.startswith(prefix):
            return rules
    return None


def _check(scan: Scan, where: str, text: str, threshold: int, kind: str = "count") -> bool:
    """Check one shown value; return whether it is hidden (shows the marker)."""
    text = text.strip()
    if text.startswith("<"):
        return True
    match = (PEOPLE_UNITS if kind == "units" else NUMBER).match(text)
    if match is None:
        return False
    scan.counts += 1
    if 0 < int(match.group(1)) < threshold:
        scan.found.append(f"{where}: {text}")
    return False


def _check_rows(scan, where, headers: list[str], rows: list[list[str]], rules, threshold):
    """Apply a table's rules to its header (last level of each column) and rows."""
    for header in headers:
        for n in GROUP_N.findall(header):
            scan.counts += 1
            if 0 < int(n) < threshold:
                scan.found.append(f"{where}: header {header!r}")
    for r, row in enumerate(rows):
        hidden = {}
        for c, (header, text) in enumerate(zip(headers, row, strict=False)):
            last = header.split(" / ")[-1].strip()
            kind = rules.get(last, rules.get("*"))
            if kind in ("count", "units"):
                hidden[(last, c)] = _check(scan, f"{where} row {r} {last!r}", text, threshold, kind)
        for c, (header, text) in enumerate(zip(headers, row, strict=False)):
            last = header.split(" / ")[-1].strip()
            partner = rules.get(last)
            if partner in (None, "count", "units"):
                continue
            # a percentage beside a hidden count must be hidden too: the nearest count before it
            counts = [h for (name, col), h in hidden.items() if name == partner and col < c]
            if counts and counts[-1] and not text.strip().startswith("<"):
                scan.found.append(f"{where} row {r} {last!r}: {text} beside a hidden count")


def _table(table) -> tuple[list[str], list[list[str]]]:
    """Return a Styler table's column headers (levels joined by " / ") and its data rows."""
    labels: dict[int, list[str]] = {}
    for th in table.select("thead th.col_heading"):
        col = next(int(c[3:]) for c in th["class"] if re.fullmatch(r"col\d+", c))
        for j in range(col, col + int(th.get("colspan", 1))):
            labels.setdefault(j, []).append(th.get_text(" ", strip=True))
    width = max(labels) + 1 if labels else 0
    headers = [" / ".join(labels.get(j, [])) for j in range(width)]
    rows = []
    for tr in table.select("tbody tr"):
        cells = {}
        for td in tr.find_all("td"):
            col = next(
                (int(c[3:]) for c in td.get("class", []) if re.fullmatch(r"col\d+", c)), None
            )
            if col is not None:
                cells[col] = td.get_text(" ", strip=True)
        rows.append([cells.get(j, "") for j in range(width)])
    return headers, rows


def _gt_table(table, table_id: str) -> tuple[list[str], list[list[str]]]:
    """Return a great-tables table's column headers (spanner, then column) and its data rows.

    Each data cell names its headers by id (``headers``): its column's (``<id>-c<j>``) and
    its spanner's, whose label carries the group's ``(n = N)``.
    """
    labels = {th["id"]: th.get_text(" ", strip=True) for th in table.select("thead th[id]")}
    column = re.compile(re.escape(table_id) + r"-c(\d+)$")
    headers: dict[int, str] = {}
    rows = []
    for tr in table.select("tbody tr"):
        cells = {}
        for td in tr.find_all("td"):
            ids = td.get("headers") or []
            ids = ids.split() if isinstance(ids, str) else ids
            found = [int(m.group(1)) for i in ids if (m := column.search(i))]
            if not found:
                continue
            spanners = [labels[i] for i in ids if i in labels and not column.search(i)]
            headers.setdefault(
                found[0], " / ".join([*spanners, labels.get(f"{table_id}-c{found[0]}", "")])
            )
            cells[found[0]] = td.get_text(" ", strip=True)
        if cells:
            rows.append(cells)
    width = max(headers) + 1 if headers else 0
    return [headers.get(j, "") for j in range(width)], [
        [cells.get(j, "") for j in range(width)] for cells in rows
    ]


def _plotly_figures(html: str) -> list[list[dict]]:
    figures = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\])\s*,\s*\{', html, re.S):
        figures.append(json.loads(match.group(1)))
    return figures


def scan_book(html_dir: Path, executed_dir: Path, threshold: int, pages: list[str]) -> Scan:
    """Scan every page of a built book (and its executed notebooks) for small counts of people."""
    scan = Scan()
    for page in pages:
        scan.pages += 1
        html = (html_dir / page).read_text(encoding="utf-8")
        soup = BeautifulSoup(html, "html.parser")
        for table in soup.select("table[id^=T_]"):
            rules = _rules(table["id"][2:])
            if rules is None:
                continue
            scan.tables += 1
            headers, rows = _table(table)
            _check_rows(scan, f"{page} table {table['id'][2:]}", headers, rows, rules, threshold)
        for table in soup.select("div[id^=T_] > table.gt_table"):
            table_id = table.parent["id"]
            rules = _rules(table_id[2:])
            if rules is None:
                continue
            scan.tables += 1
            headers, rows = _gt_table(table, table_id)
            _check_rows(scan, f"{page} table {table_id[2:]}", headers, rows, rules, threshold)
        for link in soup.select('a[href^="data:text/csv;base64,"]'):
            name = link.get("download", "").removesuffix(".csv")
            rows = list(
                csv.reader(io.StringIO(base64.b64decode(link["href"].split(",")[1]).decode()))
            )
            scan.csvs += 1
            rules = _rules(name)
            if rules is not None and rows:
                _check_rows(
                    scan, f"{page} download {name}.csv", rows[0], rows[1:], rules, threshold
                )
        for figure in _plotly_figures(html):
            scan.figures += 1
            for trace in figure:
                if trace.get("type") == "sunburst":
                    for custom in trace.get("customdata", []):
                        _check(
                            scan,
                            f"{page} sunburst {custom[0]!r} sources",
                            str(custom[1]),
                            threshold,
                        )
    # myst-nb keeps each page's glued outputs beside its executed notebook, <page>.glue.json
    for glued in sorted(executed_dir.rglob("*.glue.json")):
        for name, output in json.loads(glued.read_text(encoding="utf-8")).items():
            if not output.get("metadata", {}).get("compendium", {}).get("people"):
                continue
            scan.glued += 1
            value = str(ast.literal_eval("".join(output["data"]["text/plain"])))
            _check(scan, f"{glued.name} glue {name}", value, threshold)
    return scan
