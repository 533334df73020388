"""The data contract: Table Schemas derived from the core, the optional modules and the study.

``resources/contract/tables.yaml`` describes every table the engine understands: a core every
study has, and optional modules (focus groups, evidence review, quotes, findings and decisions,
the intervention, published figures, trial flow and attendance, a survey, double coding). A
field whose values are study vocabulary names it (``vocabulary: roles``); this module fills in
the ids the study descriptor declares, and appends the declared participant attributes as
columns of ``participants``. The result is the Frictionless descriptor a package must carry in
``datapackage.json``: :func:`package_descriptor` makes it, ``python -m compendium schema DIR``
writes it, and the validator compares the package's own against it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from compendium import paths
from compendium.contract.descriptor import Descriptor

TABLES_FILE = paths.RESOURCES_DIR / "contract" / "tables.yaml"
PACKAGE_FILE = "datapackage.json"
#: Frictionless types of declared attribute types.
ATTRIBUTE_TYPES = {
    "category": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class Module:
    """A part of the contract: the core, or an optional module with the resources it brings."""

    name: str
    label: str
    about: str
    resources: tuple[str, ...]
    descriptor: str | None = None

    @property
    def optional(self) -> bool:
        """True for every module but the core."""
        return self.name != "core"


@cache
def contract() -> dict:
    """Return ``tables.yaml``: the modules, their resources' schemas and the engine vocabularies."""
    return yaml.safe_load(TABLES_FILE.read_text(encoding="utf-8"))


def modules() -> tuple[Module, ...]:
    """Return the core and every optional module, in contract order."""
    return tuple(Module(name, **spec) for name, spec in contract()["modules"].items())


def module_of(resource: str) -> Module | None:
    """Return the module a resource belongs to, or None for a resource the engine does not know."""
    return next((m for m in modules() if resource in m.resources), None)


def known_resources() -> tuple[str, ...]:
    """Return the names of every resource the contract defines, core first."""
    return tuple(r for m in modules() for r in m.resources)


def vocabulary(descriptor: Descriptor, name: str) -> list[str]:
    """Return the allowed values of a named vocabulary for this study.

    ``stages``, ``roles``, ``methods``, ``statuses``, ``sites``, ``arms``, ``scales``,
    ``tables`` and ``citations`` are the ids the descriptor declares; ``wording`` and
    ``origin`` are the engine's own.
    """
    engine = contract()["vocabularies"]
    if name in engine:
        return list(engine[name])
    declared = {
        "stages": descriptor.stages,
        "roles": descriptor.roles,
        "methods": descriptor.methods,
        "statuses": descriptor.statuses,
        "sites": descriptor.sites,
        "arms": descriptor.trial.arms if descriptor.trial else (),
        "scales": descriptor.scales,
        "tables": descriptor.tables,
        "citations": descriptor.citations,
    }
    return [entry.id for entry in declared[name]]


def attribute_field(attribute) -> dict:
    """Return the Table Schema field of a declared participant attribute."""
    field = {
        "name": attribute.name,
        "type": ATTRIBUTE_TYPES[attribute.type],
        "description": attribute.description or attribute.label,
    }
    constraints = {}
    if attribute.values is not None:
        constraints["enum"] = list(attribute.values)
    if attribute.minimum is not None:
        constraints["minimum"] = attribute.minimum
    if attribute.maximum is not None:
        constraints["maximum"] = attribute.maximum
    if constraints:
        field["constraints"] = constraints
    return field


def resource_schema(descriptor: Descriptor, name: str, present: set[str]) -> dict:
    """Return the Table Schema of resource ``name`` for this study.

    Parameters
    ----------
    descriptor
        The study descriptor that declares the vocabularies.
    name
        A resource of the contract.
    present
        The names of the modules in the package; foreign keys into absent modules are left out.
    """
    spec = copy.deepcopy(contract()["resources"][name])
    fields = []
    for field in spec["fields"]:
        field = dict(field)
        vocab = field.pop("vocabulary", None)
        if vocab is not None:
            constraints = dict(field.get("constraints", {}))
            constraints["enum"] = vocabulary(descriptor, vocab)
            field["constraints"] = constraints
        fields.append(field)
    if spec.get("attributes"):
        fields += [attribute_field(a) for a in descriptor.attributes]
    if name == "attendance" and descriptor.trial and descriptor.trial.sessions_offered:
        sessions = next(f for f in fields if f["name"] == "sessions_attended")
        sessions["constraints"]["maximum"] = descriptor.trial.sessions_offered
    schema = {"fields": fields, "primaryKey": spec["primaryKey"]}
    keys = [
        {"fields": fk["fields"], "reference": dict(fk["reference"])}
        for fk in spec.get("foreignKeys", [])
        if fk.get("when") is None or fk["when"] in present
    ]
    if keys:
        schema["foreignKeys"] = keys
    return schema


def modules_present(resources: set[str]) -> set[str]:
    """Return the names of the modules any of ``resources`` belongs to (always the core)."""
    names = {"core"}
    for resource in resources:
        module = module_of(resource)
        if module is not None:
            names.add(module.name)
    return names


def package_descriptor(descriptor: Descriptor, resources: set[str], metadata: dict) -> dict:
    """Return the Frictionless package descriptor for a study with these resources.

    Parameters
    ----------
    descriptor
        The study descriptor.
    resources
        The resources the package holds (the core's are always included).
    metadata
        Package-level properties (``name``, ``title``, ``description``, ``licenses``,
        ``sources``, ...) kept as they are.

    Returns
    -------
    dict
        ``profile``, the metadata, ``x-study`` (the descriptor file) and one resource per
        table in contract order, each with its CSV path and Table Schema.
    """
    present = modules_present(resources)
    wanted = [r for r in known_resources() if r in resources or module_of(r).name == "core"]
    package = {"profile": "tabular-data-package", **metadata, "x-study": "study.yaml"}
    package["resources"] = [
        {
            "name": name,
            "path": f"{name}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "description": contract()["resources"][name]["description"],
            "schema": resource_schema(descriptor, name, present),
        }
        for name in wanted
    ]
    return package


def descriptor_text(package: dict) -> str:
    """Return a package descriptor as the JSON text a package stores (stable, two-space indent)."""
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


def package_metadata(package: dict) -> dict:
    """Return the package-level properties of a package descriptor (all but the generated ones)."""
    generated = {"profile", "resources", "x-study"}
    return {k: v for k, v in package.items() if k not in generated}


def read_package_json(data_dir: Path) -> dict:
    """Return the package's ``datapackage.json`` as a dict (no checks; see the validator)."""
    return json.loads((Path(data_dir) / PACKAGE_FILE).read_text(encoding="utf-8"))
