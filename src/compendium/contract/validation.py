"""Validate a data package: file structure, Table Schemas, then cross-table consistency.

Every problem is reported as ``path:row: column 'name': what is wrong``, where ``row`` is
the line number in the CSV file (the header is line 1). Checks run in three layers and a
layer runs only when the one before it passed, so one broken file gives one clear message
rather than a cascade.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from compendium.analysis.expressions import ExpressionError, parse_expression
from compendium.contract.loading import canonical_descriptor, read_tables

INTERVIEWED = ("interviewed", "interviewed_not_analysed")
EVIDENCE_TABLES = {
    "code": ("codes", "code_id"),
    "quote": ("quotes", "quote_id"),
    "concept": ("concepts", "concept_id"),
    "figure": ("published_figures", "figure_id"),
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the package, located by file, line and column."""

    path: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.row is None else f"{self.path}:{self.row}"
        column = f" column '{self.column}':" if self.column else ""
        return f"{where}:{column} {self.message}"


class InvalidPackage(ValueError):
    """Raised when a package fails validation; carries the list of problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"the data package is invalid ({len(self.problems)} problems):\n{lines}")


def display_path(path: Path) -> str:
    """Return ``path`` relative to the working directory when it lies beneath it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # a different drive on Windows
        return str(path)


def validate_package(data_dir: Path) -> list[Problem]:
    """Return every problem found in the package at ``data_dir``; empty when it is valid."""
    data_dir = Path(data_dir)
    descriptor = canonical_descriptor()
    problems = _check_descriptor(data_dir, descriptor)
    for resource in descriptor["resources"]:
        problems += _check_file(data_dir, resource)
    if problems:
        return sorted(problems)
    problems = _check_schemas(data_dir, descriptor)
    if problems:
        return sorted(problems)
    return sorted(cross_table_problems(data_dir, read_tables(data_dir, descriptor)))


# --------------------------------------------------------------------------- layer 1: files


def _check_descriptor(data_dir: Path, descriptor: dict) -> list[Problem]:
    path = data_dir / "datapackage.json"
    shown = display_path(path)
    if not path.is_file():
        return [
            Problem(
                shown,
                None,
                None,
                "file is missing; expected a Frictionless data package descriptor",
            )
        ]
    try:
        own = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem(shown, None, None, f"is not valid JSON: {exc}")]
    names = {r.get("name"): r for r in own.get("resources", [])}
    problems = []
    for resource in descriptor["resources"]:
        mine = names.get(resource["name"])
        if mine is None:
            problems.append(Problem(shown, None, None, f"resource '{resource['name']}' is missing"))
        elif mine.get("schema") != resource["schema"] or mine.get("path") != resource["path"]:
            problems.append(
                Problem(
                    shown,
                    None,
                    None,
                    f"resource '{resource['name']}' differs from the compendium's schema",
                )
            )
    return problems


def _check_file(data_dir: Path, resource: dict) -> list[Problem]:
    path = data_dir / resource["path"]
    shown = display_path(path)
    expected = [f["name"] for f in resource["schema"]["fields"]]
    if not path.is_file():
        return [
            Problem(shown, None, None, f"file is missing; expected columns {', '.join(expected)}")
        ]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [
            Problem(
                shown, line, None, f"is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
            )
        ]
    if not text.strip():
        return [
            Problem(
                shown, None, None, f"file is empty; expected a header row: {', '.join(expected)}"
            )
        ]
    header = [h.strip() for h in text.splitlines()[0].split(",")]
    problems = [
        Problem(shown, 1, name, "missing column; expected columns " + ", ".join(expected))
        for name in expected
        if name not in header
    ]
    problems += [
        Problem(shown, 1, name, "unexpected column; expected columns " + ", ".join(expected))
        for name in header
        if name not in expected
    ]
    if not problems and header != expected:
        problems.append(
            Problem(shown, 1, None, "columns are out of order; expected " + ", ".join(expected))
        )
    return problems


# --------------------------------------------------------------------------- layer 2: schemas


def _check_schemas(data_dir: Path, descriptor: dict) -> list[Problem]:
    import frictionless  # costs ~0.8 s: only this layer needs it, and chapters never do

    package = frictionless.Package(descriptor, basepath=str(data_dir))
    report = package.validate()
    resources = {r["name"]: r for r in descriptor["resources"]}
    problems = []
    for task in report.tasks:
        resource = resources[task.name]
        shown = display_path(data_dir / resource["path"])
        for error in task.errors:
            problems.append(_schema_problem(shown, resource, error))
    return problems


