"""Benchmark the book's builds, its analysis and its validation; print each goal (``make bench``).

Everything is measured in one run on this machine. Builds run in a temporary copy of the
repository (its tracked and untracked, not ignored, files), with that copy's ``src`` first on
``PYTHONPATH``, so the working tree's ``_build`` is never touched.

Builds:

1. execution floors: the chapters executed one after another by one kernel at a time (the
   serial execution floor: what the execution costs one core); and, stricter, a fresh
   kernel per chapter that runs only the chapter's import statements (what no build of
   these chapters can avoid), summed;
2. cold build (what ``make book`` runs, :mod:`compendium.build.pipeline`, from an empty
   ``_build``): the check, the data-aware executor, then Jupyter Book;
3. rebuild with no change (the check and the render skipped when none of their inputs
   changed);
4. render: ``jupyter-book build --all`` right after, so Sphinx reads and writes every page while
   every notebook comes from the jupyter-cache (no kernel starts); the two-core limit is
   floor / cores + render, the least a build can take when the kernels share the cores
   perfectly and the rendering cannot overlap them (printed for both floors);
5. after editing one chapter's code; after editing one data file;
6. stock Jupyter Book, ``execute_notebooks: force``, on another fresh copy.

Scale, on packages made by :func:`compendium.contract.synthesis.scaled_tables` at 10^4, 10^5
and 10^6 coded segments (each row in its own process, in the copy):

7. the analysis functions the chapters call: ``code_counts`` over every code, the theme
   summary of the largest analysis, each main theme's sources by comparison group, a
   characteristics table, and the trace's chains and completeness (the trace's tables are
   the study's own: they do not grow with segments);
8. validation: the scaled package written to a temporary folder and checked by the CLI
   (``python -m compendium validate``) in a child process, timed, with the child's peak
   resident memory (its VmHWM); then ``load_study`` on the same package, first when it
   validates and types the tables, then when the validation is remembered (what each
   chapter's first cell costs).

Each goal of issue 15 is printed with its figure and "met" or "NOT met".

``python bench/benchmark.py --only scale`` measures the scale part alone (7 and 8, about
three minutes), for work on the analysis or the validation; ``--only build`` the builds alone
(1 to 6). The load average is printed either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCALES = (10**4, 10**5, 10**6)
#: Issue 15's goals.
GOALS = {
    "cold / stock": 0.5,  # at most
    "cold / limit": 1.1,  # cold at most 1.1 x (floor / cores + render)
    "no-change / cold": 0.05,
    "analysis seconds": 1.0,  # each function at 10^6 segments
    "growth per decade": 11.0,
    "validation seconds": 15.0,  # at 10^6 segments
    "validation MB": 400.0,
}


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def copy_repository(target: Path) -> Path:
    """Copy the repository's tracked and untracked (not ignored) files into ``target``."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def environment(copy: Path) -> dict:
    """Return the environment for commands in ``copy``: its own package and data first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env.pop("COMPENDIUM_DATA", None)
    return env


def timed(command: list[str], copy: Path) -> float:
    """Run ``command`` in ``copy``; return seconds. A failure stops the benchmark loudly."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(
            f"bench: {' '.join(command)} failed in {copy}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds


JUPYTER_BOOK = [str(BIN / "jupyter-book"), "build", ".", "--builder", "html", "-W", "-n"]


def book_build(copy: Path) -> float:
    """Time what ``make book`` runs (without make's venv check) in ``copy``.

    That is :mod:`compendium.build.pipeline`, in one process: the check, the data-aware
    executor, then Jupyter Book when anything it reads changed.
    """
    return timed([str(BIN / "python"), "-m", "compendium.build.pipeline"], copy)


def render(copy: Path) -> float:
    """Time Sphinx alone: every page read and written again, every notebook from the cache.

    Run after a full build, ``jupyter-book build --all`` ignores Sphinx's saved environment,
    so it reads and writes all pages, while MyST-NB finds every notebook's outputs in the
    jupyter-cache and starts no kernel. What is left is the rendering a build cannot avoid.
    """
    return timed([*JUPYTER_BOOK, "--keep-going", "--all"], copy)


def last_run(copy: Path) -> dict:
    return json.loads((copy / "_build" / ".compendium" / "last-run.json").read_text())


