"""Generate a synthetic, de-identified data package from a study's specification.

The specification (see :mod:`compendium.contract.specification` and ``spec/README.md``) plans
the data; this module realises it:

- :func:`participants_and_groups` draws who took part, their declared attributes, their groups
  and their trial attendance;
- :func:`segments_and_codings` draws coded segments so that every code has exactly the sources
  and references published or planned (NVivo-style: a parent counts the union of its children),
  and a second coder's codings of a share of them;
- the optional modules' rows follow the specification (review, quotes, findings and decisions,
  the intervention, published figures, a survey whose answers differ by comparison group);
- :func:`check_figures` evaluates every published figure on the result, so a specification whose
  figures the data would not give fails here, not in the book;
- :func:`package_files` and :func:`write_package` write the package atomically, once it validates.

Each part draws from its own random stream, seeded by the seed and the part's name, so changing
one codebook does not reshuffle the others; the same seed always gives byte-identical files.
Nothing here knows any one study: everything study-specific is in the specification.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compendium.contract import schema
from compendium.contract.descriptor import DESCRIPTOR_FILE
from compendium.contract.specification import (
    DEFAULT_SPEC,
    ID_PATTERN,
    Spec,
    SpecificationError,
    attribute_values,
    code_index,
    literal_argument,
    load_spec,
    not_declared,
    parse_call,
    walk_codebook,
)
from compendium.contract.validation import validate_package
from compendium.contract.writing import check_target, replace_package

GENERATOR = "python -m compendium synth"
#: Ids the engine makes: a person is ``S<stage>-<label>``, a generated group ``G<stage>-<nn>``.
PARTICIPANT_ID = "S{stage}-{label}"
GROUP_ID = "G{stage}-{n:02d}"
SEGMENT_ID = "SEG{n:05d}"
PROGRAMME_ID = "P{n:02d}"
#: Tries at giving every reviewed programme its minimum number of concepts.
PROGRAMME_DRAWS = 1000


def _stream(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")


# --------------------------------------------------------------------------- participants


def _draw_value(rng: random.Random, attribute, distribution: dict, drawn: dict):
    if "by" in distribution:
        key = drawn[distribution["by"]]
        key = str(key).lower() if isinstance(key, bool) else key
        return _draw_value(rng, attribute, distribution["values"][key], drawn)
    if "probability" in distribution:
        return rng.random() < distribution["probability"]
    if "uniform" in distribution or "normal" in distribution:
        if "uniform" in distribution:
            lo, hi = distribution["uniform"]
            value = (
                rng.randint(math.ceil(lo), math.floor(hi))
                if attribute.type == "integer"
                else rng.uniform(lo, hi)
            )
        else:
            value = rng.gauss(*distribution["normal"])
        if attribute.minimum is not None:
            value = max(value, attribute.minimum)
        if attribute.maximum is not None:
            value = min(value, attribute.maximum)
        return int(round(value)) if attribute.type == "integer" else round(value, 1)
    return rng.choices(list(distribution), weights=list(distribution.values()))[0]


def _attributes(spec: Spec, role: str, rng: random.Random, fixed: dict) -> dict:
    """Return one person's declared attributes, drawn from the role's distributions."""
    plan = spec.data["attributes"].get(role, {})
    declared = {a.name: a for a in spec.descriptor.attributes}
    drawn: dict[str, Any] = {}
    for name, distribution in plan.items():
        if name == "missing":
            continue
        drawn[name] = (
            fixed[name] if name in fixed else _draw_value(rng, declared[name], distribution, drawn)
        )
    drawn.update({name: value for name, value in fixed.items() if name not in drawn})
    # Missingness comes last, so that an attribute drawn `by` another always sees a value.
    for name, rate in plan.get("missing", {}).items():
        if name not in fixed and rng.random() < rate:
            drawn[name] = None
    return {a.name: drawn.get(a.name) for a in spec.descriptor.attributes if a.applies_to(role)}


def _quoted_labels(spec: Spec) -> dict[str, list[str]]:
    """Return, per activity, the labels that published quotes attribute to, in quote order."""
    pins: dict[str, list[str]] = {}
    for quote in spec.get("quotes", []):
        if quote["label"] and quote["label"] not in pins.get(quote["activity"], []):
            pins.setdefault(quote["activity"], []).append(quote["label"])
    return pins


@dataclass
class People:
    """The participants, groups and attendance rows of every sample."""

    participants: list[dict]
    groups: list[dict]
    attendance: list[dict]


def _person(spec, activity, role, label, site, rng, fixed=None) -> dict:
    return {
        "participant_id": PARTICIPANT_ID.format(stage=activity["stage"], label=label),
        "activity_id": activity["activity_id"],
        "role": role,
        "site_id": site,
        "group_id": None,
        "label": label,
        "status": None,
        **_attributes(spec, role, rng, fixed or {}),
    }


def _assign_statuses(people: list[dict], statuses: dict[str, int]) -> None:
    """Give the people, in order, the statuses in the order listed (quoted people come first)."""
    labels = [status for status, n in statuses.items() for _ in range(n)]
    for person, status in zip(people, labels, strict=True):
        person["status"] = status


def _individual_sample(spec, activity, sample, quoted, rng) -> tuple[list, list, list]:
    where = ("samples", activity["activity_id"])
    if "labels" in sample:
        labels = list(sample["labels"])
    else:
        n = sum(sample["sites"].values()) if "sites" in sample else sample["count"]
        labels = [sample["label_format"].format(n=i) for i in range(1, n + 1)]
    sites = [s for s, k in sample.get("sites", {}).items() for _ in range(k)] or [None] * len(
        labels
    )
    rng.shuffle(sites)
    fixed = sample.get("fixed", {})
    people = [
        _person(
            spec,
            activity,
            sample["role"],
            label,
            site,
            rng,
            {name: values[i] for name, values in fixed.items()},
        )
        for i, (label, site) in enumerate(zip(labels, sites, strict=True))
    ]
    for person in people:
        if not ID_PATTERN.match(person["participant_id"]):
            raise spec.error(
                where, f"the label {person['label']!r} makes an invalid participant id"
            )
    by_label = {p["label"]: p for p in people}
    for label in quoted:
        if label not in by_label:
            quote = next(
                i
                for i, q in enumerate(spec.get("quotes", []))
                if q["activity"] == activity["activity_id"] and q["label"] == label
            )
            raise spec.error(
                ("quotes", quote, "label"), f"no one in {where[1]}'s sample is labelled {label!r}"
            )
    pinned = [by_label[label] for label in quoted]
    unpinned = [p for p in people if p["label"] not in quoted]
    rng.shuffle(unpinned)
    order = pinned + unpinned
    attendance: list[dict] = []
    if "arms" in sample:
        start = 0
        arm_of = {}
        for arm, n in sample["arms"].items():
            members = order[start : start + n]
            start += n
            for p in members:
                arm_of[p["participant_id"]] = arm
            _assign_statuses(members, sample["statuses"][arm])
    else:
        arm_of = {}
        _assign_statuses(order, sample["statuses"])
    rows = {}
    if arm_of:
        rows = {
            p["participant_id"]: _attendance_row(p, arm_of[p["participant_id"]]) for p in people
        }
    for i, rule in enumerate(sample.get("attendance", [])):
        matching = [
            p
            for p in people
            if p["status"] == rule["status"]
            and ("arm" not in rule or arm_of.get(p["participant_id"]) == rule["arm"])
        ]
        for p in matching:
            rows.setdefault(
                p["participant_id"], _attendance_row(p, arm_of.get(p["participant_id"]))
            )
        if "sessions" in rule:
            lo, hi = rule["sessions"]
            for p in matching:
                rows[p["participant_id"]]["sessions_attended"] = rng.randint(int(lo), int(hi))
        else:
            _assign_patterns(spec, where + ("attendance", i), rule, matching, rows, rng)
    attendance = [rows[p["participant_id"]] for p in people if p["participant_id"] in rows]
    groups = []
    if "group" in sample:
        group = sample["group"]
        members = [p for p in people if p["status"] == group["status"]]
        if not members:
            raise spec.error(where + ("group",), f"no one has the status {group['status']!r}")
        for p in members:
            p["group_id"] = group["group_id"]
        member_sites = {p["site_id"] for p in members}
        groups.append(
            {
                "group_id": group["group_id"],
                "activity_id": activity["activity_id"],
                "role": sample["role"],
                "site_id": member_sites.pop() if len(member_sites) == 1 else None,
                "size": len(members),
                "label": group["label"],
            }
        )
    return people, groups, attendance


def _attendance_row(person: dict, arm: str | None) -> dict:
    return {
        "participant_id": person["participant_id"],
        "arm": arm,
        "sessions_attended": None,
        "attendance_pattern": None,
    }


def _assign_patterns(spec, where, rule, people, rows, rng) -> None:
    slots = [p for p in rule["patterns"] for _ in range(p["count"])]
    if len(slots) != len(people):
        raise spec.error(
            where + ("patterns",),
            f"the counts add up to {len(slots)}, but {len(people)} people have status {rule['status']!r}",
        )
    pinned = rule.get("pinned", {})
    by_label = {p["label"]: p for p in people}
    for label, pattern in pinned.items():
        if label not in by_label:
            raise spec.error(
                where + ("pinned", label), f"no one labelled {label!r} has this status"
            )
        if pattern not in {p["pattern"] for p in rule["patterns"]}:
            raise spec.error(where + ("pinned", label), f"{pattern!r} is not one of the patterns")
    for person in sorted(people, key=lambda p: p["label"] not in pinned):
        wanted = pinned.get(person["label"])
        candidates = [s for s in slots if s["pattern"] == wanted] if wanted else slots
        if not candidates:
            raise spec.error(
                where + ("pinned",), f"more people are pinned to {wanted!r} than its count"
            )
        slot = candidates[0] if wanted else rng.choice(slots)
        slots.remove(slot)
        row = rows[person["participant_id"]]
        row["attendance_pattern"] = slot["pattern"]
        if "sessions" in slot:
            lo, hi = slot["sessions"]
            row["sessions_attended"] = rng.randint(int(lo), int(hi))


def _group_sample(spec, activity, sample, counter, rng) -> tuple[list, list]:
    people, groups = [], []
    sites = iter(sample.get("group_sites", []))
    for kind in sample["groups"]:
        for n in range(1, kind["count"] + 1):
            counter[activity["stage"]] = counter.get(activity["stage"], 0) + 1
            group_id = GROUP_ID.format(stage=activity["stage"], n=counter[activity["stage"]])
            lo, hi = kind["size"]
            size = rng.randint(int(lo), int(hi))
            site = next(sites, None)
            groups.append(
                {
                    "group_id": group_id,
                    "activity_id": activity["activity_id"],
                    "role": kind["role"],
                    "site_id": site,
                    "size": size,
                    "label": kind["label"].format(n=n),
                }
            )
            for k in range(1, size + 1):
                label = kind["member_label"].format(n=n, k=k)
                person = _person(spec, activity, kind["role"], label, site, rng)
                person.update(group_id=group_id, status=sample["status"])
                people.append(person)
    return people, groups


def participants_and_groups(spec: Spec, seed: int) -> People:
    """Return the ``participants``, ``focus_groups`` and ``attendance`` rows of every sample."""
    activities = {a["activity_id"]: a for a in spec.data["activities"]}
    quoted = _quoted_labels(spec)
    everyone = People([], [], [])
    counter: dict = {}
    owner: dict[str, str] = {}
    for activity_id, sample in spec.data["samples"].items():
        activity = activities[activity_id]
        rng = _stream(seed, f"participants:{activity_id}")
        try:
            if "groups" in sample:
                people, groups = _group_sample(spec, activity, sample, counter, rng)
                attendance = []
            else:
                people, groups, attendance = _individual_sample(
                    spec, activity, sample, quoted.get(activity_id, []), rng
                )
        except (KeyError, IndexError, ValueError) as exc:
            if isinstance(exc, SpecificationError):
                raise
            raise spec.error(
                ("samples", activity_id), f"a label cannot be filled in: {exc}"
            ) from None
        for person in people:
            other = owner.setdefault(person["participant_id"], activity_id)
            if (
                other != activity_id
                or sum(p["participant_id"] == person["participant_id"] for p in people) > 1
            ):
                raise spec.error(
                    ("samples", activity_id),
                    f"the participant id {person['participant_id']} is made twice "
                    f"(samples.{other}); give the labels another format",
                )
        for group in groups:
            if any(g["group_id"] == group["group_id"] for g in everyone.groups):
                raise spec.error(
                    ("samples", activity_id), f"the group id {group['group_id']} is made twice"
                )
        everyone.participants += people
        everyone.groups += groups
        everyone.attendance += attendance
    return everyone


# --------------------------------------------------------------------------- targets


def code_targets(
    spec: Spec, codes: list[dict], plans: dict[str, dict]
) -> dict[str, dict[str, int]]:
    """Return the wanted sources/references per code: published figures first, then plans."""
    targets = {
        code: {k: v for k, v in plan.items() if k != "weights"} for code, plan in plans.items()
    }
    for i, figure in enumerate(spec.get("published_figures", [])):
        call = parse_call(figure["expression"])
        for kind in ("sources", "references"):
            code_id = literal_argument(call, kind)
            if code_id is None:
                continue
            if code_id not in targets:
                raise spec.error(
                    ("published_figures", i, "expression"), f"{code_id!r} is not a code"
                )
            if kind in plans[code_id]:
                raise spec.error(
                    ("published_figures", i, "value"),
                    f"{code_id} {kind} is both published here and planned in its codebook",
                )
            targets[code_id][kind] = int(figure["value"])
    return targets


# --------------------------------------------------------------------------- segments


class _Analysis:
    """Draws which sources and how many segments each code of one analysis gets."""

    def __init__(self, spec, codes, where, targets, weights, pool, required, rng):
        self.spec = spec
        self.codes = codes
        self.where = where
        self.children = {c["code_id"]: [] for c in codes}
        for c in codes:
            if c["parent_id"]:
                self.children[c["parent_id"]].append(c["code_id"])
        self.targets = targets
        self.weights = weights
        self.pool = pool
        self.required = required
        self.rng = rng
        self.sources: dict[str, set[str]] = {}
        self.segments: list[tuple[str, tuple[str, ...]]] = []  # (source, codes)

    def fail(self, code_id: str, message: str) -> SpecificationError:
        return self.spec.error(self.where[code_id], message)

    def leaf_target(self, code_id: str) -> tuple[int, int]:
        target = self.targets[code_id]
        sources = target.get("sources")
        refs = target.get("references")
        if sources is None:
            if len(self.pool) != 1:
                raise self.fail(code_id, "no source count: plan one, or publish one")
            sources = 1
        if refs is None:
            refs = sources + (sources + 2) // 3
        if not 1 <= sources <= refs:
            raise self.fail(code_id, f"{sources} sources, {refs} references impossible")
        if sources > len(self.pool):
            raise self.fail(
                code_id, f"{sources} sources wanted, but the analysis has {len(self.pool)}"
            )
        return sources, refs

    def choose(self, code_id: str, population: Iterable[str], n: int, must: set[str]) -> set[str]:
        rest = sorted(set(population) - must)
        if n < len(must) or n - len(must) > len(rest):
            raise self.fail(
                code_id, f"cannot choose {n} sources including {', '.join(sorted(must))}"
            )
        weights = self.weights.get(code_id)
        if not weights:
            return must | set(self.rng.sample(rest, n - len(must)))
        # Weighted sampling without replacement (Efraimidis and Spirakis): the n largest keys.
        keys = {
            s: self.rng.random() ** (1 / w) if w > 0 else -1.0
            for s, w in zip(rest, weights(rest), strict=True)
        }
        return must | set(sorted(rest, key=lambda s: -keys[s])[: n - len(must)])

    def run(self) -> None:
        for code in self.codes:
            if code["parent_id"] is None:
                self.assign(code["code_id"])

    def assign(self, code_id: str) -> None:
        kids = self.children[code_id]
        if not kids:
            if code_id not in self.sources:
                n, _ = self.leaf_target(code_id)
                self.sources[code_id] = self.choose(
                    code_id, self.pool, n, self.required.get(code_id, set())
                )
            return
        union = self.targets[code_id].get("sources")
        if union is not None:
            self.cover(code_id, kids, union)
        for kid in kids:
            self.assign(kid)
        leaves = [k for k in kids if not self.children[k]]
        if leaves:
            self.write_segments(code_id, leaves, all_leaves=len(leaves) == len(kids))
        elif self.targets[code_id].get("references") is not None:
            raise self.fail(code_id, "a reference total needs leaf children")

    def cover(self, code_id: str, kids: list[str], union: int) -> None:
        """Choose the children's sources so that together they are exactly ``union`` sources."""
        if any(self.children[k] for k in kids):
            raise self.fail(code_id, "a source total needs leaf children")
        sizes = {k: self.leaf_target(k)[0] for k in kids}
        if not max(sizes.values()) <= union <= sum(sizes.values()):
            raise self.fail(
                code_id,
                f"{union} sources cannot be the union of children with "
                f"{', '.join(map(str, sizes.values()))} sources",
            )
        must = set().union(*(self.required.get(k, set()) for k in kids))
        whole = self.choose(code_id, self.pool, union, must)
        chosen = {k: set(self.required.get(k, set())) for k in kids}
        uncovered = sorted(whole - set().union(*chosen.values()))
        self.rng.shuffle(uncovered)
        for k in kids:
            take = min(sizes[k] - len(chosen[k]), len(uncovered))
            if self.weights.get(k):  # the uncovered sources this child takes follow its weights
                picked = self.choose(k, uncovered, take, set())
                uncovered = [s for s in uncovered if s not in picked]
            else:
                picked, uncovered = set(uncovered[:take]), uncovered[take:]
            chosen[k] |= picked
            chosen[k] = self.choose(k, whole, sizes[k], chosen[k])
        if uncovered:
            raise self.fail(code_id, "its children's sources cannot cover every source")
        self.sources.update(chosen)

    def write_segments(self, code_id: str, kids: list[str], all_leaves: bool) -> None:
        """Write the segments of sibling leaves, double-coding some if the parent total asks."""
        refs = {k: self.leaf_target(k)[1] for k in kids}
        covered = {k: set() for k in kids}
        used = dict.fromkeys(kids, 0)
        parent_refs = self.targets[code_id].get("references")
        if parent_refs is not None and not all_leaves:
            raise self.fail(code_id, "a reference total needs leaf children")
        shared = sum(refs.values()) - parent_refs if parent_refs is not None else 0
        if shared < 0:
            raise self.fail(
                code_id,
                f"its children have {sum(refs.values())} references, fewer than {parent_refs}",
            )
        for _ in range(shared):
            options = [
                (a, b, s)
                for i, a in enumerate(kids)
                for b in kids[i + 1 :]
                for s in sorted(self.sources[a] & self.sources[b] - covered[a] - covered[b])
            ]
            if not options:
                raise self.fail(code_id, "no source is shared by two children to code twice")
            a, b, s = self.rng.choice(options)
            self.segments.append((s, (a, b)))
            for k in (a, b):
                covered[k].add(s)
                used[k] += 1
        for k in kids:
            remaining = refs[k] - used[k]
            first = sorted(self.sources[k] - covered[k])
            if remaining < len(first):
                raise self.fail(k, "too few references for its sources")
            extra = [
                self.rng.choice(sorted(self.sources[k])) for _ in range(remaining - len(first))
            ]
            for s in first + extra:
                self.segments.append((s, (k,)))