def _schema_problem(shown: str, resource: dict, error) -> Problem:
    fields = {f["name"]: f for f in resource["schema"]["fields"]}
    row = getattr(error, "row_number", None)
    column = getattr(error, "field_name", None)
    cell = getattr(error, "cell", None)
    if error.type == "type-error":
        kind = fields[column]["type"]
        return Problem(shown, row, column, f"{cell!r} is not a valid {kind}")
    if error.type == "constraint-error":
        constraints = fields[column].get("constraints", {})
        if cell in ("", None) and constraints.get("required"):
            return Problem(shown, row, column, "a value is required but the cell is empty")
        if "enum" in constraints and cell not in constraints["enum"]:
            return Problem(
                shown, row, column, f"{cell!r} is not one of {', '.join(constraints['enum'])}"
            )
        return Problem(shown, row, column, f"{cell!r} breaks the constraint: {error.note}")
    if error.type == "primary-key":
        key = resource["schema"]["primaryKey"]
        names = list(fields)
        values = ", ".join(f"{k}={error.cells[names.index(k)]!r}" for k in key)
        return Problem(shown, row, key[0], f"duplicate key ({values}); {error.note}")
    if error.type == "foreign-key":
        fk = next(
            f for f in resource["schema"]["foreignKeys"] if [f["fields"]] == error.field_names
        )
        target = fk["reference"]["resource"] or resource["name"]
        value = error.cells[list(fields).index(fk["fields"])]
        return Problem(
            shown,
            row,
            fk["fields"],
            f"{value!r} does not match any {fk['reference']['fields']} in {target}.csv",
        )
    return Problem(shown, row, column, f"{error.title}: {error.note}")


# --------------------------------------------------------------------------- layer 3: tables


def unsupported_decisions(decisions: pd.DataFrame, trace: pd.DataFrame) -> list[str]:
    """Return the ids of decisions that no finding in ``trace`` supports."""
    supported = set(trace.loc[trace["finding_id"].notna(), "decision_id"])
    return [d for d in decisions["decision_id"] if d not in supported]


def unaccounted_findings(findings: pd.DataFrame, trace: pd.DataFrame) -> list[str]:
    """Return the ids of findings that are neither acted on nor set aside with a reason.

    A finding is accounted for when it informs at least one decision in ``trace`` and is
    marked ``acted_on``, or when it informs none, is marked not acted on, and gives a
    ``reason``. Anything else (a missing reason, or a flag that contradicts the trace) is
    returned.
    """
    linked = set(trace["finding_id"])
    bad = []
    for f in findings.itertuples():
        acted = bool(f.acted_on) if pd.notna(f.acted_on) else None
        in_trace = f.finding_id in linked
        has_reason = isinstance(f.reason, str) and f.reason.strip() != ""
        if not ((acted is True and in_trace) or (acted is False and not in_trace and has_reason)):
            bad.append(f.finding_id)
    return bad


def findings_without_evidence(findings: pd.DataFrame, finding_evidence: pd.DataFrame) -> list[str]:
    """Return the ids of findings that cite no evidence (code, quote, concept or figure)."""
    cited = set(finding_evidence["finding_id"])
    return [f for f in findings["finding_id"] if f not in cited]


def cross_table_problems(data_dir: Path, t: dict[str, pd.DataFrame]) -> list[Problem]:
    """Return the problems that only show when tables are read together."""
    checker = _CrossTable(Path(data_dir), t)
    for check in (
        checker.sample_sizes,
        checker.group_sizes,
        checker.codes,
        checker.segments,
        checker.quotes,
        checker.findings,
        checker.decisions,
        checker.evidence,
        checker.expressions,
    ):
        check()
    return checker.problems


