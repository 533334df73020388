"""Generate the synthetic, de-identified data package from the study specification.

The generator realises ``resources/milton2017.yaml``: every published count comes out exactly,
and every value the paper does not give is drawn, from a seeded random stream, so that it is
plausible. Each part of the package draws from its own stream (seeded by the seed and the
part's name), so changing one codebook does not reshuffle the others. The same seed always
gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml

from compendium import paths
from compendium.analysis.expressions import code_count_target, parse_expression
from compendium.analysis.themes import code_counts
from compendium.contract.loading import canonical_descriptor
from compendium.contract.validation import InvalidPackage, validate_package

QUOTE_SOURCE = (
    "Milton et al. (2017), BMC Research Notes 10:588, doi:10.1186/s13104-017-2900-6, CC BY 4.0"
)
GROUP_ABBREVIATIONS = {"staff": "SF", "service_user": "UF", "carer": "CF"}
INTERVIEW_CODERS = ("R1", "R1", "R2")
FOCUS_GROUP_CODERS = ("R1", "R3", "R4")


class SpecificationError(ValueError):
    """The study specification asks for counts that cannot all hold at once."""


def load_spec(path: Path = paths.STUDY_SPEC) -> dict:
    """Return the study specification as a dict."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_excerpts(path: Path = paths.RESOURCES_DIR / "excerpts.yaml") -> dict[str, list[str]]:
    """Return the synthetic excerpt texts, keyed by leaf code id."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _stream(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")


# --------------------------------------------------------------------------- participants


def _draw(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _demographics(role: str, spec: dict, rng: random.Random) -> dict:
    dist = spec["demographics"][role]
    row = {k: _draw(rng, dist[k]) for k in ("age_band", "gender", "ethnicity")}
    if role == "service_user":
        row["diagnosis_group"] = _draw(rng, dist["diagnosis_group"])
        row["crt_use"] = _draw(rng, dist["crt_use"])
        for column, rate in dist["missing"].items():
            if rng.random() < rate:
                row[column] = None
    if role == "staff":
        row["staff_profession"] = _draw(rng, dist["staff_profession"])
    return row


def _quote_pins(spec: dict) -> dict[str, set[str]]:
    """Return, per activity, the labels that published quotes attribute to a person or group."""
    pins: dict[str, set[str]] = {}
    for quote in spec["quotes"]:
        if quote["label"]:
            pins.setdefault(quote["activity"], set()).add(quote["label"])
    return pins


def _person(activity: dict, role: str, label: str, site: str, spec: dict, rng) -> dict:
    return {
        "participant_id": f"S{activity['stage']}-{label}",
        "activity_id": activity["activity_id"],
        "role": role,
        "site_id": site,
        "group_id": None,
        "label": label,
        **_demographics(role, spec, rng),
        "status": None,
        "arm": None,
        "sessions_attended": None,
        "attendance_pattern": None,
    }


def _interview_sample(activity: dict, sample: dict, spec: dict, pins: set[str], rng) -> list[dict]:
    sites = [site for site, n in sample["sites"].items() for _ in range(n)]
    rng.shuffle(sites)
    people = [
        _person(activity, sample["role"], sample["label_format"].format(n=i + 1), site, spec, rng)
        for i, site in enumerate(sites)
    ]
    by_label = {p["label"]: p for p in people}
    unpinned = [p for p in people if p["label"] not in pins]
    rng.shuffle(unpinned)
    pinned = [by_label[label] for label in sorted(pins)]
    if "arms" in sample:
        n_int = sample["arms"]["intervention"]
        intervention = pinned + unpinned[: n_int - len(pinned)]
        for p in people:
            p["arm"] = "intervention" if p in intervention else "control"
        _assign_statuses(intervention, sample["statuses"]["intervention"], pinned)
        _assign_statuses(
            [p for p in people if p["arm"] == "control"], sample["statuses"]["control"], []
        )
        _assign_attendance([p for p in intervention if p["status"] == "interviewed"], sample, rng)
    else:
        _assign_statuses(pinned + unpinned, sample["statuses"], pinned)
        for p in people:
            lo, hi = sample.get("sessions", {}).get(p["status"], (None, None))
            if lo is not None:
                p["sessions_attended"] = rng.randint(lo, hi)
    return people


def _assign_statuses(people: list[dict], statuses: dict[str, int], pinned: list[dict]) -> None:
    """Give pinned people the first status (interviewed), then fill the rest in order."""
    if sum(statuses.values()) != len(people):
        raise SpecificationError(f"statuses {statuses} do not add up to {len(people)} people")
    order = pinned + [p for p in people if p not in pinned]
    labels = [status for status, n in statuses.items() for _ in range(n)]
    for person, status in zip(order, labels, strict=True):
        person["status"] = status


def _assign_attendance(interviewed: list[dict], sample: dict, rng) -> None:
    patterns = sample["attendance"]
    slots = [p for p in patterns for _ in range(p["count"])]
    if len(slots) != len(interviewed):
        raise SpecificationError("attendance patterns do not cover every interviewee")
    pinned = sample.get("pinned_patterns", {})
    people = sorted(interviewed, key=lambda p: p["label"] not in pinned)
    for person in people:
        wanted = pinned.get(person["label"])
        slot = next(s for s in slots if s["pattern"] == wanted) if wanted else rng.choice(slots)
        slots.remove(slot)
        person["attendance_pattern"] = slot["pattern"]
        if slot["sessions"] is not None:
            person["sessions_attended"] = rng.randint(*slot["sessions"])


def _psw_sample(activity: dict, sample: dict, spec: dict, rng) -> tuple[list[dict], dict]:
    site = next(iter(sample["sites"]))
    group_id = f"G{activity['stage']}-PSW"
    people = []
    for label, gender in zip(sample["labels"], sample["genders"], strict=True):
        person = _person(activity, sample["role"], label, site, spec, rng)
        person["gender"] = gender
        people.append(person)
    _assign_statuses(people, sample["statuses"], [])
    members = [p for p in people if p["status"] == "focus_group"]
    for p in members:
        p["group_id"] = group_id
    group = {
        "group_id": group_id,
        "activity_id": activity["activity_id"],
        "stakeholder_type": sample["role"],
        "site_id": site,
        "size": len(members),
        "label": sample["group_label"],
    }
    return people, group


def _stakeholder_groups(activity: dict, sample: dict, spec: dict, rng) -> tuple[list, list]:
    people, groups = [], []
    sites = iter(sample["group_sites"])
    for kind in sample["groups"]:
        for n in range(1, kind["count"] + 1):
            group_id = f"G{activity['stage']}-{len(groups) + 1:02d}"
            size = rng.randint(*kind["size"])
            groups.append(
                {
                    "group_id": group_id,
                    "activity_id": activity["activity_id"],
                    "stakeholder_type": kind["type"],
                    "site_id": next(sites),
                    "size": size,
                    "label": kind["label"].format(n=n),
                }
            )
            for k in range(1, size + 1):
                label = f"{GROUP_ABBREVIATIONS[kind['type']]}{n}-{k}"
                person = _person(activity, kind["type"], label, groups[-1]["site_id"], spec, rng)
                person.update(group_id=group_id, status="focus_group")
                people.append(person)
    return people, groups


def participants_and_groups(spec: dict, seed: int) -> tuple[list[dict], list[dict]]:
    """Return the ``participants`` and ``focus_groups`` rows."""
    activities = {a["activity_id"]: a for a in spec["activities"]}
    pins = _quote_pins(spec)
    people, groups = [], []
    for activity_id, sample in spec["samples"].items():
        activity = activities[activity_id]
        rng = _stream(seed, f"participants:{activity_id}")
        if "groups" in sample:
            new_people, new_groups = _stakeholder_groups(activity, sample, spec, rng)
        elif "labels" in sample:
            new_people, group = _psw_sample(activity, sample, spec, rng)
            new_groups = [group]
        else:
            new_people = _interview_sample(
                activity, sample, spec, pins.get(activity_id, set()), rng
            )
            new_groups = []
        people += new_people
        groups += new_groups
    return people, groups


# --------------------------------------------------------------------------- codebooks


def codebook_rows(spec: dict) -> tuple[list[dict], dict[str, dict]]:
    """Return the ``codes`` rows, and each code's ``plan`` (synthetic counts) by code id."""
    rows, plans = [], {}

    def walk(nodes: list[dict], activity_id: str, prefix: str, parent: str | None) -> None:
        for position, node in enumerate(nodes, start=1):
            code_id = f"{prefix}.{position}" if parent else f"{prefix}-{position}"
            rows.append(
                {
                    "code_id": code_id,
                    "activity_id": activity_id,
                    "parent_id": parent,
                    "position": position,
                    "name": node["name"],
                    "description": node["description"],
                    "valence": node.get("valence"),
                    "name_status": node["status"],
                }
            )
            plans[code_id] = node.get("plan", {})
            walk(node.get("children", []), activity_id, code_id, code_id)

    for activity_id, themes in spec["codebooks"].items():
        walk(themes, activity_id, spec["code_prefixes"][activity_id], None)
    return rows, plans