@dataclass
class Coding:
    """The coded material: segments, their codings, and a second coder's codings."""

    segments: list[dict]
    codings: list[dict]
    double_codings: list[dict]


def _analysis_pool(spec, activity_id, method, people: People) -> list[str]:
    if method.group_sources:
        return sorted(g["group_id"] for g in people.groups if g["activity_id"] == activity_id)
    analysed = set(spec.descriptor.analysed)
    return sorted(
        p["participant_id"]
        for p in people.participants
        if p["activity_id"] == activity_id and p["status"] in analysed
    )


def _source_weights(spec, plans, where, people: People, group_sources: bool):
    """Return, per code with planned weights, a function giving each source's weight."""
    comparison = spec.descriptor.comparison
    values = {
        p["participant_id"]: p.get(comparison.name) if comparison else None
        for p in people.participants
    }
    weights = {}
    for code_id, plan in plans.items():
        if "weights" not in plan:
            continue
        if comparison is None or group_sources:
            why = (
                "a comparison attribute in study.yaml"
                if comparison is None
                else "individual sources"
            )
            raise spec.error(where[code_id] + ("plan", "weights"), f"weights need {why}")
        allowed = attribute_values(comparison)
        for value in plan["weights"]:
            if value not in allowed:
                raise spec.error(
                    where[code_id] + ("plan", "weights", value),
                    not_declared(value, allowed, f"a value of {comparison.name}"),
                )

        def weigh(sources, table=plan["weights"]):
            keys = [values.get(s) for s in sources]
            keys = [str(k).lower() if isinstance(k, bool) else k for k in keys]
            return [table.get(k, 1) for k in keys]

        weights[code_id] = weigh
    return weights


