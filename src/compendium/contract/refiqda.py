"""Export a codebook in the REFI-QDA exchange format (QDA-XML codebook 1.0).

A ``.qdc`` file opens in NVivo, ATLAS.ti, MAXQDA and other tools that support the
Rotterdam Exchange Format, so a student can take this study's codebook into their own
software. Exports are checked against the published schema, shipped with the package so
that validation works offline.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pandas as pd
import xmlschema

from compendium import __version__, paths

NAMESPACE = "urn:QDA-XML:codebook:1.0"
SCHEMA_PATH = paths.RESOURCES_DIR / "refi-qda" / "Codebook.xsd"
# Stable GUIDs: the same code id always gets the same GUID, so re-exports diff cleanly.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://doi.org/10.1186/s13104-017-2900-6")


def code_guid(code_id: str) -> str:
    """Return the stable GUID of a code."""
    return str(uuid.uuid5(GUID_NAMESPACE, code_id))


def codebook_xml(codes: pd.DataFrame, activity_id: str) -> bytes:
    """Return the codebook of one analysis as REFI-QDA XML (UTF-8 bytes).

    Parameters
    ----------
    codes
        The package's ``codes`` table.
    activity_id
        The analysis to export, e.g. ``"A2-INT"``.
    """
    own = codes[codes["activity_id"] == activity_id].sort_values("position", kind="stable")
    if own.empty:
        raise ValueError(f"no codes belong to {activity_id!r}")
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}CodeBook", origin=f"compendium {__version__}")
    holder = ET.SubElement(root, f"{{{NAMESPACE}}}Codes")

    def add(parent: ET.Element, parent_id: str | None) -> None:
        mask = own["parent_id"].isna() if parent_id is None else own["parent_id"] == parent_id
        for code in own[mask].itertuples():
            element = ET.SubElement(
                parent,
                f"{{{NAMESPACE}}}Code",
                guid=code_guid(code.code_id),
                name=code.name,
                isCodable="true",
            )
            ET.SubElement(element, f"{{{NAMESPACE}}}Description").text = code.description
            add(element, code.code_id)

    add(holder, None)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def codebook_problems(xml: bytes) -> list[str]:
    """Return the schema violations of a REFI-QDA codebook; empty when it is valid."""
    schema = xmlschema.XMLSchema(str(SCHEMA_PATH))
    return [str(error.reason or error) for error in schema.iter_errors(xml.decode("utf-8"))]