def code_targets(spec: dict, plans: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Return the wanted sources/references per code: published figures first, then plans."""
    targets = {code: dict(plan) for code, plan in plans.items()}
    for figure in spec["published_figures"]:
        target = code_count_target(parse_expression(figure["expression"]))
        if target is None:
            continue
        kind, code_id = target
        if code_id not in targets:
            raise SpecificationError(f"{figure['figure_id']} names unknown code {code_id}")
        if kind in plans[code_id]:
            raise SpecificationError(f"{code_id} {kind} is both published and planned")
        targets[code_id][kind] = int(figure["value"])
    return targets


# --------------------------------------------------------------------------- segments


class _Analysis:
    """Draws which sources and how many segments each code of one analysis gets."""

    def __init__(self, codes, targets, pool, required, rng):
        self.codes = codes
        self.children = {c["code_id"]: [] for c in codes}
        for c in codes:
            if c["parent_id"]:
                self.children[c["parent_id"]].append(c["code_id"])
        self.targets = targets
        self.pool = pool
        self.required = required
        self.rng = rng
        self.sources: dict[str, set[str]] = {}
        self.segments: list[tuple[str, tuple[str, ...]]] = []  # (source, codes)

    def leaf_target(self, code_id: str) -> tuple[int, int]:
        target = self.targets[code_id]
        sources = target.get("sources")
        refs = target.get("references")
        if sources is None:
            if len(self.pool) != 1:
                raise SpecificationError(f"{code_id}: no source count published or planned")
            sources = 1
        if refs is None:
            refs = sources + (sources + 2) // 3
        if not 1 <= sources <= min(refs, len(self.pool)):
            raise SpecificationError(f"{code_id}: {sources} sources, {refs} references impossible")
        return sources, refs

    def choose(self, population: Iterable[str], n: int, must: set[str]) -> set[str]:
        rest = sorted(set(population) - must)
        if n < len(must) or n - len(must) > len(rest):
            raise SpecificationError(f"cannot choose {n} sources including {sorted(must)}")
        return must | set(self.rng.sample(rest, n - len(must)))

    def run(self) -> None:
        for code in self.codes:
            if code["parent_id"] is None:
                self.assign(code["code_id"])

    def assign(self, code_id: str) -> None:
        kids = self.children[code_id]
        if not kids:
            if code_id not in self.sources:
                n, _ = self.leaf_target(code_id)
                self.sources[code_id] = self.choose(self.pool, n, self.required.get(code_id, set()))
            return
        union = self.targets[code_id].get("sources")
        if union is not None:
            self.cover(code_id, kids, union)
        for kid in kids:
            self.assign(kid)
        leaves = [k for k in kids if not self.children[k]]
        if leaves:
            self.write_segments(code_id, leaves, all_leaves=len(leaves) == len(kids))

    def cover(self, code_id: str, kids: list[str], union: int) -> None:
        """Choose the children's sources so that together they are exactly ``union`` sources."""
        if any(self.children[k] for k in kids):
            raise SpecificationError(f"{code_id}: a source total needs leaf children")
        sizes = {k: self.leaf_target(k)[0] for k in kids}
        if not max(sizes.values()) <= union <= sum(sizes.values()):
            raise SpecificationError(f"{code_id}: children {sizes} cannot cover {union} sources")
        must = set().union(*(self.required.get(k, set()) for k in kids))
        whole = self.choose(self.pool, union, must)
        chosen = {k: set(self.required.get(k, set())) for k in kids}
        uncovered = sorted(whole - set().union(*chosen.values()))
        self.rng.shuffle(uncovered)
        for k in kids:
            take = min(sizes[k] - len(chosen[k]), len(uncovered))
            chosen[k] |= set(uncovered[:take])
            uncovered = uncovered[take:]
            chosen[k] = self.choose(whole, sizes[k], chosen[k])
        if uncovered:
            raise SpecificationError(f"{code_id}: could not cover every source")
        self.sources.update(chosen)

    def write_segments(self, code_id: str, kids: list[str], all_leaves: bool) -> None:
        """Write the segments of sibling leaves, double-coding some if the parent total asks."""
        refs = {k: self.leaf_target(k)[1] for k in kids}
        covered = {k: set() for k in kids}
        used = dict.fromkeys(kids, 0)
        parent_refs = self.targets[code_id].get("references")
        if parent_refs is not None and not all_leaves:
            raise SpecificationError(f"{code_id}: a reference total needs leaf children")
        shared = sum(refs.values()) - parent_refs if parent_refs is not None else 0
        if shared < 0:
            raise SpecificationError(f"{code_id}: children have fewer references than the total")
        for _ in range(shared):
            options = [
                (a, b, s)
                for i, a in enumerate(kids)
                for b in kids[i + 1 :]
                for s in sorted(self.sources[a] & self.sources[b] - covered[a] - covered[b])
            ]
            if not options:
                raise SpecificationError(f"{code_id}: no source shared by two children")
            a, b, s = self.rng.choice(options)
            self.segments.append((s, (a, b)))
            for k in (a, b):
                covered[k].add(s)
                used[k] += 1
        for k in kids:
            remaining = refs[k] - used[k]
            first = sorted(self.sources[k] - covered[k])
            if remaining < len(first):
                raise SpecificationError(f"{k}: too few references for its sources")
            extra = [
                self.rng.choice(sorted(self.sources[k])) for _ in range(remaining - len(first))
            ]
            for s in first + extra:
                self.segments.append((s, (k,)))


def segments_and_codings(
    spec: dict,
    codes: list[dict],
    targets: dict,
    people: list[dict],
    groups: list[dict],
    excerpts: dict[str, list[str]],
    seed: int,
) -> tuple[list[dict], list[dict]]:
    """Return the ``segments`` and ``codings`` rows for every analysis."""
    methods = {a["activity_id"]: a["method"] for a in spec["activities"]}
    by_label = {(p["activity_id"], p["label"]): p for p in people}
    group_by_label = {(g["activity_id"], g["label"]): g for g in groups}
    segments, codings = [], []
    for activity_id in spec["codebooks"]:
        rng = _stream(seed, f"segments:{activity_id}")
        own = [c for c in codes if c["activity_id"] == activity_id]
        focus_group = methods[activity_id] == "focus_group"
        if focus_group:
            pool = sorted(g["group_id"] for g in groups if g["activity_id"] == activity_id)
        else:
            pool = sorted(
                p["participant_id"]
                for p in people
                if p["activity_id"] == activity_id and p["status"] == "interviewed"
            )
        required: dict[str, set[str]] = {}
        speakers: dict[tuple[str, str], str] = {}
        for quote in spec["quotes"]:
            if quote["activity"] != activity_id or not quote["label"]:
                continue
            group = group_by_label.get((activity_id, quote["label"]))
            person = by_label.get((activity_id, quote["label"]))
            source = (
                group["group_id"]
                if group
                else (person["group_id"] if focus_group else person["participant_id"])
            )
            required.setdefault(quote["code"], set()).add(source)
            if focus_group and person:
                speakers[(quote["code"], source)] = person["participant_id"]
        analysis = _Analysis(own, targets, pool, required, rng)
        analysis.run()
        members = {}
        for p in people:
            if p["group_id"]:
                members.setdefault(p["group_id"], []).append(p["participant_id"])
        coders = {
            s: rng.choice(FOCUS_GROUP_CODERS if focus_group else INTERVIEW_CODERS) for s in pool
        }
        order = {c["code_id"]: i for i, c in enumerate(own)}
        for source, coded in sorted(analysis.segments, key=lambda x: (x[0], order[x[1][0]])):
            segment_id = f"SEG{len(segments) + 1:05d}"
            speaker = None
            if focus_group:
                speaker = speakers.pop((coded[0], source), None) or rng.choice(members[source])
            segments.append(
                {
                    "segment_id": segment_id,
                    "participant_id": speaker if focus_group else source,
                    "group_id": source if focus_group else None,
                    "coder_id": coders[source],
                    "excerpt": rng.choice(excerpts[coded[0]]),
                    "synthetic": True,
                }
            )
            codings += [{"segment_id": segment_id, "code_id": c} for c in coded]
    return segments, codings


# --------------------------------------------------------------------------- review, trace


def programme_rows(spec: dict, seed: int) -> tuple[list[dict], list[dict]]:
    """Return the ``programmes`` and ``programme_concepts`` rows of the stage 1 review."""
    rng = _stream(seed, "programmes")
    plan = spec["programmes"]
    n = plan["count"]
    ids = [f"P{i:02d}" for i in range(1, n + 1)]
    facilitators = [f for f, k in plan["facilitators"].items() for _ in range(k)]
    rng.shuffle(facilitators)
    published = {}
    for figure in spec["published_figures"]:
        call = parse_expression(figure["expression"])
        if call.name == "programmes" and call.args:
            published[call.args[0]] = int(figure["value"])
    wanted = {}
    for concept in spec["concepts"]:
        source = concept.get("programmes")
        if source == "seen":
            wanted[concept["concept_id"]] = published[concept["concept_id"]]
        elif isinstance(source, dict):
            wanted[concept["concept_id"]] = source["synthetic"]
    for _ in range(1000):
        links = {c: sorted(rng.sample(ids, k)) for c, k in wanted.items()}
        per_programme = {p: sum(p in chosen for chosen in links.values()) for p in ids}
        if min(per_programme.values()) >= plan["min_concepts"]:
            break
    else:
        raise SpecificationError("could not give every programme enough concepts")
    programmes = [
        {
            "programme_id": p,
            "label": f"Reviewed programme {p[1:]}",
            "facilitator": f,
            "synthetic": True,
        }
        for p, f in zip(ids, facilitators, strict=True)
    ]
    pairs = [{"programme_id": p, "concept_id": c} for p in ids for c in wanted if p in links[c]]
    return programmes, pairs


def trace_rows(spec: dict) -> dict[str, list[dict]]:
    """Return the findings, evidence, decisions, trace, components and TIDieR rows."""
    findings, evidence, position = [], [], {}
    kinds = {"codes": "code", "quotes": "quote", "concepts": "concept", "figures": "figure"}
    for f in spec["findings"]:
        position[f["stage"]] = position.get(f["stage"], 0) + 1
        findings.append(
            {
                "finding_id": f["finding_id"],
                "stage": f["stage"],
                "position": position[f["stage"]],
                "statement": f["statement"],
                "source": "Table 1" if f["table1"] else "paraphrase",
                "acted_on": f.get("acted_on", True),
                "reason": f.get("reason"),
            }
        )
        for key, kind in kinds.items():
            evidence += [
                {"finding_id": f["finding_id"], "evidence_type": kind, "evidence_id": ref}
                for ref in f["evidence"].get(key, [])
            ]
    decisions, trace = [], []
    for d in spec["decisions"]:
        decisions.append(
            {
                "decision_id": d["decision_id"],
                "stage": d["stage"],
                "level": d["level"],
                "parent_id": d.get("parent"),
                "area": d["area"],
                "decision": d["decision"],
                "rationale": d["rationale"],
                "source": d["source"],
                "in_table1": d.get("table1", False),
                "component_id": d.get("component"),
            }
        )
        trace += [{"finding_id": f, "decision_id": d["decision_id"]} for f in d["findings"]]
    components = [
        {
            "component_id": c["component_id"],
            "parent_id": c.get("parent"),
            "tidier_item": c["tidier"],
            "name": c["name"],
            "description": c["description"],
            "quantity": c.get("quantity"),
            "unit": c.get("unit"),
            "status": c["status"],
        }
        for c in spec["components"]
    ]
    tidier = [
        {"item": t["item"], "name": t["name"], "description": t["description"]}
        for t in spec["tidier"]
    ]
    return {
        "findings": findings,
        "finding_evidence": evidence,
        "decisions": decisions,
        "trace": trace,
        "components": components,
        "tidier": tidier,
    }


# --------------------------------------------------------------------------- assembly


def build_tables(spec: dict, excerpts: dict[str, list[str]], seed: int) -> dict[str, list[dict]]:
    """Return every table of the package as a list of row dicts, keyed by resource name."""
    people, groups = participants_and_groups(spec, seed)
    codes, plans = codebook_rows(spec)
    targets = code_targets(spec, plans)
    segments, codings = segments_and_codings(spec, codes, targets, people, groups, excerpts, seed)
    _check_targets(codes, segments, codings, targets)
    programmes, programme_concepts = programme_rows(spec, seed)
    participant_by_label = {(p["activity_id"], p["label"]): p for p in people}
    group_by_label = {(g["activity_id"], g["label"]): g for g in groups}
    quotes = []
    for q in spec["quotes"]:
        person = participant_by_label.get((q["activity"], q["label"]))
        group = group_by_label.get((q["activity"], q["label"]))
        quotes.append(
            {
                "quote_id": q["quote_id"],
                "activity_id": q["activity"],
                "label": q["label"],
                "participant_id": person["participant_id"] if person else None,
                "group_id": group["group_id"]
                if group
                else (person["group_id"] if person else None),
                "code_id": q["code"],
                "concept_id": q["concept"],
                "text": q["text"],
                "location": q["location"],
                "status": q["status"],
                "truncated": q["truncated"],
                "source": QUOTE_SOURCE,
            }
        )
    concepts = [
        {
            "concept_id": c["concept_id"],
            "position": i,
            "name": c["name"],
            "definition": c["definition"],
            "status": c["status"],
            "stage1_statement": c.get("stage1_statement"),
        }
        for i, c in enumerate(spec["concepts"], start=1)
    ]
    concept_codes = [
        {"concept_id": c["concept_id"], "code_id": code}
        for c in spec["concepts"]
        for code in c["stage2_codes"] + c["stage3_codes"]
    ]
    tables = {
        "stages": [
            {k: s[k] for k in ("stage", "name", "table1_label", "mrc_phase", "method")}
            for s in spec["stages"]
        ],
        "sites": spec["sites"],
        "activities": [
            {
                k: a[k]
                for k in (
                    "activity_id",
                    "stage",
                    "method",
                    "population",
                    "label",
                    "reported_n",
                    "unit",
                    "n_status",
                )
            }
            for a in spec["activities"]
        ],
        "coders": spec["coders"],
        "focus_groups": groups,
        "participants": people,
        "codes": codes,
        "segments": segments,
        "codings": codings,
        "quotes": quotes,
        "concepts": concepts,
        "programmes": programmes,
        "programme_concepts": programme_concepts,
        "concept_codes": concept_codes,
        **trace_rows(spec),
        "published_figures": [
            {
                k: f[k]
                for k in ("figure_id", "description", "value", "status", "location", "expression")
            }
            for f in spec["published_figures"]
        ],
    }
    return tables


def _check_targets(codes, segments, codings, targets) -> None:
    counts = code_counts(pd.DataFrame(codes), pd.DataFrame(segments), pd.DataFrame(codings))
    for code_id, wanted in targets.items():
        for kind, value in wanted.items():
            got = int(counts.loc[code_id, kind])
            if got != value:
                raise SpecificationError(f"{code_id}: generated {got} {kind}, wanted {value}")


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


def write_package(tables: dict[str, list[dict]], out_dir: Path, seed: int) -> Path:
    """Write the package to ``out_dir`` only if it validates; otherwise write nothing.

    The files are first written to a temporary directory beside ``out_dir`` and validated
    there; only a valid package replaces the files in ``out_dir``.
    """
    descriptor = canonical_descriptor()
    descriptor["x-synthetic"] = {"generator": "python -m compendium synth", "seed": seed}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".synth-") as tmp:
        staging = Path(tmp)
        for resource in descriptor["resources"]:
            fields = [f["name"] for f in resource["schema"]["fields"]]
            text = table_csv(tables[resource["name"]], fields)
            (staging / resource["path"]).write_text(text, encoding="utf-8", newline="")
        (staging / "datapackage.json").write_text(
            json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        problems = validate_package(staging)
        if problems:
            raise InvalidPackage(problems)
        out_dir.mkdir(exist_ok=True)
        for item in sorted(staging.iterdir()):
            shutil.copyfile(item, out_dir / item.name)
    return out_dir


def synthesize(seed: int, out_dir: Path) -> Path:
    """Generate the synthetic package for ``seed`` into ``out_dir``; return ``out_dir``."""
    tables = build_tables(load_spec(), load_excerpts(), seed)
    return write_package(tables, out_dir, seed)


# --------------------------------------------------------------------------- scaled, for benchmarks

#: Each analysis's share of people and segments, and its people's role, as in the real package.
SCALED_ANALYSES = (
    # activity, role, share of participants, share of segments, focus group?
    ("A2-INT", "service_user", 0.24, 0.41, False),
    ("A3-FG", "service_user", 0.15, 0.09, True),
    ("A3-FG", "staff", 0.19, 0.12, True),
    ("A3-FG", "carer", 0.08, 0.07, True),
    ("A4-INT", "service_user", 0.06, 0.11, False),
    ("A4-FG", "peer_support_worker", 0.02, 0.05, True),
    ("A5-INT", "service_user", 0.24, 0.12, False),
    ("A5-FG", "peer_support_worker", 0.02, 0.03, True),
)
SCALED_GROUP_SIZE = 6


def scaled_tables(
    n_segments: int,
    n_participants: int | None = None,
    seed: int = 2017,
    codes: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Return synthetic ``participants``, ``codes``, ``segments`` and ``codings`` at any scale.

    For benchmarks only: the frames have the columns and dtypes of the real package's tables
    (so every analysis function accepts them), the codebook is the study's, and people,
    groups and codings are drawn with numpy in a few vectorised passes, not row by row. No
    published figure is matched; nothing is written to disk.

    Parameters
    ----------
    n_segments
        Coded segments to make; about 1.3 codings each.
    n_participants
        People to make (default: a tenth of the segments, between 100 and 100,000).
    seed
        Seed of the random generator; the same arguments give the same frames.
    codes
        The codebook to code against (default: the ``codes`` table of the data package).

    Returns
    -------
    dict of pandas.DataFrame
        Keyed by table name.
    """
    import numpy as np

    from compendium.contract.loading import PANDAS_DTYPES, read_table

    rng = np.random.default_rng(seed)
    if n_participants is None:
        n_participants = int(min(max(n_segments // 10, 100), 100_000))
    fields = {
        r["name"]: r["schema"]["fields"]
        for r in canonical_descriptor()["resources"]
        if r["name"] in ("participants", "codes", "segments", "codings")
    }
    enum = {f["name"]: f.get("constraints", {}).get("enum") for f in fields["participants"]}

    # Participants, block by block (one block per analysis and role).
    people_blocks, speakers = [], []
    for number, (activity, role, share, _, grouped) in enumerate(SCALED_ANALYSES):
        n = max(int(round(share * n_participants)), SCALED_GROUP_SIZE)
        ids = pd.Series(np.arange(1, n + 1)).astype(str)
        block = pd.DataFrame(
            {
                "participant_id": f"X{number}-" + ids,
                "activity_id": activity,
                "role": role,
                "site_id": rng.choice(list("ABCDE"), n),
                "label": f"P{number}-" + ids,
            }
        )
        block["group_id"] = (
            f"GX{number}-" + pd.Series(np.arange(n) // SCALED_GROUP_SIZE + 1).astype(str)
            if grouped
            else None
        )
        for column in ("age_band", "gender", "ethnicity"):
            block[column] = rng.choice(enum[column], n)
        if role == "service_user":
            block["diagnosis_group"] = rng.choice(enum["diagnosis_group"], n)
            block["crt_use"] = rng.choice(enum["crt_use"], n)
        if role == "staff":
            block["staff_profession"] = rng.choice(enum["staff_profession"], n)
        block["status"] = "focus_group" if grouped else "interviewed"
        if activity == "A5-INT":
            block["arm"] = rng.choice(enum["arm"], n)
            attended = rng.integers(0, 11, n)
            block["sessions_attended"] = np.where(block["arm"] == "intervention", attended, -1)
        people_blocks.append(block)
        speakers.append(block[["participant_id", "group_id"]])
    people = pd.concat(people_blocks, ignore_index=True)
    people["sessions_attended"] = people.get("sessions_attended").where(
        people.get("sessions_attended", pd.Series(dtype=float)) >= 0
    )

    # The study's own codebook; segments land on its leaves.
    if codes is None:
        codes = read_table(paths.data_dir() / "codes.csv", fields["codes"])
    leaves = codes[~codes["code_id"].isin(codes["parent_id"].dropna())]
    leaf_ids = {a: g["code_id"].to_numpy(dtype=object) for a, g in leaves.groupby("activity_id")}

    shares = np.array([a[3] for a in SCALED_ANALYSES])
    block_of = rng.choice(len(SCALED_ANALYSES), n_segments, p=shares / shares.sum())
    order = np.argsort(block_of, kind="stable")
    counts = np.bincount(block_of, minlength=len(SCALED_ANALYSES))
    participant = np.empty(n_segments, dtype=object)
    group = np.empty(n_segments, dtype=object)
    first_code = np.empty(n_segments, dtype=object)
    # About three in ten segments are coded twice, at another leaf of the same analysis
    # (drawn as an offset from the first, so no coding is ever duplicated).
    twice = rng.random(n_segments) < 0.3
    second_code = np.empty(n_segments, dtype=object)
    start = 0
    for number, (activity, *_rest) in enumerate(SCALED_ANALYSES):
        rows = order[start : start + counts[number]]
        start += counts[number]
        who = speakers[number].to_numpy()[rng.integers(0, len(speakers[number]), len(rows))]
        participant[rows], group[rows] = who[:, 0], who[:, 1]
        leaf = leaf_ids[activity]
        first = rng.integers(0, len(leaf), len(rows))
        first_code[rows] = leaf[first]
        second_code[rows] = leaf[(first + rng.integers(1, len(leaf), len(rows))) % len(leaf)]
    segment_ids = np.array([f"SEG{i:07d}" for i in range(1, n_segments + 1)], dtype=object)
    segments = pd.DataFrame(
        {
            "segment_id": segment_ids,
            "participant_id": participant,
            "group_id": group,
            "coder_id": rng.choice(["R1", "R2", "R3", "R4"], n_segments),
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
    for name, frame in frames.items():
        columns = [f["name"] for f in fields[name]]
        frame = frame.reindex(columns=columns)
        for f in fields[name]:
            if f["type"] == "boolean":
                frame[f["name"]] = frame[f["name"]].astype("boolean")
            else:
                frame[f["name"]] = frame[f["name"]].astype(PANDAS_DTYPES.get(f["type"], "str"))
        frames[name] = frame.reset_index(drop=True)
    return frames