def segments_and_codings(
    spec: Spec, codes: list[dict], targets: dict, people: People, seed: int
) -> Coding:
    """Return the segments, codings and (if asked) double codings of every analysis."""
    activities = {a["activity_id"]: a for a in spec.data["activities"]}
    where = {row["code_id"]: w for row, w, _, _ in walk_codebook(spec.data)}
    plans = {row["code_id"]: node.get("plan", {}) for row, _, node, _ in walk_codebook(spec.data)}
    by_label = {(p["activity_id"], p["label"]): p for p in people.participants}
    group_by_label = {(g["activity_id"], g["label"]): g for g in people.groups}
    members: dict[str, list[str]] = {}
    for p in people.participants:
        if p["group_id"]:
            members.setdefault(p["group_id"], []).append(p["participant_id"])
    coding = Coding([], [], [])
    for activity_id in spec.data["codebooks"]:
        rng = _stream(seed, f"segments:{activity_id}")
        own = [c for c in codes if c["activity_id"] == activity_id]
        method = spec.descriptor.method(activities[activity_id]["method"])
        grouped = method.group_sources
        pool = _analysis_pool(spec, activity_id, method, people)
        if not pool:
            raise spec.error(
                ("samples", activity_id), "no one in the sample has an analysed status"
            )
        required: dict[str, set[str]] = {}
        speakers: dict[tuple[str, str], str] = {}
        for i, quote in enumerate(spec.get("quotes", [])):
            if quote["activity"] != activity_id or not quote["label"] or not quote.get("code"):
                continue
            group = group_by_label.get((activity_id, quote["label"]))
            person = by_label.get((activity_id, quote["label"]))
            if group is None and person is None:
                raise spec.error(
                    ("quotes", i, "label"),
                    f"no one in {activity_id} is labelled {quote['label']!r}",
                )
            source = (
                group["group_id"]
                if group
                else (person["group_id"] if grouped else person["participant_id"])
            )
            if source not in pool:
                raise spec.error(
                    ("quotes", i, "label"), f"{quote['label']} is not among the analysed sources"
                )
            required.setdefault(quote["code"], set()).add(source)
            if grouped and person:
                speakers[(quote["code"], source)] = person["participant_id"]
        weights = _source_weights(
            spec, {c["code_id"]: plans[c["code_id"]] for c in own}, where, people, grouped
        )
        analysis = _Analysis(spec, own, where, targets, weights, pool, required, rng)
        analysis.run()
        table = spec.data["transcript_coders"][method.id]
        coders = {s: rng.choices(list(table), weights=list(table.values()))[0] for s in pool}
        order = {c["code_id"]: i for i, c in enumerate(own)}
        first_segment = len(coding.segments)
        for source, coded in sorted(analysis.segments, key=lambda x: (x[0], order[x[1][0]])):
            segment_id = SEGMENT_ID.format(n=len(coding.segments) + 1)
            speaker = None
            if grouped:
                speaker = speakers.pop((coded[0], source), None) or rng.choice(members[source])
            coding.segments.append(
                {
                    "segment_id": segment_id,
                    "participant_id": speaker if grouped else source,
                    "group_id": source if grouped else None,
                    "coder_id": coders[source],
                    "excerpt": rng.choice(spec.excerpts[coded[0]]),
                    "synthetic": True,
                }
            )
            coding.codings += [{"segment_id": segment_id, "code_id": c} for c in coded]
        if spec.get("double_coding"):
            coding.double_codings += _double_codings(
                spec, activity_id, own, coding.segments[first_segment:], coding.codings, seed
            )
    return coding


