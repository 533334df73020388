"""A synthesis specification: the plan from which ``synth`` makes a study's synthetic package.

A specification (``SPEC.yaml``; ``spec/README.md`` documents every field with an example)
names the study descriptor and the excerpt bank beside it, and plans the data: who took part
and with which attributes, each analysis's codebook with its planned counts, and the optional
modules the package carries. :func:`load_spec` reads it and checks it three ways, reporting
every problem with its file, line, column and key:

- its shape, against ``resources/contract/spec.schema.yaml``;
- its references, against the study descriptor it names (stages, methods, roles, statuses,
  sites, attributes, arms, scales, tables, citations) and against itself (codes, quotes,
  concepts, findings, components, published figures);
- its excerpt bank: every leaf code has excerpts, and every excerpt has a leaf code.

Whether the counts it asks for can all hold at once is known only by realising it; see
:mod:`compendium.contract.synthesis`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from compendium import paths
from compendium.contract.descriptor import (
    Descriptor,
    _schema_message,
    check_descriptor,
    path_text,
)
from compendium.contract.problems import Problem, display_path

SPEC_SCHEMA_FILE = paths.RESOURCES_DIR / "contract" / "spec.schema.yaml"
#: The specification ``make data`` realises for this project's own study.
DEFAULT_SPEC = paths.SPEC_DIR / "spec.yaml"
#: Ids, as the contract restricts them (no markup can ride in one).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SpecificationError(ValueError):
    """A specification that cannot be read, or asks for data that cannot all hold at once."""

    def __init__(self, problems: list[Problem]):
        # By file, then line; a problem with no line (a whole file's, or a missing key's) first.
        self.problems = sorted(
            problems, key=lambda p: (p.path, p.line or 0, p.position or 0, p.field or "", p.message)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class YamlFile:
    """A YAML file's data, with the line and column of each of its values and keys."""

    path: Path
    data: Any
    marks: dict[tuple, tuple[int, int]] = field(repr=False)
    key_marks: dict[tuple, tuple[int, int]] = field(repr=False)
    duplicates: tuple[tuple[tuple, str], ...] = ()

    def where(self, path: Iterable, key: bool = False) -> tuple[int | None, int | None]:
        """Return (line, column) of the value (or, with ``key``, the key) at ``path``.

        A path the file does not hold (a missing key) falls back to its nearest parent.
        """
        path = tuple(path)
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (None, None))

    def problem(self, path: Iterable, message: str, key: bool = False) -> Problem:
        """Return a problem located at key path ``path`` of the file."""
        path = tuple(path)
        line, column = self.where(path, key)
        return Problem(display_path(self.path), line, path_text(path), message, column)