class _CrossTable:
    def __init__(self, data_dir: Path, tables: dict[str, pd.DataFrame]):
        self.dir = data_dir
        self.t = tables
        self.problems: list[Problem] = []

    def add(self, table: str, index: int | None, column: str | None, message: str) -> None:
        row = None if index is None else int(index) + 2  # header is line 1
        self.problems.append(Problem(display_path(self.dir / f"{table}.csv"), row, column, message))

    def sample_sizes(self) -> None:
        people, groups = self.t["participants"], self.t["focus_groups"]
        for i, a in self.t["activities"].iterrows():
            if pd.isna(a["reported_n"]):
                continue
            own = people[people["activity_id"] == a["activity_id"]]
            if a["unit"] == "groups":
                got, what = (
                    (groups["activity_id"] == a["activity_id"]).sum(),
                    "focus groups in focus_groups.csv",
                )
            elif a["unit"] == "programmes":
                got, what = len(self.t["programmes"]), "programmes in programmes.csv"
            elif a["method"] == "interview":
                got, what = (
                    own["status"].isin(INTERVIEWED).sum(),
                    "interviewed participants in participants.csv",
                )
            else:
                got, what = (
                    (own["status"] == "focus_group").sum(),
                    "focus-group participants in participants.csv",
                )
            if got != a["reported_n"]:
                self.add(
                    "activities",
                    i,
                    "reported_n",
                    f"{a['activity_id']} reports {a['reported_n']} {a['unit']} but there are {got} {what}",
                )

    def group_sizes(self) -> None:
        people = self.t["participants"]
        members = people.dropna(subset=["group_id"]).groupby("group_id").size()
        for i, g in self.t["focus_groups"].iterrows():
            got = int(members.get(g["group_id"], 0))
            if got != g["size"]:
                self.add(
                    "focus_groups",
                    i,
                    "size",
                    f"{g['group_id']} has size {g['size']} but {got} participants name it",
                )
        activity = dict(
            zip(
                self.t["focus_groups"]["group_id"],
                self.t["focus_groups"]["activity_id"],
                strict=True,
            )
        )
        for i, p in people.dropna(subset=["group_id"]).iterrows():
            if activity.get(p["group_id"]) != p["activity_id"]:
                self.add(
                    "participants",
                    i,
                    "group_id",
                    f"group {p['group_id']} belongs to {activity.get(p['group_id'])}, not {p['activity_id']}",
                )

    def codes(self) -> None:
        codes = self.t["codes"]
        activity = dict(zip(codes["code_id"], codes["activity_id"], strict=True))
        analysed = set(
            self.t["activities"].query("method in ['interview', 'focus_group']")["activity_id"]
        )
        for i, c in codes.iterrows():
            if c["activity_id"] not in analysed:
                self.add(
                    "codes",
                    i,
                    "activity_id",
                    f"{c['activity_id']} is not an interview or focus-group activity",
                )
            if pd.notna(c["parent_id"]) and activity[c["parent_id"]] != c["activity_id"]:
                self.add(
                    "codes",
                    i,
                    "parent_id",
                    f"parent {c['parent_id']} belongs to {activity[c['parent_id']]}, not {c['activity_id']}",
                )

    def _segment_activity(self) -> pd.Series:
        people = self.t["participants"].set_index("participant_id")["activity_id"]
        groups = self.t["focus_groups"].set_index("group_id")["activity_id"]
        seg = self.t["segments"]
        by_group = seg["group_id"].map(groups)
        return by_group.fillna(seg["participant_id"].map(people))

    def segments(self) -> None:
        seg, people = self.t["segments"], self.t["participants"].set_index("participant_id")
        method = self.t["activities"].set_index("activity_id")["method"]
        seg_activity = self._segment_activity()
        no_source = seg["group_id"].isna() & seg["participant_id"].isna()
        for i in seg.index[no_source]:
            self.add(
                "segments", i, "participant_id", "segment names neither a participant nor a group"
            )
        interview = seg["group_id"].isna() & seg["participant_id"].notna()
        status = seg["participant_id"].map(people["status"])
        for i in seg.index[interview & (status != "interviewed")]:
            self.add(
                "segments",
                i,
                "participant_id",
                f"{seg.at[i, 'participant_id']} has status {status[i]}; only analysed interviews are coded",
            )
        bad_method = interview & (seg_activity.map(method) != "interview")
        for i in seg.index[bad_method]:
            self.add("segments", i, "group_id", "a focus-group segment must name its group")
        speaker_group = seg["participant_id"].map(people["group_id"])
        wrong = (
            seg["group_id"].notna()
            & seg["participant_id"].notna()
            & (speaker_group != seg["group_id"])
        )
        for i in seg.index[wrong]:
            self.add(
                "segments",
                i,
                "participant_id",
                f"speaker {seg.at[i, 'participant_id']} is not a member of {seg.at[i, 'group_id']}",
            )
        codings = self.t["codings"]
        uncoded = ~seg["segment_id"].isin(codings["segment_id"])
        for i in seg.index[uncoded]:
            self.add(
                "segments",
                i,
                "segment_id",
                f"{seg.at[i, 'segment_id']} has no coding in codings.csv",
            )
        code_activity = codings["code_id"].map(self.t["codes"].set_index("code_id")["activity_id"])
        source_activity = codings["segment_id"].map(
            pd.Series(seg_activity.to_numpy(), index=seg["segment_id"])
        )
        for i in codings.index[code_activity != source_activity]:
            self.add(
                "codings",
                i,
                "code_id",
                f"code {codings.at[i, 'code_id']} belongs to {code_activity[i]} but segment "
                f"{codings.at[i, 'segment_id']} comes from {source_activity[i]}",
            )

    def quotes(self) -> None:
        people = self.t["participants"].set_index("participant_id")
        codes = self.t["codes"].set_index("code_id")
        for i, q in self.t["quotes"].iterrows():
            if pd.notna(q["participant_id"]):
                person = people.loc[q["participant_id"]]
                if person["label"] != q["label"]:
                    self.add(
                        "quotes",
                        i,
                        "participant_id",
                        f"{q['participant_id']} is labelled {person['label']}, not {q['label']}",
                    )
                if person["activity_id"] != q["activity_id"]:
                    self.add(
                        "quotes",
                        i,
                        "participant_id",
                        f"{q['participant_id']} took part in {person['activity_id']}, not {q['activity_id']}",
                    )
            if pd.notna(q["code_id"]) and codes.at[q["code_id"], "activity_id"] != q["activity_id"]:
                self.add(
                    "quotes",
                    i,
                    "code_id",
                    f"code {q['code_id']} does not belong to {q['activity_id']}",
                )

    def findings(self) -> None:
        findings, trace = self.t["findings"], self.t["trace"]
        linked = set(trace["finding_id"])
        for fid in unaccounted_findings(findings, trace):
            i = findings.index[findings["finding_id"] == fid][0]
            if findings.at[i, "acted_on"] and fid not in linked:
                self.add(
                    "findings",
                    i,
                    "acted_on",
                    f"{fid} is marked acted on but informs no decision in trace.csv",
                )
            elif not findings.at[i, "acted_on"] and fid in linked:
                self.add(
                    "findings",
                    i,
                    "acted_on",
                    f"{fid} is marked not acted on but trace.csv links it to a decision",
                )
            else:
                self.add("findings", i, "reason", f"{fid} is not acted on, so it needs a reason")
        for fid in findings_without_evidence(findings, self.t["finding_evidence"]):
            i = findings.index[findings["finding_id"] == fid][0]
            self.add(
                "findings", i, "finding_id", f"{fid} cites no evidence in finding_evidence.csv"
            )

    def decisions(self) -> None:
        decisions = self.t["decisions"]
        level = dict(zip(decisions["decision_id"], decisions["level"], strict=True))
        unsupported = set(unsupported_decisions(decisions, self.t["trace"]))
        for i, d in decisions.iterrows():
            if d["decision_id"] in unsupported:
                self.add(
                    "decisions",
                    i,
                    "decision_id",
                    f"{d['decision_id']} has no supporting finding in trace.csv",
                )
            if d["level"] == "specification" and (
                pd.isna(d["parent_id"]) or level[d["parent_id"]] != "summary"
            ):
                self.add(
                    "decisions",
                    i,
                    "parent_id",
                    f"{d['decision_id']} is a specification, so it must refine a summary decision",
                )

    def evidence(self) -> None:
        for i, e in self.t["finding_evidence"].iterrows():
            table, key = EVIDENCE_TABLES[e["evidence_type"]]
            if e["evidence_id"] not in set(self.t[table][key]):
                self.add(
                    "finding_evidence",
                    i,
                    "evidence_id",
                    f"{e['evidence_id']!r} does not match any {key} in {table}.csv",
                )

    def expressions(self) -> None:
        for i, f in self.t["published_figures"].iterrows():
            try:
                parse_expression(f["expression"])
            except ExpressionError as exc:
                self.add("published_figures", i, "expression", str(exc))
