"""Command line: ``python -m compendium {synth,validate,reproduce,codebook,import-codebook,export-project}``.

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
from compendium.contract.refiqda import (
    IMPORTED_NAME_WORDING,
    NAME_WORDINGS,
    ExchangeError,
    codebook_problems,
    codebook_xml,
    export_project,
    import_codebook,
)
from compendium.contract.validation import InvalidPackage, validate_package


def _data_dir(args: argparse.Namespace) -> Path:
    """Return the package directory named on the command line, else the default one."""
    return Path(args.data_dir) if args.data_dir else paths.data_dir()


def _synth(args: argparse.Namespace) -> int:
    try:
        from compendium.contract.synthesis import SpecificationError, synthesize

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


def _import_codebook(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        rows = import_codebook(
            Path(args.codebook),
            args.activity,
            data_dir,
            prefix=args.prefix,
            name_wording=args.name_wording,
        )
    except ExchangeError as exc:
        print(f"compendium: import-codebook: {exc}", file=sys.stderr)
        return 1
    print(
        f"import-codebook: wrote {len(rows)} codes of {args.activity} "
        f"from {args.codebook} to {data_dir / 'codes.csv'}"
    )
    return 0


def _export_project(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        counts = export_project(data_dir, Path(args.out))
    except ExchangeError as exc:
        print(f"compendium: export-project: {exc}", file=sys.stderr)
        return 1
    print(
        f"export-project: wrote {args.out} (REFI-QDA project, schema-valid, {counts['bytes']} "
        f"bytes): {counts['sources']} sources, {counts['selections']} coded selections, "
        f"{counts['codings']} codings, {counts['codes']} codes, {counts['users']} coders"
    )
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
    importer = sub.add_parser(
        "import-codebook",
        help="replace one analysis's codes with a REFI-QDA codebook (.qdc)",
        description="Read a REFI-QDA codebook into one analysis's rows of codes.csv. Codes get "
        "ids by position (<prefix>-1, <prefix>-1.1, ...); nothing is written unless the "
        "codebook is schema-valid and the package stays valid.",
    )
    importer.add_argument("codebook", help="the .qdc file to read")
    importer.add_argument("--activity", required=True, help="analysis to replace, e.g. A2-INT")
    importer.add_argument(
        "--data", "--data-dir", dest="data_dir", help="package directory (default: data/)"
    )
    importer.add_argument(
        "--prefix",
        help="code id prefix (default: the one the analysis's codes use now, e.g. A2)",
    )
    importer.add_argument(
        "--name-wording",
        choices=NAME_WORDINGS,
        default=IMPORTED_NAME_WORDING,
        help=f"name_wording of codes whose name is new (default: {IMPORTED_NAME_WORDING})",
    )
    importer.set_defaults(run=_import_codebook)
    exporter = sub.add_parser(
        "export-project",
        help="export the whole coded project as a REFI-QDA project (.qdpx)",
        description="Write codes, coders, sources (the synthetic excerpts) and every coded "
        "segment as a REFI-QDA project archive, checked against Project.xsd first.",
    )
    exporter.add_argument("out", help="the .qdpx file to write")
    exporter.add_argument(
        "--data", "--data-dir", dest="data_dir", help="package directory (default: data/)"
    )
    exporter.set_defaults(run=_export_project)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