def _double_codings(spec, activity_id, own, segments, codings, seed) -> list[dict]:
    """Return a second coder's codings of a seeded share of one analysis's segments.

    The second coder keeps each of the first coder's codes with the chance its main theme's
    ``agreement`` gives; otherwise they apply a leaf code under another main theme of the
    analysis (any other leaf when it has one theme). So each main-theme assignment is
    reproduced with the chance the specification sets, and agreement is plausible and known.
    """
    plan = spec.data["double_coding"]
    rng = _stream(seed, f"double_coding:{activity_id}")
    parent = {c["code_id"]: c["parent_id"] for c in own}

    def top(code_id: str) -> str:
        while parent[code_id] is not None:
            code_id = parent[code_id]
        return code_id

    theme_of = {
        row["code_id"]: (theme, top(row["code_id"]))
        for row, _, _, theme in walk_codebook(spec.data)
        if row["activity_id"] == activity_id
    }
    leaves = [c["code_id"] for c in own if not any(o["parent_id"] == c["code_id"] for o in own)]
    order = {c["code_id"]: i for i, c in enumerate(own)}
    coded: dict[str, list[str]] = {}
    for row in codings:
        coded.setdefault(row["segment_id"], []).append(row["code_id"])
    k = int(plan["share"] * len(segments) + 0.5)
    chosen = sorted(rng.sample(range(len(segments)), k))
    pool = plan.get("coders") or [c["coder_id"] for c in spec.data["coders"]]
    rows = []
    for index in chosen:
        segment = segments[index]
        others = [c for c in pool if c != segment["coder_id"]]
        if not others:
            raise spec.error(
                ("double_coding", "coders"), "no coder other than the first is available"
            )
        second = rng.choice(others)
        first = coded[segment["segment_id"]]
        applied: list[str] = []
        for code_id in first:
            theme, theme_id = theme_of[code_id]
            if rng.random() < theme.get("agreement", plan["agreement"]):
                applied.append(code_id)
                continue
            free = [c for c in leaves if c not in first and c not in applied]
            elsewhere = [c for c in free if theme_of[c][1] != theme_id]
            alternatives = elsewhere or free
            applied.append(rng.choice(alternatives) if alternatives else code_id)
        rows += [
            {"segment_id": segment["segment_id"], "coder_id": second, "code_id": c}
            for c in sorted(dict.fromkeys(applied), key=order.__getitem__)
        ]
    return rows


# --------------------------------------------------------------------------- counting


def nvivo_counts(
    codes: list[dict], segments: list[dict], codings: list[dict]
) -> dict[str, tuple[int, int]]:
    """Return (sources, references) per code, aggregated NVivo-style over its descendants.

    A code's references are the distinct segments coded at it or beneath it; its sources are
    the distinct transcripts (the group, else the person) those segments come from.
    """
    parent = {c["code_id"]: c["parent_id"] for c in codes}
    source = {s["segment_id"]: s["group_id"] or s["participant_id"] for s in segments}
    refs: dict[str, set[str]] = {c["code_id"]: set() for c in codes}
    for row in codings:
        node = row["code_id"]
        while node is not None:
            refs[node].add(row["segment_id"])
            node = parent[node]
    return {code: (len({source[s] for s in segs}), len(segs)) for code, segs in refs.items()}