def floor(copy: Path, imports_only: bool) -> tuple[float, int]:
    """Return the seconds the chapters' execution takes one kernel at a time, and their count.

    With ``imports_only`` each chapter is cut to its import statements and the seconds are
    summed over the chapters (kernel start, imports, shutdown); otherwise the whole chapters
    run one after another as the executor runs them with one worker (wall time).
    """
    code = f"""
import ast, json, sys, time
sys.path.insert(0, {str(copy / "src")!r})
import nbformat
from pathlib import Path
from compendium.build.execution import Book, execute_notebooks, read_notebook
book = Book(Path({str(copy)!r}))
jobs = []
for source in book.chapters():
    nb = read_notebook(source)
    if nb is None:
        continue
    if {imports_only!r}:
        imports = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                try:
                    tree = ast.parse(cell.source)
                except SyntaxError:
                    continue
                imports += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        nb.cells = [nbformat.v4.new_code_cell(chr(10).join(imports))]
    jobs.append((source, nb))
started = time.perf_counter()
outcomes = execute_notebooks(jobs, workers=1)
wall = time.perf_counter() - started
assert not any(o.error for o in outcomes), [o.error for o in outcomes]
print(json.dumps([sum(o.seconds for o in outcomes) if {imports_only!r} else wall, len(outcomes)]))
"""
    done = subprocess.run(
        [str(BIN / "python"), "-c", code],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, count = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, count


def edit_chapter(copy: Path, state: dict) -> str:
    """Add a comment to the end of one chapter's first code cell; return the chapter's key."""
    key = sorted(k for k, v in state["chapters"].items() if v.get("notebook"))[-1]
    path = copy / key
    text = path.read_text()
    start = text.index("```{code-cell}")
    end = text.index("\n```", start + 3)
    path.write_text(text[:end] + "\n# benchmark: an edited line" + text[end:])
    return key


#: Free-text cells whose edit changes what some chapters read, not what any check refuses.
SAFE_EDITS = (("coders.csv", "role"), ("focus_groups.csv", "label"), ("quotes.csv", "label_note"))


def edit_data(copy: Path, state: dict) -> tuple[str, list[str]]:
    """Change one free-text cell of a data file read by some but not all chapters.

    Returns the file name and the chapters whose manifests say they read it.
    """
    import csv
    import io

    readers = {}
    for key, entry in state["chapters"].items():
        for name in entry.get("inputs", {}):
            if name.startswith("data:"):
                readers.setdefault(Path(name.partition(":")[2]).name, []).append(key)
    notebooks = sum(1 for v in state["chapters"].values() if v.get("notebook"))
    choices = [(f, c) for f, c in SAFE_EDITS if 0 < len(readers.get(f, [])) < notebooks]
    filename, column = (choices or [(f, c) for f, c in SAFE_EDITS if f in readers])[0]
    path = copy / "data" / filename
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    column_at = rows[0].index(column)
    row = next(r for r in rows[1:] if r[column_at])
    row[column_at] += " (edited)"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return filename, sorted(readers.get(filename, []))


# --------------------------------------------------------------------------- scale (own process)


def best_of(run, times: int = 3) -> float:
    """Return the shortest of ``times`` runs, in seconds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def analysis_timings(scale: int) -> list[tuple[str, float]]:
    """Return (function, seconds) for the analysis functions on a package of ``scale`` segments."""
    import pandas as pd

    from compendium.analysis import trace
    from compendium.analysis.characteristics import characteristics_table
    from compendium.analysis.themes import code_counts, sources_by, theme_summary
    from compendium.contract.loading import load_study
    from compendium.contract.synthesis import scaled_tables

    real = load_study()
    tables = scaled_tables(scale)
    codes, segments, codings = tables["codes"], tables["segments"], tables["codings"]
    people = tables["participants"]
    descriptor = real.descriptor
    # The analysis with the most codings, as the stage chapters call it: one codebook at a time.
    largest = codings["code_id"].map(codes.set_index("code_id")["activity_id"]).value_counts()
    analysis = largest.index[0]
    rows = [
        ("themes.code_counts (every code)", lambda: code_counts(codes, segments, codings)),
        (
            f"themes.theme_summary ({analysis})",
            lambda: theme_summary(codes, segments, codings, analysis),
        ),
    ]
    comparison = descriptor.comparison
    compared = people[people["participant_id"].isin(segments["participant_id"])]
    if comparison is not None:
        values = list(comparison.values or ["true", "false"])
        own = codes[codes["activity_id"] == analysis]
        groups = (
            compared.set_index("participant_id")[comparison.name]
            .map(lambda v: str(v).lower() if isinstance(v, bool) else v)
            .astype(pd.CategoricalDtype(values))
        )
        rows.append(
            (
                f"themes.sources_by ({analysis}, {comparison.name})",
                lambda: sources_by(own, segments, codings, groups),
            )
        )
    rows.append(
        (
            "characteristics.characteristics_table (by role)",
            lambda: characteristics_table(people, descriptor, "role"),
        )
    )
    if real.has("findings"):
        components = real.components if real.has("components") else None
        rows.append(
            (
                "trace.chains + completeness (study's trace)",
                lambda: (
                    trace.chains(real.findings, real.decisions, real.trace, components),
                    trace.completeness(
                        real.findings, real.decisions, real.trace, real.finding_evidence
                    ),
                ),
            )
        )
    return [(name, best_of(run)) for name, run in rows]


#: ``python -m compendium validate PACKAGE`` that prints its own peak resident memory last.
#: A child's ru_maxrss (getrusage) counts the memory of the process it was forked from: under a
#: parent holding 600 MB, a child that held 9 MB reported 625 MB here. This process holds the
#: generated package (over 500 MB at 10^6 segments), so the kernel's VmHWM of the child, that
#: of its own program only, is read instead (Linux; elsewhere ru_maxrss, an upper bound).
VALIDATE_WITH_PEAK = """
import resource, sys
from compendium.cli import main
status = main(["validate", sys.argv[1]])
try:
    with open("/proc/self/status") as status_file:
        peak = next(int(l.split()[1]) for l in status_file if l.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak-kib {peak}", file=sys.stderr)
sys.exit(status)
"""


def validation_timings(scale: int) -> dict:
    """Validate and load a package of ``scale`` segments; return seconds and the peak memory."""
    from compendium.contract.loading import load_study
    from compendium.contract.synthesis import scaled_package_files

    with tempfile.TemporaryDirectory(prefix="compendium-scaled-") as folder:
        package = Path(folder) / "data"
        package.mkdir()
        for name, content in scaled_package_files(scale).items():
            (package / name).write_bytes(content)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", VALIDATE_WITH_PEAK, str(package)],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"bench: the scaled package at {scale} segments is invalid:\n{done.stderr}")
        peak = int(done.stderr.split("peak-kib ")[-1]) / 1024
        started = time.perf_counter()
        study = load_study(package)
        first = time.perf_counter() - started
        started = time.perf_counter()
        load_study(package)
        again = time.perf_counter() - started
        size = sum(p.stat().st_size for p in package.iterdir()) / 2**20
        people = len(study.participants)
    return {
        "validate": seconds,
        "peak": peak,
        "load": first,
        "load again": again,
        "size": size,
        "people": people,
    }


def in_copy(copy: Path, *args: str) -> dict | list:
    """Run this script with ``args`` in ``copy`` (its package, its ``_build``); return its JSON."""
    done = subprocess.run(
        [str(BIN / "python"), str(copy / "bench" / "benchmark.py"), *args],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def growth(times: list[float]) -> float:
    """Return the largest ratio between a figure and the one a decade below it."""
    return max(b / a for a, b in zip(times, times[1:], strict=False) if a > 0)


PARTS = ("build", "scale")


def main(parts: tuple[str, ...] = PARTS) -> int:
    results = {}
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="compendium-bench-") as folder:
        copy = copy_repository(Path(folder) / "repo")
        # Other work on the machine inflates every figure: say how busy it was.
        load_start = os.getloadavg()
        print(f"bench: measuring {', '.join(parts)} in {copy} ({cores} cores)", flush=True)
        if "build" in parts:
            builds = measure_builds(copy, folder, results)
        if "scale" in parts:
            analysis = {scale: in_copy(copy, "--analysis", str(scale)) for scale in SCALES}
            print("bench: analysis measured", flush=True)
            validation = {scale: in_copy(copy, "--validate", str(scale)) for scale in SCALES}
            print("bench: validation measured", flush=True)

    load_end = os.getloadavg()
    print(
        "\nload average (1, 5, 15 min) at start: "
        + ", ".join(f"{x:.2f}" for x in load_start)
        + "; at end: "
        + ", ".join(f"{x:.2f}" for x in load_end)
        + f" ({cores} cores: above {cores} means other work shared them)"
    )
    goals = report_builds(results, builds, cores) if "build" in parts else []
    if "scale" in parts:
        goals += report_scale(analysis, validation)
    width = max(len(g[0]) for g in goals) + 2
    print(f"\n{'goal (issue 15)':<{width}}{'figure':<26}{'target':<24}verdict")
    for name, figure, target, met in goals:
        print(f"{name:<{width}}{figure:<26}{target:<24}{verdict(met)}")
    return 0


def measure_builds(copy: Path, folder: str, results: dict) -> dict:
    """Time the builds (1 to 6) in ``copy``; fill ``results``; return what the builds ran."""
    results["floor"], n_chapters = floor(copy, imports_only=False)
    results["imports floor"], _ = floor(copy, imports_only=True)
    print("bench: floors measured", flush=True)
    results["cold"] = book_build(copy)
    cold_run = last_run(copy)
    results["no-change"] = book_build(copy)
    no_change_run = last_run(copy)
    # After the no-change rebuild: rewriting every page is a change the next build renders.
    results["render"] = render(copy)
    state = json.loads((copy / "_build" / ".compendium" / "execution.json").read_text())
    edited = edit_chapter(copy, state)
    results["one chapter"] = book_build(copy)
    chapter_run = last_run(copy)
    data_file, readers = edit_data(copy, state)
    results["one data file"] = book_build(copy)
    data_run = last_run(copy)
    print("bench: builds measured", flush=True)

    stock = copy_repository(Path(folder) / "stock")
    config = stock / "_config.yml"
    config.write_text(
        config.read_text().replace("execute_notebooks: cache", "execute_notebooks: force")
    )
    results["stock"] = timed([*JUPYTER_BOOK, "--keep-going"], stock)
    shutil.rmtree(stock)
    print("bench: stock build measured", flush=True)
    return {
        "chapters": n_chapters,
        "cold": cold_run,
        "no-change": no_change_run,
        "chapter": chapter_run,
        "edited": edited,
        "data": data_run,
        "data file": data_file,
        "readers": readers,
    }


def report_builds(results: dict, builds: dict, cores: int) -> list[tuple]:
    """Print the builds' table; return their goals as (name, figure, target, met)."""
    cold_run, no_change_run = builds["cold"], builds["no-change"]
    chapter_run, edited = builds["chapter"], builds["edited"]
    data_run, data_file, readers = builds["data"], builds["data file"], builds["readers"]
    n_chapters = builds["chapters"]
    cold, floor_s, render_s = results["cold"], results["floor"], results["render"]
    limit = floor_s / cores + render_s
    imports_limit = results["imports floor"] / cores + render_s
    rows = [
        ("serial execution floor", floor_s, f"{n_chapters} chapters, one kernel at a time"),
        (
            "imports floor",
            results["imports floor"],
            f"{n_chapters} chapters × (kernel + imports), summed",
        ),
        ("render (Sphinx, all notebooks cached)", render_s, "jupyter-book build --all"),
        (f"{cores}-core limit", limit, f"serial floor / {cores} + render"),
        (f"{cores}-core limit, imports only", imports_limit, f"imports floor / {cores} + render"),
        ("cold build", cold, f"ran {len(cold_run['executed'])} chapters"),
        ("no-change rebuild", results["no-change"], f"ran {len(no_change_run['executed'])}"),
        (
            "one chapter edited",
            results["one chapter"],
            f"ran {', '.join(chapter_run['executed'])} (edited {edited})",
        ),
        (
            f"one data file edited ({data_file})",
            results["one data file"],
            f"ran {len(data_run['executed'])}; {len(readers)} read it",
        ),
        ("stock jupyter-book, execute: force", results["stock"], ""),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'build':<{width}}{'seconds':>9}  detail")
    for name, seconds, detail in rows:
        print(f"{name:<{width}}{seconds:>9.2f}  {detail}")

    goals = [
        (
            "cold / stock",
            f"{cold / results['stock']:.2f}",
            f"≤ {GOALS['cold / stock']}",
            cold / results["stock"] <= GOALS["cold / stock"],
        ),
        (
            f"cold / ({cores}-core limit)",
            f"{cold / limit:.2f}",
            f"≤ {GOALS['cold / limit']}",
            cold / limit <= GOALS["cold / limit"],
        ),
        (
            f"cold / ({cores}-core limit, imports only)",
            f"{cold / imports_limit:.2f}",
            f"≤ {GOALS['cold / limit']}",
            cold / imports_limit <= GOALS["cold / limit"],
        ),
        (
            "no-change rebuild / cold",
            f"{results['no-change'] / cold:.3f}",
            f"≤ {GOALS['no-change / cold']}",
            results["no-change"] / cold <= GOALS["no-change / cold"],
        ),
        (
            "one chapter edited: runs only that chapter",
            ", ".join(chapter_run["executed"]) or "none",
            edited,
            chapter_run["executed"] == [edited],
        ),
        (
            f"one data file edited: runs only its {len(readers)} readers",
            f"ran {len(data_run['executed'])}",
            f"{len(readers)}",
            sorted(data_run["executed"]) == readers,
        ),
    ]
    return goals


def report_scale(analysis: dict, validation: dict) -> list[tuple]:
    """Print the analysis and the validation tables; return their goals."""
    goals = []
    print(f"\n{'analysis function':<56}" + "".join(f"{f'{s:.0e} seg':>12}" for s in SCALES))
    names = [name for name, _ in analysis[SCALES[0]]]
    for position, name in enumerate(names):
        times = [analysis[s][position][1] for s in SCALES]
        print(f"{name:<56}" + "".join(f"{t:>12.3f}" for t in times))
        goals.append(
            (
                f"{name} at 10^6",
                f"{times[-1]:.2f} s, ×{growth(times):.1f}/decade",
                f"≤ {GOALS['analysis seconds']:g} s, ≤ ×{GOALS['growth per decade']:g}",
                times[-1] <= GOALS["analysis seconds"]
                and growth(times) <= GOALS["growth per decade"],
            )
        )

    print(f"\n{'validation and loading':<56}" + "".join(f"{f'{s:.0e} seg':>12}" for s in SCALES))
    lines = [
        ("package size (MB of files)", "size", "{:.1f}"),
        ("participants", "people", "{:d}"),
        ("compendium validate (s)", "validate", "{:.2f}"),
        ("compendium validate, peak memory (MB)", "peak", "{:.0f}"),
        ("load_study, validating and typing (s)", "load", "{:.2f}"),
        ("load_study, validation remembered (s)", "load again", "{:.2f}"),
    ]
    for label, key, shown in lines:
        print(f"{label:<56}" + "".join(f"{shown.format(validation[s][key]):>12}" for s in SCALES))
    top = validation[SCALES[-1]]
    goals.append(
        (
            "validation at 10^6: seconds",
            f"{top['validate']:.1f} s",
            f"≤ {GOALS['validation seconds']:g} s",
            top["validate"] <= GOALS["validation seconds"],
        )
    )
    goals.append(
        (
            "validation at 10^6: peak memory",
            f"{top['peak']:.0f} MB",
            f"≤ {GOALS['validation MB']:g} MB",
            top["peak"] <= GOALS["validation MB"],
        )
    )
    return goals


if __name__ == "__main__":
    if sys.argv[1:2] == ["--analysis"]:
        print(json.dumps(analysis_timings(int(sys.argv[2]))))
        sys.exit(0)
    if sys.argv[1:2] == ["--validate"]:
        print(json.dumps(validation_timings(int(sys.argv[2]))))
        sys.exit(0)
    if sys.argv[1:2] == ["--only"] and sys.argv[2:3] and sys.argv[2] in PARTS:
        sys.exit(main((sys.argv[2],)))
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--only {'|'.join(PARTS)}]")
    sys.exit(main())
