"""Benchmark the book's builds and its analysis functions; print one table (``make bench``).

Everything is measured in one run on this machine. Builds run in a temporary copy of the
repository (its tracked and untracked, not ignored, files), with that copy's ``src`` first on
``PYTHONPATH``, so the working tree's ``_build`` is never touched.

Rows:

1. execution floor: for each chapter, a fresh kernel that runs only the chapter's import
   statements, then shuts down; summed over the chapters;
2. cold build (``make book`` from an empty ``_build``): the data-aware executor, then Jupyter Book;
3. rebuild with no change;
4. rebuild after editing one chapter's code;
5. rebuild after editing one data file (and which chapters ran, against those that read it);
6. stock Jupyter Book, ``execute_notebooks: force``, on another fresh copy;
7. the analysis functions at 10^3 to 10^6 coded segments (up to 10^5 participants), and the
   scaled generator at 10^6 segments.
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
SCALES = (10**3, 10**4, 10**5, 10**6)
TARGETS = {
    "cold": 1.3,  # x floor
    "stock": 0.6,  # cold / stock
    "no-change": 0.1,  # x cold
    "summary": 2.0,  # seconds at 10^6
    "generate": 10.0,  # seconds at 10^6
}


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


def book_build(copy: Path) -> float:
    """Time ``make book``'s two steps (without make's venv check) in ``copy``."""
    prepare = timed([str(BIN / "python"), "-m", "compendium.build.execution"], copy)
    render = timed(
        [str(BIN / "jupyter-book"), "build", ".", "--builder", "html", "-W", "-n", "--keep-going"],
        copy,
    )
    return prepare + render


def last_run(copy: Path) -> dict:
    return json.loads((copy / "_build" / ".compendium" / "last-run.json").read_text())


def floor(copy: Path) -> tuple[float, int]:
    """Return the summed kernel start + imports + shutdown over the chapters, and their count."""
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
outcomes = execute_notebooks(jobs, workers=1)
assert not any(o.error for o in outcomes), [o.error for o in outcomes]
print(json.dumps([o.seconds for o in outcomes]))
"""
    done = subprocess.run(
        [str(BIN / "python"), "-c", code],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    return sum(seconds), len(seconds)


def edit_chapter(copy: Path, state: dict) -> str:
    """Add a comment to the end of one chapter's first code cell; return the chapter's key."""
    key = sorted(k for k, v in state["chapters"].items() if v.get("notebook"))[-1]
    path = copy / key
    text = path.read_text()
    start = text.index("```{code-cell}")
    end = text.index("\n```", start + 3)
    path.write_text(text[:end] + "\n# benchmark: an edited line" + text[end:])
    return key


SAFE_EDITS = (("sites.csv", "region"), ("coders.csv", "role"), ("stages.csv", "method"))


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
    rows[1][rows[0].index(column)] += " (edited)"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return filename, sorted(readers.get(filename, []))


def analysis_timings() -> list[tuple[str, str, float]]:
    """Return (function, scale, seconds) for the analysis functions at each scale."""
    from compendium.analysis.themes import code_counts
    from compendium.contract.loading import Study, load_study
    from compendium.contract.synthesis import scaled_tables

    def lazy(module: str):
        try:
            return __import__(f"compendium.{module}", fromlist=["_"])
        except ImportError as exc:
            print(f"bench: compendium.{module} is missing ({exc}); its rows are skipped")
            return None

    characteristics, summaries, trace = lazy("characteristics"), lazy("summaries"), lazy("trace")
    real = load_study()
    rows = []
    for scale in SCALES:
        started = time.perf_counter()
        tables = scaled_tables(scale)
        generated = time.perf_counter() - started
        if scale == SCALES[-1]:
            rows.append(("generator (scaled_tables)", f"{scale:.0e}", generated))
        study = Study(real.data_dir, {**real.tables, **tables})
        label = f"{scale:.0e} seg, {len(tables['participants']):.0e} ppl"
        checks = [
            (
                "themes.code_counts (all codes)",
                lambda s=study: code_counts(s.codes, s.segments, s.codings),
            )
        ]
        if summaries is not None:
            checks.append(
                (
                    "summaries.theme_summary (A2-INT)",
                    lambda s=study: summaries.theme_summary(s, "A2-INT"),
                )
            )
            checks.append(
                (
                    "summaries.theme_summary (A3-FG)",
                    lambda s=study: summaries.theme_summary(s, "A3-FG"),
                )
            )
        if characteristics is not None:
            checks.append(
                (
                    "characteristics.characteristics_table (stage 3)",
                    lambda s=study: characteristics.characteristics_table(
                        characteristics.stage_sample(s, 3)
                    ),
                )
            )
            checks.append(
                (
                    "characteristics.stage_characteristics (stage 5)",
                    lambda s=study: characteristics.stage_characteristics(s, 5).to_html(),
                )
            )
        if trace is not None:
            checks.append(
                (
                    "trace.chains + completeness",
                    lambda s=study: (trace.chains(s), trace.completeness(s)),
                )
            )
        for name, run in checks:
            started = time.perf_counter()
            run()
            rows.append((name, label, time.perf_counter() - started))
    return rows


def main() -> int:
    results = {}
    with tempfile.TemporaryDirectory(prefix="compendium-bench-") as folder:
        copy = copy_repository(Path(folder) / "repo")
        print(f"bench: measuring in {copy} (2 kernels; {os.cpu_count()} cores)", flush=True)
        results["floor"], n_chapters = floor(copy)
        print("bench: floor measured", flush=True)
        results["cold"] = book_build(copy)
        cold_run = last_run(copy)
        results["no-change"] = book_build(copy)
        no_change_run = last_run(copy)
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
        results["stock"] = timed(
            [
                str(BIN / "jupyter-book"),
                "build",
                ".",
                "--builder",
                "html",
                "-W",
                "-n",
                "--keep-going",
            ],
            stock,
        )
        # In the copy too: loading the package there leaves its validation record there.
        done = subprocess.run(
            [str(BIN / "python"), str(copy / "bench" / "benchmark.py"), "--analysis"],
            cwd=copy,
            env=environment(copy),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"bench: the analysis timings failed:\n{done.stderr[-3000:]}")
        print("\n".join(line for line in done.stdout.splitlines()[:-1]))
        analysis = json.loads(done.stdout.strip().splitlines()[-1])

    cold = results["cold"]
    rows = [
        (
            "execution floor",
            results["floor"],
            f"{n_chapters} chapters × (kernel + imports)",
            "",
            "",
        ),
        (
            "cold build",
            cold,
            f"{cold / results['floor']:.2f} × floor; ran {len(cold_run['executed'])}",
            f"≤ {TARGETS['cold']} × floor",
            cold <= TARGETS["cold"] * results["floor"],
        ),
        (
            "no-change rebuild",
            results["no-change"],
            f"{results['no-change'] / cold:.3f} × cold; ran {len(no_change_run['executed'])}",
            f"≤ {TARGETS['no-change']} × cold",
            results["no-change"] <= TARGETS["no-change"] * cold,
        ),
        (
            "one chapter edited",
            results["one chapter"],
            f"{results['one chapter'] / cold:.3f} × cold; ran {', '.join(chapter_run['executed'])}",
            f"runs only {edited}",
            chapter_run["executed"] == [edited],
        ),
        (
            f"one data file edited ({data_file})",
            results["one data file"],
            f"{results['one data file'] / cold:.3f} × cold; ran {len(data_run['executed'])}: "
            + ", ".join(Path(k).stem for k in data_run["executed"]),
            f"runs only its {len(readers)} readers",
            sorted(data_run["executed"]) == readers,
        ),
        (
            "stock jupyter-book, force",
            results["stock"],
            f"cold / stock = {cold / results['stock']:.2f}",
            f"cold ≤ {TARGETS['stock']} × stock",
            cold <= TARGETS["stock"] * results["stock"],
        ),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'build':<{width}}{'seconds':>9}  {'ratio / detail':<60} {'target':<26} met")
    for name, seconds, detail, target, met in rows:
        verdict = "" if target == "" else ("yes" if met else "NO")
        print(f"{name:<{width}}{seconds:>9.2f}  {detail:<60} {target:<26} {verdict}")

    print(f"\n{'analysis function':<50}{'scale':<24}{'seconds':>9}")
    by_function = {}
    for name, scale, seconds in analysis:
        print(f"{name:<50}{scale:<24}{seconds:>9.3f}")
        by_function.setdefault(name, []).append(seconds)
    print("\nat 10^6 segments (target ≤ 2 s each; generator ≤ 10 s); growth 10^5 → 10^6:")
    for name, times in by_function.items():
        limit = TARGETS["generate"] if name.startswith("generator") else TARGETS["summary"]
        growth = f"{times[-1] / times[-2]:.1f}×" if len(times) > 1 and times[-2] > 0 else "–"
        print(
            f"  {name:<50}{times[-1]:>8.3f} s  growth {growth:>6}  {'yes' if times[-1] <= limit else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--analysis"]:
        print(json.dumps(analysis_timings()))
        sys.exit(0)
    sys.exit(main())