class _Measures:
    """The measures a published figure's expression may call, over the generated rows."""

    def __init__(self, spec: Spec, tables: dict[str, list[dict]]):
        self.spec = spec
        self.tables = tables
        self.counts = nvivo_counts(tables["codes"], tables["segments"], tables["codings"])

    def participants(self, activity, **filters):
        attendance = {a["participant_id"]: a for a in self.tables.get("attendance", [])}
        known = {
            k
            for rows in (self.tables["participants"], attendance.values())
            for r in rows
            for k in r
        }
        for column in filters:
            if column not in known:
                raise ValueError(f"participants have no column {column!r}")
        total = 0
        for person in self.tables["participants"]:
            row = {**attendance.get(person["participant_id"], {}), **person}
            if row["activity_id"] != activity:
                continue
            if all(
                row.get(column) in (wanted if isinstance(wanted, list) else [wanted])
                for column, wanted in filters.items()
            ):
                total += 1
        return total

    def groups(self, activity):
        return sum(g["activity_id"] == activity for g in self.tables.get("focus_groups", []))

    def sites(self, activity):
        rows = [g for g in self.tables.get("focus_groups", []) if g["activity_id"] == activity]
        rows = rows or [p for p in self.tables["participants"] if p["activity_id"] == activity]
        return len({r["site_id"] for r in rows if r["site_id"] is not None})

    def sources(self, code_id):
        return self.counts[code_id][0]

    def references(self, code_id):
        return self.counts[code_id][1]

    def themes(self, activity):
        return sum(
            c["activity_id"] == activity and c["parent_id"] is None for c in self.tables["codes"]
        )

    def _table(self, name: str) -> list[dict]:
        if name not in self.tables:
            raise ValueError(f"the package has no {name} table")
        return self.tables[name]

    def programmes(self, concept=None):
        if concept is None:
            return len(self._table("programmes"))
        return sum(p["concept_id"] == concept for p in self._table("programme_concepts"))

    def component_quantity(self, component_id):
        for component in self._table("components"):
            if component["component_id"] == component_id:
                return component["quantity"]
        raise KeyError(component_id)

    def subcomponents(self, component_id):
        return sum(c["parent_id"] == component_id for c in self._table("components"))

    def stages(self):
        return len(self.spec.descriptor.stages)

    def percent(self, numerator, denominator, rounding="half_up"):
        share = 100 * numerator / denominator
        return math.floor(share) if rounding == "floor" else math.floor(share + 0.5)

    @classmethod
    def names(cls) -> list[str]:
        """Return the measures an expression may call."""
        return sorted(
            n for n in vars(cls) if not n.startswith("_") and n not in ("evaluate", "names")
        )

    def evaluate(self, node):
        """Return the value of a parsed expression, evaluating nested calls first."""
        if not isinstance(node, ast.Call):
            return ast.literal_eval(node)
        if node.func.id not in self.names():
            raise ValueError(
                f"unknown measure {node.func.id!r}; expected one of {', '.join(self.names())}"
            )
        args = [self.evaluate(a) for a in node.args]
        kwargs = {k.arg: self.evaluate(k.value) for k in node.keywords}
        return getattr(self, node.func.id)(*args, **kwargs)


def check_figures(spec: Spec, tables: dict[str, list[dict]]) -> None:
    """Raise :class:`SpecificationError` unless every published figure regenerates exactly."""
    measures = _Measures(spec, tables)
    for i, figure in enumerate(spec.get("published_figures", [])):
        try:
            got = measures.evaluate(parse_call(figure["expression"]))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            why = (
                f"unknown id {exc}"
                if isinstance(exc, KeyError)
                else (str(exc) or type(exc).__name__)
            )
            raise spec.error(
                ("published_figures", i, "expression"), f"cannot be evaluated: {why}"
            ) from None
        if got != figure["value"]:
            raise spec.error(
                ("published_figures", i, "value"),
                f"{figure['figure_id']} is {figure['value']}, but the generated data give {got}",
            )


# --------------------------------------------------------------------------- modules


def review_rows(spec: Spec, seed: int) -> dict[str, list[dict]]:
    """Return the review module's rows: programmes, concepts and the links between them."""
    review = spec.data["review"]
    plan = review["programmes"]
    rng = _stream(seed, "programmes")
    ids = [PROGRAMME_ID.format(n=i) for i in range(1, plan["count"] + 1)]
    facilitators = [f for f, k in plan["facilitators"].items() for _ in range(k)]
    rng.shuffle(facilitators)
    published = {}
    for figure in spec.get("published_figures", []):
        concept = literal_argument(parse_call(figure["expression"]), "programmes")
        if concept is not None:
            published[concept] = int(figure["value"])
    wanted = {}
    for i, concept in enumerate(review["concepts"]):
        concept_id = concept["concept_id"]
        if concept_id in published and "programmes" in concept:
            raise spec.error(
                ("review", "concepts", i, "programmes"),
                "the count is published (published_figures) and also given here",
            )
        count = published.get(concept_id, concept.get("programmes"))
        if count is None:
            continue
        if count > plan["count"]:
            raise spec.error(
                ("review", "concepts", i),
                f"{count} programmes wanted, but {plan['count']} were reviewed",
            )
        wanted[concept_id] = count
    minimum = plan.get("min_concepts", 0)
    for _ in range(PROGRAMME_DRAWS):
        links = {c: sorted(rng.sample(ids, k)) for c, k in wanted.items()}
        if min(sum(p in chosen for chosen in links.values()) for p in ids) >= minimum:
            break
    else:
        raise spec.error(
            ("review", "programmes", "min_concepts"),
            f"could not give every programme {minimum} concepts in {PROGRAMME_DRAWS} draws",
        )
    return {
        "programmes": [
            {
                "programme_id": p,
                "label": plan["label_format"].format(n=i),
                "facilitator": f,
                "synthetic": True,
            }
            for i, (p, f) in enumerate(zip(ids, facilitators, strict=True), start=1)
        ],
        "concepts": [
            {
                "concept_id": c["concept_id"],
                "position": i,
                "name": c["name"],
                "definition": c["definition"],
                "wording": c["wording"],
                "review_statement": c.get("review_statement"),
                "statement_wording": c.get("statement_wording"),
            }
            for i, c in enumerate(review["concepts"], start=1)
        ],
        "programme_concepts": [
            {"programme_id": p, "concept_id": c} for p in ids for c in wanted if p in links[c]
        ],
        "concept_codes": [
            {"concept_id": c["concept_id"], "code_id": code}
            for c in review["concepts"]
            for code in c.get("codes", [])
        ],
    }


def quote_rows(spec: Spec, people: People) -> list[dict]:
    """Return the quotes module's rows, each tied to the person or group it is attributed to."""
    person_by_label = {(p["activity_id"], p["label"]): p for p in people.participants}
    group_by_label = {(g["activity_id"], g["label"]): g for g in people.groups}
    rows = []
    for q in spec.data["quotes"]:
        person = person_by_label.get((q["activity"], q["label"]))
        group = group_by_label.get((q["activity"], q["label"]))
        rows.append(
            {
                "quote_id": q["quote_id"],
                "activity_id": q["activity"],
                "label": q["label"],
                "label_note": q.get("label_note"),
                "participant_id": person["participant_id"] if person else None,
                "group_id": group["group_id"]
                if group
                else (person["group_id"] if person else None),
                "code_id": q.get("code"),
                "concept_id": q.get("concept"),
                "text": q["text"],
                "location": q["location"],
                "citation_id": q["citation"],
                "truncated": q["truncated"],
            }
        )
    return rows


def trace_rows(spec: Spec) -> dict[str, list[dict]]:
    """Return the trace module's rows: findings, their evidence, decisions and the trace."""
    findings, evidence, position = [], [], {}
    kinds = {"codes": "code", "quotes": "quote", "concepts": "concept", "figures": "figure"}
    for f in spec.data["findings"]:
        stage = str(f["stage"])
        position[stage] = position.get(stage, 0) + 1
        findings.append(
            {
                "finding_id": f["finding_id"],
                "stage_id": stage,
                "position": position[stage],
                "statement": f["statement"],
                "wording": f["wording"],
                "in_table": f.get("in_table"),
                "acted_on": f.get("acted_on", True),
                "reason": f.get("reason"),
            }
        )
        evidence += [
            {"finding_id": f["finding_id"], "evidence_type": kind, "evidence_id": ref}
            for key, kind in kinds.items()
            for ref in f["evidence"].get(key, [])
        ]
    decisions, trace = [], []
    for d in spec.data["decisions"]:
        decisions.append(
            {
                "decision_id": d["decision_id"],
                "stage_id": str(d["stage"]),
                "level": d["level"],
                "parent_id": d.get("parent"),
                "area": d["area"],
                "decision": d["decision"],
                "wording": d["wording"],
                "rationale": d["rationale"],
                "rationale_wording": d["rationale_wording"],
                "in_table": d.get("in_table"),
                "component_id": d.get("component"),
            }
        )
        trace += [{"finding_id": f, "decision_id": d["decision_id"]} for f in d["findings"]]
    return {
        "findings": findings,
        "finding_evidence": evidence,
        "decisions": decisions,
        "trace": trace,
    }


