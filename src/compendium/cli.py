"""Command line: ``python -m compendium {synth,validate,reproduce,codebook}``.

Each command exits 0 on success and 1 on a data problem, printing one line per problem;
``reproduce`` also exits 1 when any regenerated figure differs from the paper's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from compendium import paths
from compendium.contract.loading import load_study
from compendium.contract.refiqda import codebook_problems, codebook_xml
from compendium.contract.synthesis import SpecificationError, synthesize
from compendium.contract.validation import InvalidPackage, validate_package


def _data_dir(args: argparse.Namespace) -> Path:
    """Return the package directory named on the command line, else the default one."""
    return Path(args.data_dir) if args.data_dir else paths.data_dir()


def _synth(args: argparse.Namespace) -> int:
    try:
        out = synthesize(args.seed, Path(args.out))
    except (InvalidPackage, SpecificationError) as exc:
        print(f"synth: nothing written: {exc}", file=sys.stderr)
        return 1
    print(f"synth: wrote the synthetic package (seed {args.seed}) to {out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    problems = validate_package(data_dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"validate: {len(problems)} problem(s) in {data_dir}", file=sys.stderr)
        return 1
    print(f"validate: {data_dir} is a valid data package")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from compendium.analysis.measures import Measures
    from compendium.analysis.reproduction import mismatches, reproduction_table, summary
    from compendium.presentation.reporting import reproduction_display

    data_dir = _data_dir(args)
    try:
        study = load_study(data_dir)
    except InvalidPackage as exc:
        print(f"reproduce: {data_dir} is not a valid data package:\n{exc}", file=sys.stderr)
        return 1
    if not study.has("published_figures"):
        print(
            f"reproduce: {data_dir} lists no published figures (published_figures.csv, an "
            "optional module): nothing to reproduce",
            file=sys.stderr,
        )
        return 1
    table = reproduction_table(study.published_figures, Measures(study))
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(reproduction_display(table).drop(columns="Note").to_string())
    print(f"reproduce: {summary(table)}")
    if study.synthetic:
        print(
            "reproduce: the package is synthetic, generated to hit these values; a match shows "
            "the analysis code computes them from the records, not an independent replication"
        )
    bad = mismatches(table)
    for line in bad:
        print(f"reproduce: MISMATCH {line}", file=sys.stderr)
    return 1 if bad else 0


def _codebook(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        study = load_study(data_dir)
        xml = codebook_xml(study.codes, args.activity)
    except (InvalidPackage, ValueError) as exc:
        print(f"codebook: nothing written: {exc}", file=sys.stderr)
        return 1
    problems = codebook_problems(xml)
    if problems:
        print("codebook: nothing written: the export breaks the REFI-QDA schema:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    out = Path(args.out or f"{args.activity}.qdc")
    out.write_bytes(xml)
    print(f"codebook: wrote the {args.activity} codebook (REFI-QDA, schema-valid) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for the ``compendium`` command."""
    parser = argparse.ArgumentParser(prog="compendium", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="generate the synthetic data package")
    synth.add_argument("--seed", type=int, default=2017, help="random seed (default 2017)")
    synth.add_argument("--out", default=str(paths.DEFAULT_DATA_DIR), help="output directory")
    synth.set_defaults(run=_synth)
    validate = sub.add_parser("validate", help="validate a data package")
    validate.add_argument("data_dir", nargs="?", help="package directory (default: data/)")
    validate.set_defaults(run=_validate)
    reproduce = sub.add_parser(
        "reproduce", help="regenerate every published figure and compare it with the paper"
    )
    reproduce.add_argument("data_dir", nargs="?", help="package directory (default: data/)")
    reproduce.set_defaults(run=_reproduce)
    codebook = sub.add_parser("codebook", help="export one analysis's codebook as REFI-QDA XML")
    codebook.add_argument("activity", help="analysis to export, e.g. A2-INT")
    codebook.add_argument("--out", help="output file (default: <activity>.qdc)")
    codebook.add_argument("--data-dir", help="package directory (default: data/)")
    codebook.set_defaults(run=_codebook)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
