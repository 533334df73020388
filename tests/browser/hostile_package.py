"""A copy of a data package whose every free-text field carries a script payload.

Ids cannot carry one (the contract restricts them to letters, digits, ``.``, ``_`` and ``-``;
tests/test_hostile.py checks that an id payload is refused), nor can vocabulary values or
expressions, which must match what the descriptor declares. Everything else a person writes
(labels, names, descriptions, statements, excerpts, quotations, the book's title and footer,
glossary definitions) gets one of :data:`PAYLOADS` appended; free text in the CSV files also
starts with a spreadsheet formula (:data:`FORMULAS`), for the CSV downloads.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import pandas as pd
import yaml

from compendium.build.scaffold import write_package_descriptor

#: Markup, script and link payloads, and MyST that would run if parsed as markup.
PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)>",
    '"><script>alert(3)</script>',
    '<a href="javascript:alert(4)">javascript:alert(4)</a>',
    '\'><iframe srcdoc="<script>parent.alert(5)</script>"></iframe>',
    "<details open ontoggle=alert(6)>",
    "{raw}`<img src=x onerror=alert(7)>`",
    "<b onmouseover=alert(8)>bold</b>",
)
#: A glossary definition is MyST, parsed: its HTML must show as text. (Directives and the raw
#: role are refused by the contract; tests/test_hostile.py checks that.)
DEFINITION_PAYLOADS = (
    "<script>alert(9)</script>",
    "<img src=x onerror=alert(10)>",
    "\n\n<svg onload=alert(11)>\n",
)
#: What a glossary term carries: the definitions' payloads that fit on one line.
TERM_PAYLOADS = tuple(p for p in DEFINITION_PAYLOADS if "\n" not in p)
#: Spreadsheet formulas (OWASP's CSV injection): free text in the CSV files starts with one.
FORMULAS = ('=HYPERLINK("http://127.0.0.1/","x") ', "+1+", "-1+", "@SUM(1) ")
#: What the browser test looks for: an element or attribute that could only come from a payload.
PAYLOAD_SELECTORS = (
    'img[src="x"]',
    "img[onerror]",
    "svg[onload]",
    "iframe[srcdoc]",
    "details[ontoggle]",
    "b[onmouseover]",
    'a[href^="javascript:"]',
)
#: Keys of study.yaml whose values are free text (as opposed to ids and vocabularies).
DESCRIPTOR_TEXT_KEYS = {
    "title",
    "author",
    "copyright",
    "description",
    "footer",
    "keywords",
    "short",
    "text",
    "label",
    "summary",
    "caption",
    "definition",
    "term",
}
#: Free-text columns the Table Schemas mark as such but that the engine parses.
PARSED_COLUMNS = {"expression"}


def _free_text_columns(resource: dict) -> list[str]:
    schema = resource["schema"]
    keys = schema.get("primaryKey", [])
    keys = {keys} if isinstance(keys, str) else set(keys)
    for foreign in schema.get("foreignKeys", []):
        fields = foreign["fields"]
        keys |= {fields} if isinstance(fields, str) else set(fields)
    return [
        f["name"]
        for f in schema["fields"]
        if f.get("type") == "string"
        and f["name"] not in keys | PARSED_COLUMNS
        and not {"enum", "pattern"} & set(f.get("constraints", {}))
    ]


def payload_package(source: Path, target: Path) -> int:
    """Write ``source`` to ``target`` with a payload in every free-text field; return how many."""
    shutil.copytree(source, target)
    count = 0

    def carry(text: str, payloads: tuple[str, ...] = PAYLOADS) -> str:
        # The same text always gets the same payload, so values that must agree (a speaker's
        # label in participants.csv and in quotes.csv) still do.
        nonlocal count
        count += 1
        return f"{text} {payloads[zlib.crc32(text.encode()) % len(payloads)]}"

    def walk(node, key=None):
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str) and key == "definition":
            return carry(node, DEFINITION_PAYLOADS)
        if isinstance(node, str) and key == "term":
            # A term is one line (a line break is refused: tests/test_hostile.py).
            return carry(node, TERM_PAYLOADS)
        if isinstance(node, str) and key in DESCRIPTOR_TEXT_KEYS:
            return carry(node)
        return node

    descriptor = yaml.safe_load((target / "study.yaml").read_text(encoding="utf-8"))
    descriptor = walk(descriptor)
    for stage in descriptor.get("stages", []):
        stage["name"] = carry(stage["name"])
    (target / "study.yaml").write_text(
        yaml.safe_dump(descriptor, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    # The Table Schemas carry the descriptor's labels: derive them again, as `schema` does.
    write_package_descriptor(target)
    package = json.loads((target / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        columns = _free_text_columns(resource)
        if not columns:
            continue
        path = target / resource["path"]
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in columns:
            frame[column] = [
                FORMULAS[zlib.crc32(v.encode()) % len(FORMULAS)] + carry(v) if v else v
                for v in frame[column]
            ]
        frame.to_csv(path, index=False)
    return count