def intervention_rows(spec: Spec) -> dict[str, list[dict]]:
    """Return the intervention module's rows: components and the TIDieR items."""
    return {
        "components": [
            {
                "component_id": c["component_id"],
                "parent_id": c.get("parent"),
                "tidier_item": c["tidier"],
                "name": c["name"],
                "description": c["description"],
                "wording": c["wording"],
                "quantity": c.get("quantity"),
                "unit": c.get("unit"),
                "quantity_origin": c.get("quantity_origin"),
            }
            for c in spec.data["components"]
        ],
        "tidier": [
            {k: t[k] for k in ("item", "name", "description", "wording")}
            for t in sorted(spec.data["tidier"], key=lambda t: t["item"])
        ],
    }


def survey_rows(spec: Spec, people: People, seed: int) -> dict[str, list[dict]]:
    """Return the survey module's rows: the items, and each respondent's answers.

    Answers are drawn from the item's weights for the respondent's comparison group, so a
    comparison between groups shows the difference the specification sets.
    """
    survey = spec.data["survey"]
    rng = _stream(seed, "survey")
    scales = {s.id: s for s in spec.descriptor.scales}
    comparison = spec.descriptor.comparison
    took_part = set(spec.descriptor.took_part)
    respondents = [
        p
        for p in people.participants
        if p["activity_id"] == survey["activity"] and p["status"] in took_part
    ]
    items, responses = [], []
    for position, item in enumerate(survey["items"], start=1):
        items.append(
            {
                "item_id": item["item_id"],
                "activity_id": survey["activity"],
                "position": position,
                "text": item["text"],
                "scale_id": item["scale"],
                "wording": item["wording"],
            }
        )
    for person in respondents:
        group = person.get(comparison.name) if comparison else None
        group = str(group).lower() if isinstance(group, bool) else group
        for item in survey["items"]:
            values = scales[item["scale"]].values
            table = item["responses"]
            if isinstance(table, dict):
                # Someone whose group is not recorded answers like the sample as a whole.
                weights = table.get(group) or [sum(w) for w in zip(*table.values(), strict=True)]
            else:
                weights = table
            answer = None
            if rng.random() >= item.get("skipped", 0):
                answer = rng.choices(values, weights=weights)[0]
            responses.append(
                {
                    "participant_id": person["participant_id"],
                    "item_id": item["item_id"],
                    "response": answer,
                }
            )
    return {"survey_items": items, "survey_responses": responses}


# --------------------------------------------------------------------------- assembly


def codebook_rows(spec: Spec) -> tuple[list[dict], dict[str, dict]]:
    """Return the ``codes`` rows, and each code's planned counts (``plan``) by code id."""
    rows, plans = [], {}
    for row, _, node, _ in walk_codebook(spec.data):
        rows.append(row)
        plans[row["code_id"]] = node.get("plan", {})
    return rows, plans


def build_tables(spec: Spec, seed: int) -> dict[str, list[dict]]:
    """Return every table of the package as a list of row dicts, keyed by resource name.

    Only the optional modules the specification asks for are included.

    Raises
    ------
    SpecificationError
        When the specification cannot be realised (counts that cannot all hold, a published
        figure the data do not give), naming the key that asks for it.
    """
    people = participants_and_groups(spec, seed)
    codes, plans = codebook_rows(spec)
    targets = code_targets(spec, codes, plans)
    coding = segments_and_codings(spec, codes, targets, people, seed)
    activity_keys = ("activity_id", "method", "label", "reported_n", "unit", "n_origin")
    tables = {
        "activities": [
            {**{k: a.get(k) for k in activity_keys}, "stage_id": str(a["stage"])}
            for a in spec.data["activities"]
        ],
        "coders": [dict(c) for c in spec.data["coders"]],
        "participants": people.participants,
        "codes": codes,
        "segments": coding.segments,
        "codings": coding.codings,
    }
    if people.groups:
        tables["focus_groups"] = people.groups
    if people.attendance:
        tables["attendance"] = people.attendance
    if spec.get("review"):
        tables.update(review_rows(spec, seed))
    if spec.get("quotes"):
        tables["quotes"] = quote_rows(spec, people)
    if spec.get("findings"):
        tables.update(trace_rows(spec))
    if spec.get("components"):
        tables.update(intervention_rows(spec))
    if spec.get("published_figures"):
        tables["published_figures"] = [
            {
                k: f.get(k)
                for k in (
                    "figure_id",
                    "description",
                    "value",
                    "origin",
                    "location",
                    "note",
                    "expression",
                )
            }
            for f in spec.data["published_figures"]
        ]
    if spec.get("survey"):
        tables.update(survey_rows(spec, people, seed))
    if spec.get("double_coding"):
        tables["double_codings"] = coding.double_codings
    _check_targets(spec, tables, targets)
    check_figures(spec, tables)
    return tables


def _check_targets(spec: Spec, tables: dict, targets: dict) -> None:
    counts = nvivo_counts(tables["codes"], tables["segments"], tables["codings"])
    where = code_index(spec)
    for code_id, wanted in targets.items():
        for kind, value in wanted.items():
            got = counts[code_id][0 if kind == "sources" else 1]
            if got != value:
                raise spec.error(where[code_id], f"generated {got} {kind}, wanted {value}")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_csv(rows: list[dict], fields: list[str]) -> str:
    """Return rows as CSV text with the given columns, ``\\n`` line endings and no index."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(row.get(f)) for f in fields])
    return buffer.getvalue()


def package_files(spec: Spec, tables: dict[str, list[dict]], seed: int) -> dict[str, bytes]:
    """Return the package's files, by name: ``study.yaml``, ``datapackage.json`` and the CSVs."""
    metadata = {**spec.data["package"], "x-synthetic": {"generator": GENERATOR, "seed": seed}}
    package = schema.package_descriptor(spec.descriptor, set(tables), metadata)
    files = {DESCRIPTOR_FILE: spec.descriptor_bytes}
    for resource in package["resources"]:
        fields = [f["name"] for f in resource["schema"]["fields"]]
        files[resource["path"]] = table_csv(tables.get(resource["name"], []), fields).encode(
            "utf-8"
        )
    files[schema.PACKAGE_FILE] = schema.descriptor_text(package).encode("utf-8")
    return files


def write_package(files: dict[str, bytes], out_dir: Path) -> Path:
    """Write a package to ``out_dir`` atomically, and only if it validates.

    See :func:`compendium.contract.writing.replace_package`: a kill at any moment leaves the
    whole old package or the whole new one, and an invalid package writes nothing.
    """
    return replace_package(files, out_dir, validate_package)