def _mark(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _locate(loader, node, where: tuple, file: dict) -> None:
    """Record the marks of ``node`` and everything beneath it, and any repeated key."""
    file["marks"][where] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                file["duplicates"].append((where + (key,), key))
            seen.add(key)
            file["key_marks"][where + (key,)] = _mark(key_node)
            _locate(loader, value_node, where + (key,), file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _locate(loader, item, where + (i,), file)


def read_yaml(path: Path) -> YamlFile:
    """Return the YAML file at ``path``, read with libyaml where it is installed.

    Raises
    ------
    SpecificationError
        When the file is missing, not UTF-8, or not YAML.
    """
    shown = display_path(path)
    if not path.is_file():
        raise SpecificationError([Problem(shown, None, None, "file is missing")])
    # libyaml composes ~20x faster than the pure-Python parser; its nodes carry the marks.
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        loader = loader_class(path.read_text(encoding="utf-8-sig"))
        try:
            node = loader.get_single_node()
            located = {"marks": {}, "key_marks": {}, "duplicates": []}
            data = None
            if node is not None:
                _locate(loader, node, (), located)
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except UnicodeDecodeError as exc:
        raise SpecificationError(
            [Problem(shown, None, None, f"is not UTF-8 text (byte {exc.start})")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = getattr(exc, "problem", None) or "cannot be read"
        raise SpecificationError(
            [Problem(shown, line, None, f"is not valid YAML: {what}", column)]
        ) from None
    return YamlFile(
        path,
        data,
        located["marks"],
        located["key_marks"],
        tuple(located["duplicates"]),
    )


@dataclass(frozen=True)
class Spec:
    """A checked specification: its data, where each key is, and what it refers to."""

    file: YamlFile
    descriptor: Descriptor
    descriptor_bytes: bytes
    excerpt_file: YamlFile

    @property
    def path(self) -> Path:
        """The specification file."""
        return self.file.path

    @property
    def data(self) -> dict:
        """The specification, as read."""
        return self.file.data

    @property
    def excerpts(self) -> dict[str, list[str]]:
        """The excerpt bank: newly written excerpts by leaf code id."""
        return self.excerpt_file.data

    def problem(self, where: Iterable, message: str) -> Problem:
        """Return a problem located at key path ``where`` of the specification."""
        return self.file.problem(where, message)

    def error(self, where: Iterable, message: str) -> SpecificationError:
        """Return the error for one problem at key path ``where``."""
        return SpecificationError([self.problem(where, message)])

    def get(self, key: str, default=None):
        """Return a top-level section of the specification."""
        return self.data.get(key, default)


@cache
def _spec_schema() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC_SCHEMA_FILE.read_text(encoding="utf-8"), Loader=loader)


def _branch_error(error):
    """Return the error that says what to fix, from a oneOf/anyOf failure's branches.

    The branch meant is the one whose required keys the value has most of (``{uniform: ...}``
    means the uniform distribution); jsonschema's best match decides among its errors. A
    distribution that fits no branch keeps its own error, whose message lists the forms.
    """
    from jsonschema.exceptions import best_match

    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    if isinstance(error.instance, dict):
        branches = error.validator_value

        def fit(i):
            return len(set(branches[i].get("required", [])) & set(error.instance))

        meant = max(range(len(branches)), key=fit)
        inside = [e for e in error.context if e.relative_schema_path[0] == meant]
        if fit(meant) and inside:
            return _branch_error(best_match(inside))
        if _is_distribution(error):
            return error
    return _branch_error(best_match(error.context))


def _is_distribution(error) -> bool:
    return str(error.schema.get("description", "")).startswith("How one attribute is drawn")


def _spec_message(error) -> str:
    if error.validator == "not" and isinstance(error.instance, dict):
        banned = {
            k
            for branch in error.validator_value.get("anyOf", [])
            for k in branch.get("required", [])
        }
        clash = ", ".join(sorted(banned & set(error.instance)))
        return f"{clash} cannot be given together with the other keys here"
    if error.validator == "oneOf" and _is_distribution(error):
        return "expected weights of categories, {probability: p}, {uniform: [lo, hi]}, {normal: [mean, sd]} or {by: ATTRIBUTE, values: ...}"
    return _schema_message(error)


def _schema_problems(file: YamlFile) -> list[Problem]:
    import jsonschema  # a dependency of frictionless

    problems = []
    for error in jsonschema.Draft202012Validator(_spec_schema()).iter_errors(file.data):
        error = _branch_error(error)
        problems.append(file.problem(error.absolute_path, _spec_message(error)))
    return problems


def load_spec(path: Path = DEFAULT_SPEC) -> Spec:
    """Return the checked specification at ``path``.

    Raises
    ------
    SpecificationError
        With one problem per thing wrong in the specification, its descriptor or its excerpt
        bank, each naming the file, line, column and key.
    """
    file = read_yaml(Path(path))
    if not isinstance(file.data, dict):
        raise SpecificationError([file.problem((), "expected a mapping of keys (synth, ...)")])
    problems = [
        file.problem(where, f"duplicate key {key!r}", key=True) for where, key in file.duplicates
    ]
    problems += _schema_problems(file)
    if problems:
        raise SpecificationError(problems)
    descriptor_path = file.path.parent / file.data["descriptor"]
    problems, descriptor = check_descriptor(descriptor_path)
    if problems:
        raise SpecificationError(problems)
    excerpt_file = read_yaml(file.path.parent / file.data["excerpts"])
    spec = Spec(file, descriptor, descriptor_path.read_bytes(), excerpt_file)
    problems = list(_spec_problems(spec))
    if problems:
        raise SpecificationError(problems)
    return spec


# --------------------------------------------------------------------------- checking the spec


def not_declared(value, allowed: Iterable, what: str) -> str:
    return f"{value!r} is not {what}; expected one of {', '.join(map(str, allowed))}"


def _spec_problems(spec: Spec) -> Iterator[Problem]:
    """Yield every reference in the specification that the descriptor or the spec cannot meet."""
    for where, message in _reference_problems(spec):
        yield spec.problem(where, message)
    yield from _excerpt_problems(spec)


def _unique(items: list[dict], key: str, where: str) -> Iterator[tuple[tuple, str]]:
    seen = set()
    for i, item in enumerate(items):
        if item[key] in seen:
            yield (where, i, key), f"{item[key]!r} is given twice"
        seen.add(item[key])


def _activity_problems(activities: list[dict], d: Descriptor, stages: list[str]):
    yield from _unique(activities, "activity_id", "activities")
    for i, activity in enumerate(activities):
        stage = str(activity["stage"])
        if stage not in stages:
            yield ("activities", i, "stage"), not_declared(stage, stages, "a stage")
        elif activity["method"] not in d.stage(stage).methods:
            yield (
                ("activities", i, "method"),
                not_declared(
                    activity["method"], d.stage(stage).methods, f"a method of stage {stage}"
                ),
            )
        if activity.get("reported_n") is not None and "n_origin" not in activity:
            yield ("activities", i), "a reported_n needs its n_origin"


def _reference_problems(spec: Spec) -> Iterator[tuple[tuple, str]]:
    d = spec.descriptor
    data = spec.data
    stages = [s.id for s in d.stages]
    methods = {m.id: m for m in d.methods}
    roles = [r.id for r in d.roles]
    statuses = [s.id for s in d.statuses]
    sites = [s.id for s in d.sites]
    coders = [c["coder_id"] for c in data["coders"]]
    yield from _unique(data["coders"], "coder_id", "coders")
    activity_problems = list(_activity_problems(data["activities"], d, stages))
    if activity_problems:  # everything below looks activities up by id and method
        yield from activity_problems
        return
    activities = {a["activity_id"]: a for a in data["activities"]}
    for method, weights in data["transcript_coders"].items():
        if method not in methods:
            yield ("transcript_coders", method), not_declared(method, methods, "a method")
        for coder in weights:
            if coder not in coders:
                yield ("transcript_coders", method, coder), not_declared(coder, coders, "a coder")
    yield from _attribute_problems(spec, roles)
    yield from _sample_problems(spec, activities, roles, statuses, sites)
    codes = code_index(spec)
    prefixes = data.get("code_prefixes", {})
    for activity_id in prefixes:
        if activity_id not in data["codebooks"]:
            yield ("code_prefixes", activity_id), f"{activity_id!r} has no codebook"
    for activity_id in data["codebooks"]:
        if activity_id not in activities:
            yield ("codebooks", activity_id), not_declared(activity_id, activities, "an activity")
            continue
        if activity_id not in data["samples"]:
            yield ("codebooks", activity_id), "the activity has no sample to code"
        method = activities[activity_id]["method"]
        if method not in data["transcript_coders"]:
            yield (
                ("codebooks", activity_id),
                f"transcript_coders names no coders for method {method!r}",
            )
    seen_ids: dict[str, tuple] = {}
    for code_id, where in codes.items():
        if not ID_PATTERN.match(code_id):
            yield where, f"its id {code_id!r} is not made of letters, digits, '.', '_' and '-'"
        seen_ids.setdefault(code_id, where)
    review = data.get("review")
    concepts = [c["concept_id"] for c in review["concepts"]] if review else []
    if review:
        yield from _unique(review["concepts"], "concept_id", ("review", "concepts"))
        for i, concept in enumerate(review["concepts"]):
            for j, code in enumerate(concept.get("codes", [])):
                if code not in codes:
                    yield ("review", "concepts", i, "codes", j), f"{code!r} is not a code"
        facilitators = sum(review["programmes"]["facilitators"].values())
        if facilitators != review["programmes"]["count"]:
            yield (
                ("review", "programmes", "facilitators"),
                f"add up to {facilitators}, not the {review['programmes']['count']} programmes",
            )
    quotes = [q["quote_id"] for q in data.get("quotes", [])]
    citations = [c.id for c in d.citations]
    for i, quote in enumerate(data.get("quotes", [])):
        if quote["activity"] not in activities:
            yield (
                ("quotes", i, "activity"),
                not_declared(quote["activity"], activities, "an activity"),
            )
        if quote["citation"] not in citations:
            yield (
                ("quotes", i, "citation"),
                not_declared(quote["citation"], citations, "a citation in study.yaml"),
            )
        if quote.get("code") and quote["code"] not in codes:
            yield ("quotes", i, "code"), f"{quote['code']!r} is not a code"
        if quote.get("concept") and quote["concept"] not in concepts:
            yield ("quotes", i, "concept"), f"{quote['concept']!r} is not a concept of the review"
        if quote["label"] is None and "label_note" not in quote:
            yield ("quotes", i), "a quote without a label needs a label_note saying why"
    yield from _unique(data.get("quotes", []), "quote_id", "quotes")
    figures = [f["figure_id"] for f in data.get("published_figures", [])]
    yield from _unique(data.get("published_figures", []), "figure_id", "published_figures")
    for i, figure in enumerate(data.get("published_figures", [])):
        try:
            parse_call(figure["expression"])
        except ValueError as exc:
            yield ("published_figures", i, "expression"), str(exc)
    yield from _trace_problems(spec, stages, codes, quotes, concepts, figures)
    yield from _survey_problems(spec, activities, methods)
    double = data.get("double_coding")
    if double:
        for i, coder in enumerate(double.get("coders", [])):
            if coder not in coders:
                yield ("double_coding", "coders", i), not_declared(coder, coders, "a coder")


def _attribute_problems(spec: Spec, roles: list[str]) -> Iterator[tuple[tuple, str]]:
    d = spec.descriptor
    declared = {a.name: a for a in d.attributes}
    for role, plan in spec.data["attributes"].items():
        if role not in roles:
            yield ("attributes", role), not_declared(role, roles, "a role")
            continue
        drawn: list[str] = []
        for name, distribution in plan.items():
            if name == "missing":
                for attribute in distribution:
                    if attribute not in plan:
                        yield (
                            ("attributes", role, "missing", attribute),
                            f"{attribute!r} has no distribution for {role}",
                        )
                continue
            if name not in declared:
                yield ("attributes", role, name), not_declared(name, declared, "an attribute")
                continue
            attribute = declared[name]
            if not attribute.applies_to(role):
                yield (
                    ("attributes", role, name),
                    f"study.yaml records {name!r} only for {', '.join(attribute.roles)}",
                )
            yield from _distribution_problems(
                ("attributes", role, name), attribute, distribution, declared, drawn
            )
            drawn.append(name)
    sampled = {s["role"] for s in spec.data["samples"].values() if "role" in s}
    sampled |= {g["role"] for s in spec.data["samples"].values() for g in s.get("groups", [])}
    for role in sorted(sampled & set(roles)):
        for attribute in d.attributes:
            if attribute.applies_to(role) and attribute.name not in spec.data["attributes"].get(
                role, {}
            ):
                yield (
                    ("attributes",),
                    f"{role}: no distribution for {attribute.name!r}, which study.yaml records for {role}",
                )


def _distribution_problems(where, attribute, distribution, declared, drawn):
    if "by" in distribution:
        by = distribution["by"]
        if by not in drawn:
            yield (where + ("by",), f"{by!r} is not an attribute listed before {attribute.name!r}")
            return
        wanted = attribute_values(declared[by])
        if wanted is None:
            yield (where + ("by",), f"{by!r} is a number; a distribution can depend on a category")
            return
        if set(distribution["values"]) != set(wanted):
            yield (
                where + ("values",),
                f"expected one distribution for each of {', '.join(wanted)}",
            )
        for value, inner in distribution["values"].items():
            yield from _distribution_problems(
                where + ("values", value), attribute, inner, declared, drawn
            )
        return
    kind = attribute.type
    if "probability" in distribution and kind != "boolean":
        yield where, f"{attribute.name!r} is a {kind}; probability is for a boolean"
    elif ("uniform" in distribution or "normal" in distribution) and kind not in (
        "integer",
        "number",
    ):
        yield where, f"{attribute.name!r} is a {kind}; uniform and normal are for numbers"
    elif kind == "category" and not {"probability", "uniform", "normal"} & set(distribution):
        for value in distribution:
            if value not in attribute.values:
                yield (
                    where + (value,),
                    not_declared(value, attribute.values, f"a value of {attribute.name}"),
                )
    elif kind in ("integer", "number", "boolean") and not {
        "probability",
        "uniform",
        "normal",
    } & set(distribution):
        yield where, f"{attribute.name!r} is a {kind}; give uniform, normal or probability"


def attribute_values(attribute) -> list[str] | None:
    if attribute.type == "category":
        return list(attribute.values)
    if attribute.type == "boolean":
        return ["true", "false"]
    return None


def _sample_problems(spec, activities, roles, statuses, sites) -> Iterator[tuple[tuple, str]]:
    d = spec.descriptor
    arms = [a.id for a in d.trial.arms] if d.trial else []
    declared = {a.name: a for a in d.attributes}
    for activity_id, sample in spec.data["samples"].items():
        where = ("samples", activity_id)
        if activity_id not in activities:
            yield where, not_declared(activity_id, activities, "an activity")
            continue
        method = d.method(activities[activity_id]["method"])
        if "groups" in sample:
            if not method.group_sources:
                yield where + ("groups",), f"{method.id!r} is not a group method"
            if sample["status"] not in statuses:
                yield where + ("status",), not_declared(sample["status"], statuses, "a status")
            for i, kind in enumerate(sample["groups"]):
                if kind["role"] not in roles:
                    yield (
                        where + ("groups", i, "role"),
                        not_declared(kind["role"], roles, "a role"),
                    )
                lo, hi = kind["size"]
                if not 1 <= lo <= hi or lo != int(lo) or hi != int(hi):
                    yield (
                        where + ("groups", i, "size"),
                        "expected [smallest, largest], whole numbers from 1",
                    )
            total = sum(k["count"] for k in sample["groups"])
            if "group_sites" in sample:
                if len(sample["group_sites"]) != total:
                    yield (
                        where + ("group_sites",),
                        f"names {len(sample['group_sites'])} sites for {total} groups",
                    )
                for i, site in enumerate(sample["group_sites"]):
                    if site not in sites:
                        yield where + ("group_sites", i), not_declared(site, sites, "a site")
            continue
        if sample["role"] not in roles:
            yield where + ("role",), not_declared(sample["role"], roles, "a role")
        if method.group_sources and "group" not in sample:
            yield where, f"{method.id!r} is a group method: give the group its people sat in"
        n = len(sample["labels"]) if "labels" in sample else None
        if "sites" in sample:
            for site in sample["sites"]:
                if site not in sites:
                    yield (
                        where + ("sites", site),
                        not_declared(site, sites or ["(none)"], "a site"),
                    )
            by_site = sum(sample["sites"].values())
            if n is not None and by_site != n:
                yield where + ("sites",), f"add up to {by_site}, not the {n} labels"
            if "count" in sample and sample["count"] != by_site:
                yield where + ("count",), f"is {sample['count']}, but the sites add up to {by_site}"
            n = by_site
        elif "count" in sample:
            if n is not None and sample["count"] != n:
                yield where + ("count",), f"is {sample['count']}, but there are {n} labels"
            n = sample["count"]
        elif n is None:
            yield where, "give the number of people: sites, count or labels"
            continue
        if "label_format" in sample:
            try:
                sample["label_format"].format(n=1)
            except (KeyError, IndexError, ValueError) as exc:
                yield where + ("label_format",), f"cannot be filled in: {exc}"
        for name, values in sample.get("fixed", {}).items():
            if name not in declared:
                yield where + ("fixed", name), not_declared(name, declared, "an attribute")
            elif "labels" not in sample or len(values) != len(sample["labels"]):
                yield (
                    where + ("fixed", name),
                    "expected one value per label, in the order of labels",
                )
            elif declared[name].values is not None:
                for i, value in enumerate(values):
                    if value not in declared[name].values:
                        yield (
                            where + ("fixed", name, i),
                            not_declared(value, declared[name].values, f"a value of {name}"),
                        )
        if "arms" in sample or "attendance" in sample:
            if d.trial is None:
                yield where, "arms and attendance need a trial (its arms) declared in study.yaml"
                continue
        if "arms" in sample:
            for arm in sample["arms"]:
                if arm not in arms:
                    yield where + ("arms", arm), not_declared(arm, arms, "an arm")
            if sum(sample["arms"].values()) != n:
                yield where + ("arms",), f"add up to {sum(sample['arms'].values())}, not {n}"
            if set(sample["statuses"]) != set(sample["arms"]):
                yield where + ("statuses",), "with arms, give the statuses of each arm"
                continue
            for arm, counts in sample["statuses"].items():
                if not isinstance(counts, dict):
                    yield (
                        where + ("statuses", arm),
                        "expected the number of people with each status",
                    )
                    continue
                yield from _status_problems(where + ("statuses", arm), counts, statuses)
                if sum(counts.values()) != sample["arms"].get(arm):
                    yield (
                        where + ("statuses", arm),
                        f"add up to {sum(counts.values())}, not the {sample['arms'].get(arm)} in the arm",
                    )
        else:
            counts = sample["statuses"]
            if any(isinstance(v, dict) for v in counts.values()):
                yield where + ("statuses",), "statuses by arm need arms"
                continue
            yield from _status_problems(where + ("statuses",), counts, statuses)
            if sum(counts.values()) != n:
                yield where + ("statuses",), f"add up to {sum(counts.values())}, not the {n} people"
        given = _sample_statuses(sample)
        for i, rule in enumerate(sample.get("attendance", [])):
            if rule["status"] not in given:
                yield (
                    where + ("attendance", i, "status"),
                    not_declared(rule["status"], given, "a status of this sample"),
                )
            if "arm" in rule and rule["arm"] not in sample.get("arms", {}):
                yield (
                    where + ("attendance", i, "arm"),
                    f"{rule['arm']!r} is not an arm of this sample",
                )
            if "sessions" not in rule and "patterns" not in rule:
                yield where + ("attendance", i), "give sessions or patterns"
            for key in ["sessions"] + [
                ("patterns", j) for j in range(len(rule.get("patterns", [])))
            ]:
                rng = (
                    rule.get("sessions")
                    if key == "sessions"
                    else rule["patterns"][key[1]].get("sessions")
                )
                place = (
                    where
                    + ("attendance", i)
                    + ((key,) if key == "sessions" else key + ("sessions",))
                )
                if rng is not None:
                    lo, hi = rng
                    top = d.trial.sessions_offered if d.trial else None
                    if lo != int(lo) or hi != int(hi) or not 0 <= lo <= hi or (top and hi > top):
                        limit = f" up to the {top} sessions offered" if top else ""
                        yield place, f"expected [fewest, most] whole sessions from 0{limit}"
        if "group" in sample and sample["group"]["status"] not in given:
            yield (
                where + ("group", "status"),
                not_declared(sample["group"]["status"], given, "a status of this sample"),
            )


def _status_problems(where, counts, statuses):
    for status in counts:
        if status not in statuses:
            yield where + (status,), not_declared(status, statuses, "a status")


def _sample_statuses(sample: dict) -> list[str]:
    counts = sample.get("statuses", {})
    if "arms" in sample:
        return list(dict.fromkeys(s for arm in counts.values() for s in arm))
    return list(counts)


def _stage_and_table_problems(where, row, stages, tables):
    """Yield the problems of a finding's or decision's stage and summary-table membership."""
    if str(row["stage"]) not in stages:
        yield where + ("stage",), not_declared(row["stage"], stages, "a stage")
    if "in_table" in row and row["in_table"] not in tables:
        yield (
            where + ("in_table",),
            not_declared(row["in_table"], tables or ["(none)"], "a table in study.yaml"),
        )


def _trace_problems(spec, stages, codes, quotes, concepts, figures):
    data = spec.data
    tables = [t.id for t in spec.descriptor.tables]
    evidence_ids = {"codes": codes, "quotes": quotes, "concepts": concepts, "figures": figures}
    findings = [f["finding_id"] for f in data.get("findings", [])]
    yield from _unique(data.get("findings", []), "finding_id", "findings")
    for i, finding in enumerate(data.get("findings", [])):
        yield from _stage_and_table_problems(("findings", i), finding, stages, tables)
        if finding.get("acted_on", True) is False and "reason" not in finding:
            yield ("findings", i), "a finding not acted on needs its reason"
        for kind, ids in finding["evidence"].items():
            for j, ref in enumerate(ids):
                if ref not in evidence_ids[kind]:
                    yield ("findings", i, "evidence", kind, j), f"{ref!r} is not one of the {kind}"
    components = [c["component_id"] for c in data.get("components", [])]
    decisions = {x["decision_id"]: x for x in data.get("decisions", [])}
    yield from _unique(data.get("decisions", []), "decision_id", "decisions")
    for i, decision in enumerate(data.get("decisions", [])):
        yield from _stage_and_table_problems(("decisions", i), decision, stages, tables)
        parent = decision.get("parent")
        if decision["level"] == "specification":
            if parent not in decisions or decisions[parent]["level"] != "summary":
                yield (
                    ("decisions", i, "parent"),
                    "a specification refines a summary decision; name it",
                )
        elif parent is not None:
            yield ("decisions", i, "parent"), "only a specification has a parent"
        if "component" in decision and decision["component"] not in components:
            yield ("decisions", i, "component"), f"{decision['component']!r} is not a component"
        for j, finding in enumerate(decision["findings"]):
            if finding not in findings:
                yield ("decisions", i, "findings", j), f"{finding!r} is not a finding"
    yield from _unique(data.get("components", []), "component_id", "components")
    items = [t["item"] for t in data.get("tidier", [])]
    if data.get("tidier") and sorted(items) != list(range(1, 13)):
        yield ("tidier",), "expected the 12 TIDieR items, 1 to 12, once each"
    for i, component in enumerate(data.get("components", [])):
        if "parent" in component and component["parent"] not in components:
            yield ("components", i, "parent"), f"{component['parent']!r} is not a component"


def _survey_problems(spec, activities, methods):
    survey = spec.data.get("survey")
    if not survey:
        return
    d = spec.descriptor
    activity = activities.get(survey["activity"])
    if activity is None:
        yield ("survey", "activity"), not_declared(survey["activity"], activities, "an activity")
        return
    if d.method(activity["method"]).kind != "survey":
        yield ("survey", "activity"), f"{survey['activity']!r} is not a survey activity"
    if survey["activity"] not in spec.data["samples"]:
        yield ("survey", "activity"), "the survey has no sample of respondents"
    scales = {s.id: s for s in d.scales}
    comparison = d.comparison
    yield from _unique(survey["items"], "item_id", ("survey", "items"))
    for i, item in enumerate(survey["items"]):
        where = ("survey", "items", i)
        scale = scales.get(item["scale"])
        if scale is None:
            yield where + ("scale",), not_declared(item["scale"], scales or ["(none)"], "a scale")
            continue
        responses = item["responses"]
        lists = {None: responses} if isinstance(responses, list) else responses
        if isinstance(responses, dict):
            values = attribute_values(comparison) if comparison else None
            if values is None:
                yield where + ("responses",), "weights by group need a comparison attribute"
                continue
            if set(responses) != set(values):
                yield where + ("responses",), f"expected weights for each of {', '.join(values)}"
        for group, weights in lists.items():
            place = where + ("responses",) + ((group,) if group else ())
            if len(weights) != len(scale.values):
                yield place, f"expected {len(scale.values)} weights, one per value of {scale.id}"
            elif not sum(weights) > 0:
                yield place, "expected at least one weight above 0"


def _excerpt_problems(spec: Spec) -> Iterator[Problem]:
    file = spec.excerpt_file
    bank = file.data
    if not isinstance(bank, dict):
        yield file.problem((), "expected a mapping of leaf code ids to lists of excerpts")
        return
    yield from (
        file.problem(where, f"duplicate key {key!r}", key=True) for where, key in file.duplicates
    )
    leaves = leaf_index(spec)
    for code_id, texts in bank.items():
        if code_id not in leaves:
            yield file.problem((code_id,), "is not a leaf code of any codebook", key=True)
        elif (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            yield file.problem((code_id,), "expected a list of excerpts (text)")
    for code_id, where in leaves.items():
        if code_id not in bank:
            yield Problem(
                display_path(file.path),
                None,
                code_id,
                f"no excerpts for this code ({path_text(where)} in {display_path(spec.path)})",
            )


# --------------------------------------------------------------------------- codebooks


def walk_codebook(spec_data: dict) -> Iterator[tuple[dict, tuple, dict | None, str]]:
    """Yield (code row, key path, main theme node, activity) for every code in spec order."""
    prefixes = spec_data.get("code_prefixes", {})

    def walk(nodes, activity_id, prefix, parent, where, theme):
        for position, node in enumerate(nodes, start=1):
            code_id = f"{prefix}.{position}" if parent else f"{prefix}-{position}"
            here = where + (position - 1,)
            row = {
                "code_id": code_id,
                "activity_id": activity_id,
                "parent_id": parent,
                "position": position,
                "name": node["name"],
                "description": node["description"],
                "valence": node.get("valence"),
                "name_wording": node["wording"],
            }
            yield row, here, node, theme or node
            yield from walk(
                node.get("children", []),
                activity_id,
                code_id,
                code_id,
                here + ("children",),
                theme or node,
            )

    for activity_id, themes in spec_data["codebooks"].items():
        prefix = prefixes.get(activity_id, activity_id)
        yield from walk(themes, activity_id, prefix, None, ("codebooks", activity_id), None)


def code_index(spec: Spec) -> dict[str, tuple]:
    return {row["code_id"]: where for row, where, _, _ in walk_codebook(spec.data)}


def leaf_index(spec: Spec) -> dict[str, tuple]:
    return {
        row["code_id"]: where
        for row, where, node, _ in walk_codebook(spec.data)
        if not node.get("children")
    }


def parse_call(text: str) -> ast.Call:
    """Return the parsed call of a published figure's expression, or raise ValueError."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not a valid expression: {exc.msg}") from None
    _check_call(node)
    return node


def _check_call(node) -> None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError("expected a call to a measure, such as sources('T-1.2')")
    for value in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(value, ast.Call):
            _check_call(value)
        else:
            try:
                ast.literal_eval(value)
            except ValueError:
                raise ValueError("arguments must be literals or measure calls") from None
    if any(k.arg is None for k in node.keywords):
        raise ValueError("**kwargs are not allowed")


def literal_argument(call: ast.Call, measure: str) -> str | None:
    """Return the one literal argument of ``measure(...)``, when ``call`` is exactly that."""
    if call.func.id == measure and len(call.args) == 1 and not call.keywords:
        value = ast.literal_eval(call.args[0])
        return value if isinstance(value, str) else None
    return None