def synthesize(seed: int, out_dir: Path, spec_path: Path = DEFAULT_SPEC) -> Path:
    """Generate the package a specification plans, for one seed, into ``out_dir``.

    Parameters
    ----------
    seed
        Seed of every random stream; the same seed gives byte-identical files.
    out_dir
        Where the package goes: missing, empty, or a package it replaces whole.
    spec_path
        The specification (default: this project's own, ``spec/spec.yaml``).

    Returns
    -------
    pathlib.Path
        ``out_dir``, made absolute.

    Raises
    ------
    UnsafeTarget
        Before anything else, when ``out_dir`` is not something a package may replace.
    SpecificationError
        When the specification cannot be read or realised.
    InvalidPackage
        When the generated package fails validation; nothing is written.
    """
    check_target(out_dir)
    spec = load_spec(spec_path)
    files = package_files(spec, build_tables(spec, seed), seed)
    return write_package(files, out_dir)


# --------------------------------------------------------------------------- scaled, for benchmarks

#: People per group in scaled group analyses, when the specification's groups give no size.
SCALED_GROUP_SIZE = 6
#: Share of scaled segments coded at a second leaf.
SCALED_DOUBLE_SHARE = 0.3


def _draw_vector(rng, attribute, distribution: dict, n: int, drawn: dict):
    """Return ``n`` draws of one attribute, as a numpy object array (the scaled twin of _draw_value)."""
    import numpy as np

    out = np.empty(n, dtype=object)
    if "by" in distribution:
        keys = np.array(
            [str(v).lower() if isinstance(v, bool) else v for v in drawn[distribution["by"]]],
            dtype=object,
        )
        for value, inner in distribution["values"].items():
            mask = keys == value
            out[mask] = _draw_vector(rng, attribute, inner, int(mask.sum()), {})
        return out
    if "probability" in distribution:
        out[:] = rng.random(n) < distribution["probability"]
        return out
    if "uniform" in distribution or "normal" in distribution:
        if "uniform" in distribution:
            lo, hi = distribution["uniform"]
            if attribute.type == "integer":
                values = rng.integers(math.ceil(lo), math.floor(hi) + 1, n).astype(float)
            else:
                values = rng.uniform(lo, hi, n)
        else:
            values = rng.normal(*distribution["normal"], n)
        values = np.clip(values, attribute.minimum, attribute.maximum)
        out[:] = values.round().astype(int) if attribute.type == "integer" else values.round(1)
        return out
    weights = np.array(list(distribution.values()), dtype=float)
    out[:] = rng.choice(np.array(list(distribution), dtype=object), n, p=weights / weights.sum())
    return out


def _scaled_attributes(spec: Spec, role: str, n: int, rng) -> dict:
    import numpy as np

    plan = spec.data["attributes"].get(role, {})
    declared = {a.name: a for a in spec.descriptor.attributes}
    drawn = {}
    for name, distribution in plan.items():
        if name != "missing":
            drawn[name] = _draw_vector(rng, declared[name], distribution, n, drawn)
    for name, rate in plan.get("missing", {}).items():
        drawn[name][rng.random(n) < rate] = None
    return {
        a.name: drawn.get(a.name, np.full(n, None, dtype=object))
        for a in spec.descriptor.attributes
        if a.applies_to(role)
    }


def _scaled_blocks(spec: Spec, real: dict[str, list[dict]]) -> list[dict]:
    """Return the blocks of scaled people: one per analysis and role, with their real shares."""
    import statistics

    speaker_role = {p["participant_id"]: p["role"] for p in real["participants"]}
    segments_by = {}
    for s in real["segments"]:
        key = (s["group_id"] or s["participant_id"], speaker_role[s["participant_id"]])
        segments_by[key] = segments_by.get(key, 0) + 1
    group_activity = {g["group_id"]: g["activity_id"] for g in real.get("focus_groups", [])}
    analysed = set(spec.descriptor.analysed)
    blocks: dict[tuple[str, str], dict] = {}
    for person in real["participants"]:
        if person["activity_id"] not in spec.data["codebooks"] or person["status"] not in analysed:
            continue
        key = (person["activity_id"], person["role"])
        block = blocks.setdefault(
            key,
            {
                "activity": key[0],
                "role": key[1],
                "people": 0,
                "segments": 0,
                "sites": [],
                "status": person["status"],
            },
        )
        block["people"] += 1
        block["sites"].append(person["site_id"])
    for (source, role), count in segments_by.items():
        activity = group_activity.get(source) or next(
            p["activity_id"] for p in real["participants"] if p["participant_id"] == source
        )
        if (activity, role) in blocks:
            blocks[(activity, role)]["segments"] += count
    for block in blocks.values():
        sizes = [
            g["size"] for g in real.get("focus_groups", []) if g["activity_id"] == block["activity"]
        ]
        block["group_size"] = round(statistics.mean(sizes)) if sizes else None
    return list(blocks.values())


def scaled_tables(
    n_segments: int,
    n_participants: int | None = None,
    seed: int = 2017,
    spec_path: Path = DEFAULT_SPEC,
    codes=None,
) -> dict:
    """Return the core tables (and ``attendance``) of a synthetic package at any scale.

    For benchmarks only: the frames have the columns and dtypes of the contract's tables for
    the specification's study (so every analysis function accepts them), people and segments
    fall into each analysis and role in the shares the specification's own package has, and
    everything is drawn with numpy in a few vectorised passes, not row by row. No published
    figure is matched; nothing is written to disk.

    Parameters
    ----------
    n_segments
        Coded segments to make; about 1.3 codings each.
    n_participants
        People to make (default: a tenth of the segments, between 100 and 100,000).
    seed
        Seed of the random generator; the same arguments give the same frames.
    spec_path
        The specification whose study, codebooks and distributions to follow.
    codes
        The codebook to code against (default: the specification's codebooks).

    Returns
    -------
    dict of pandas.DataFrame
        Keyed by table name; ``attendance`` only when a sample has arms or attendance.
    """
    import numpy as np
    import pandas as pd

    from compendium.contract.loading import PANDAS_DTYPES

    spec = load_spec(spec_path)
    real = build_tables(spec, seed)
    rng = np.random.default_rng(seed)
    if n_participants is None:
        n_participants = int(min(max(n_segments // 10, 100), 100_000))
    blocks = _scaled_blocks(spec, real)
    people_total = sum(b["people"] for b in blocks)
    activities = {a["activity_id"]: a for a in spec.data["activities"]}

    # Participants (and attendance), block by block.
    people_blocks, attendance_blocks, speakers = [], [], []
    for number, block in enumerate(blocks):
        size = block["group_size"]
        n = max(int(round(block["people"] / people_total * n_participants)), size or 1)
        ids = pd.Series(np.arange(1, n + 1)).astype(str)
        frame = pd.DataFrame(
            {
                "participant_id": f"X{number}-" + ids,
                "activity_id": block["activity"],
                "role": block["role"],
                "site_id": rng.choice(np.array(block["sites"], dtype=object), n),
                "group_id": (
                    f"GX{number}-" + pd.Series(np.arange(n) // size + 1).astype(str)
                    if size
                    else None
                ),
                "label": f"P{number}-" + ids,
                "status": block["status"],
            }
        )
        for name, values in _scaled_attributes(spec, block["role"], n, rng).items():
            frame[name] = values
        sample = spec.data["samples"][block["activity"]]
        if "arms" in sample or "attendance" in sample:
            arms = sample.get("arms", {})
            arm = (
                rng.choice(
                    np.array(list(arms), dtype=object),
                    n,
                    p=np.array(list(arms.values())) / sum(arms.values()),
                )
                if arms
                else np.full(n, None, dtype=object)
            )
            ranges = [r["sessions"] for r in sample.get("attendance", []) if "sessions" in r] + [
                p["sessions"]
                for r in sample.get("attendance", [])
                for p in r.get("patterns", [])
                if "sessions" in p
            ]
            lo = min((r[0] for r in ranges), default=0)
            hi = max((r[1] for r in ranges), default=0)
            sessions = pd.array(rng.integers(int(lo), int(hi) + 1, n), dtype="Int64")
            if arms:
                sessions[arm != next(iter(arms))] = pd.NA
            attendance_blocks.append(
                pd.DataFrame(
                    {
                        "participant_id": frame["participant_id"],
                        "arm": arm,
                        "sessions_attended": sessions,
                    }
                )
            )
        people_blocks.append(frame)
        speakers.append(frame[["participant_id", "group_id"]].to_numpy())
    people = pd.concat(people_blocks, ignore_index=True)

    # The specification's codebooks; segments land on their leaves.
    if codes is None:
        codes = pd.DataFrame(codebook_rows(spec)[0])
    leaves = codes[~codes["code_id"].isin(codes["parent_id"].dropna())]
    leaf_ids = {a: g["code_id"].to_numpy(dtype=object) for a, g in leaves.groupby("activity_id")}
    shares = np.array([max(b["segments"], 1) for b in blocks], dtype=float)
    block_of = rng.choice(len(blocks), n_segments, p=shares / shares.sum())
    order = np.argsort(block_of, kind="stable")
    counts = np.bincount(block_of, minlength=len(blocks))
    participant = np.empty(n_segments, dtype=object)
    group = np.empty(n_segments, dtype=object)
    coder = np.empty(n_segments, dtype=object)
    first_code = np.empty(n_segments, dtype=object)
    # A share of segments is coded twice, at another leaf of the same analysis (drawn as an
    # offset from the first, so no coding is ever duplicated).
    twice = rng.random(n_segments) < SCALED_DOUBLE_SHARE
    second_code = np.empty(n_segments, dtype=object)
    start = 0
    for number, block in enumerate(blocks):
        rows = order[start : start + counts[number]]
        start += counts[number]
        who = speakers[number][rng.integers(0, len(speakers[number]), len(rows))]
        participant[rows], group[rows] = who[:, 0], who[:, 1]
        table = spec.data["transcript_coders"][activities[block["activity"]]["method"]]
        weights = np.array(list(table.values()), dtype=float)
        coder[rows] = rng.choice(
            np.array(list(table), dtype=object), len(rows), p=weights / weights.sum()
        )
        leaf = leaf_ids[block["activity"]]
        first = rng.integers(0, len(leaf), len(rows))
        first_code[rows] = leaf[first]
        if len(leaf) > 1:
            second_code[rows] = leaf[(first + rng.integers(1, len(leaf), len(rows))) % len(leaf)]
        else:
            twice[rows] = False
    segment_ids = np.array([f"SEG{i:07d}" for i in range(1, n_segments + 1)], dtype=object)
    segments = pd.DataFrame(
        {
            "segment_id": segment_ids,
            "participant_id": participant,
            "group_id": group,
            "coder_id": coder,
            "excerpt": "Synthetic excerpt for benchmarking.",
            "synthetic": True,
        }
    )
    codings = pd.DataFrame(
        {
            "segment_id": np.concatenate([segment_ids, segment_ids[twice]]),
            "code_id": np.concatenate([first_code, second_code[twice]]),
        }
    )
    frames = {"participants": people, "codes": codes, "segments": segments, "codings": codings}
    if attendance_blocks:  # only a study with a trial has an attendance table
        frames["attendance"] = pd.concat(attendance_blocks, ignore_index=True)
    package = schema.package_descriptor(spec.descriptor, set(frames), {})
    fields = {r["name"]: r["schema"]["fields"] for r in package["resources"]}
    for name, frame in frames.items():
        frame = frame.reindex(columns=[f["name"] for f in fields[name]])
        for f in fields[name]:
            frame[f["name"]] = frame[f["name"]].astype(PANDAS_DTYPES[f["type"]])
        frames[name] = frame.reset_index(drop=True)
    return frames


def _frame_csv(frame, fields: list[dict]) -> bytes:
    """Return a typed frame as package CSV: declared columns, empty for missing, lower-case booleans."""
    text = frame[[f["name"] for f in fields]].copy()
    for f in fields:
        if f["type"] == "boolean":
            text[f["name"]] = text[f["name"]].map({True: "true", False: "false"})
    return text.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


def scaled_package_files(
    n_segments: int,
    n_participants: int | None = None,
    seed: int = 2017,
    spec_path: Path = DEFAULT_SPEC,
) -> dict[str, bytes]:
    """Return the files of a valid package with the core tables at any scale (for benchmarks).

    The core tables come from :func:`scaled_tables`; around them are what makes them a package
    the validator accepts: the specification's ``study.yaml``, its activities (each reported
    size set to the scaled count, and left empty for units the scaled package does not hold),
    coders, the focus groups the scaled people name, and ``datapackage.json``. Optional modules
    other than trial attendance are left out: their rows name the specification's own people.

    Returns
    -------
    dict of bytes
        File name to content, as :func:`package_files` returns them.
    """
    import numpy as np
    import pandas as pd

    spec = load_spec(spec_path)
    frames = scaled_tables(n_segments, n_participants, seed, spec_path)
    real = build_tables(spec, seed)
    people = frames["participants"]
    tables: dict[str, Any] = dict(frames)
    grouped = people.dropna(subset=["group_id"]).groupby("group_id", sort=False)
    groups = grouped.agg(
        activity_id=("activity_id", "first"),
        role=("role", "first"),
        site_id=("site_id", "first"),
        size=("participant_id", "size"),
    ).reset_index()
    groups["label"] = "Scaled group " + pd.Series(np.arange(1, len(groups) + 1)).astype(str)
    took_part = set(spec.descriptor.took_part)
    counted = people[people["status"].isin(took_part)]
    activities = pd.DataFrame(real["activities"])
    sizes = {
        "groups": groups.groupby("activity_id").size(),
        "participants": counted.groupby("activity_id").size(),
    }
    # Reported sizes must equal what the package holds; units it doesn't hold have none.
    reported = [
        int(sizes[unit].get(activity, 0)) if unit in sizes else None
        for activity, unit in zip(activities["activity_id"], activities["unit"], strict=True)
    ]
    activities["reported_n"] = pd.array(reported, dtype="Int64")
    activities["n_origin"] = ["synthetic" if n is not None else None for n in reported]
    tables["activities"] = activities
    tables["coders"] = pd.DataFrame(real["coders"])
    if len(groups):
        tables["focus_groups"] = groups
    metadata = {**spec.data["package"], "x-synthetic": {"generator": GENERATOR, "seed": seed}}
    package = schema.package_descriptor(spec.descriptor, set(tables), metadata)
    files = {DESCRIPTOR_FILE: spec.descriptor_bytes}
    for resource in package["resources"]:
        files[resource["path"]] = _frame_csv(tables[resource["name"]], resource["schema"]["fields"])
    files[schema.PACKAGE_FILE] = schema.descriptor_text(package).encode("utf-8")
    return files
