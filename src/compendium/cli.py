"""Command line: ``python -m compendium {synth,validate,reproduce,codebook,import-codebook,export-project,new,check,schema}``.

Each command exits 0 on success and 1 on a data problem, printing one line per problem;
``reproduce`` also exits 1 when any regenerated figure differs from the paper's. A usage
error exits 2. Every failure is told in lines of the form ``compendium: <what>: <why>``,
never as a traceback; ``--debug`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from compendium import paths
from compendium.contract.loading import load_study
from compendium.contract.problems import SHOWN_PROBLEMS
from compendium.contract.refiqda import (
    IMPORTED_NAME_WORDING,
    NAME_WORDINGS,
    ExchangeError,
    codebook_problems,
    codebook_xml,
    export_project,
    import_codebook,
)
from compendium.contract.validation import InvalidPackage, return_memory_promptly, validate_package
from compendium.contract.writing import write_atomically
from compendium.failures import add_debug_flag, guarded, print_problems, usage_errors


def _data_dir(args: argparse.Namespace) -> Path:
    """Return the package directory named on the command line, else the default one."""
    return Path(args.data_dir) if args.data_dir else paths.data_dir()


def _synth(args: argparse.Namespace) -> int:
    # Imported here, as the other commands import theirs, so no command pays for the others.
    from compendium.contract.specification import SpecificationError
    from compendium.contract.synthesis import synthesize
    from compendium.contract.writing import UnsafeTarget

    def fail(lines: list[str]) -> int:
        for line in lines:
            print(f"compendium: synth: {line}", file=sys.stderr)
        return 1

    try:
        out = synthesize(args.seed, Path(args.out), Path(args.spec))
    except UnsafeTarget as exc:
        return fail([str(exc)])
    except SpecificationError as exc:
        return fail([str(p) for p in exc.problems])
    except InvalidPackage as exc:
        count = len(exc.problems)
        head = f"{args.out}: the generated package is invalid ({count} problem{'s' * (count > 1)}); nothing written"
        more = [f"... and {count - SHOWN_PROBLEMS} more"] if count > SHOWN_PROBLEMS else []
        return fail([head, *(str(p) for p in exc.problems[:SHOWN_PROBLEMS]), *more])
    except OSError as exc:
        return fail([f"{exc.filename or args.out}: cannot write: {exc.strerror or exc}"])
    print(f"synth: wrote the synthetic package of {args.spec} (seed {args.seed}) to {out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    return_memory_promptly()
    problems = validate_package(data_dir)
    if problems:
        print_problems(problems)
        count = len(problems)
        print(
            f"compendium: validate: {data_dir}: {count} problem{'s' * (count > 1)}",
            file=sys.stderr,
        )
        return 1
    print(f"validate: {data_dir} is a valid data package")
    return 0


def _new(args: argparse.Namespace) -> int:
    from compendium.build.scaffold import ScaffoldError, create

    def fail(what: str) -> int:
        print(f"compendium: new: {what}", file=sys.stderr)
        return 1

    data = Path(args.data) if args.data else None
    spec = Path(args.spec) if args.spec else None
    try:
        target = create(Path(args.dir), data=data, spec=spec, seed=args.seed)
    except ScaffoldError as exc:
        return fail(f"{args.dir}: nothing written: {exc}")
    except InvalidPackage as exc:
        print_problems(exc.problems)
        count = len(exc.problems)
        package = args.data or f"the package generated from {args.spec}"
        return fail(
            f"{package}: not a valid data package ({count} problem{'s' * (count > 1)}); "
            "nothing written"
        )
    except OSError as exc:
        return fail(f"{exc.filename or args.dir}: nothing written: {exc.strerror or exc}")
    print(f"new: wrote {target}; run `make book` there to build it")
    return 0


def _check(args: argparse.Namespace) -> int:
    from compendium.build.support import book_data_dir, run_check

    root = Path(args.root)
    return run_check(root, Path(args.toc), Path(args.data) if args.data else book_data_dir(root))


def _schema(args: argparse.Namespace) -> int:
    from compendium.build.scaffold import ScaffoldError, write_package_descriptor

    data_dir = Path(args.data_dir)
    try:
        path, resources = write_package_descriptor(data_dir)
    except InvalidPackage as exc:
        print_problems(exc.problems)
        print(
            f"compendium: schema: {data_dir}: nothing written: study.yaml is invalid",
            file=sys.stderr,
        )
        return 1
    except ScaffoldError as exc:
        print(f"compendium: schema: nothing written: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"compendium: schema: {exc.filename or data_dir}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    print(
        f"schema: wrote {path} ({len(resources)} resources); "
        f"check the package with `python -m compendium validate {data_dir}`"
    )
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from compendium.analysis.measures import Measures
    from compendium.analysis.reproduction import mismatches, reproduction_table, summary
    from compendium.presentation.reporting import reproduction_display

    data_dir = _data_dir(args)
    try:
        study = load_study(data_dir)
    except InvalidPackage as exc:
        print_problems(exc.problems)
        print(f"compendium: reproduce: {data_dir}: not a valid data package", file=sys.stderr)
        return 1
    if not study.has("published_figures"):
        print(
            f"compendium: reproduce: {data_dir} lists no published figures (published_figures.csv, an "
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
        print(f"compendium: reproduce: MISMATCH {line}", file=sys.stderr)
    return 1 if bad else 0


def _codebook(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    try:
        study = load_study(data_dir)
        xml = codebook_xml(study.codes, args.activity)
    except (InvalidPackage, ValueError) as exc:
        print(f"compendium: codebook: nothing written: {exc}", file=sys.stderr)
        return 1
    problems = codebook_problems(xml)
    if problems:
        print(
            "compendium: codebook: nothing written: the export breaks the REFI-QDA schema:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    out = Path(args.out or f"{args.activity}.qdc")
    try:
        write_atomically(out, xml)
    except OSError as exc:
        print(
            f"compendium: codebook: {out}: nothing written: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
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
    usage_errors(parser, None)
    add_debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="generate a synthetic data package from a specification")
    synth.add_argument("--spec", required=True, help="the specification, e.g. spec/spec.yaml")
    synth.add_argument("--seed", type=int, required=True, help="seed of every random stream")
    synth.add_argument(
        "--out", required=True, help="package folder to write (replaced whole, atomically)"
    )
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
    _add_scaffold_commands(sub)
    for name, command in sub.choices.items():
        usage_errors(command, name)
        add_debug_flag(command, default=argparse.SUPPRESS)
    return parser


def _add_scaffold_commands(sub) -> None:
    """Add ``new``, ``check`` and ``schema`` to the command's subparsers."""
    from compendium.build.scaffold import DEFAULT_SEED

    new = sub.add_parser("new", help="write a new compendium for a data package")
    new.add_argument("dir", help="folder to create (must not exist, or be empty)")
    source = new.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a valid data package to build the book on")
    source.add_argument("--spec", help="a specification to generate a synthetic package from")
    new.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"generator seed (default {DEFAULT_SEED})"
    )
    new.set_defaults(run=_new)
    check = sub.add_parser(
        "check", help="say which chapters of the book the data package supports, before building"
    )
    check.add_argument("--data", help="package directory (default: $COMPENDIUM_DATA, else data/)")
    check.add_argument("--toc", default="_toc.yml", help="table of contents (default _toc.yml)")
    check.add_argument("--root", default=".", help="the book's root folder (default: here)")
    check.set_defaults(run=_check)
    schema = sub.add_parser(
        "schema", help="rewrite a package's datapackage.json from its study.yaml and CSV files"
    )
    schema.add_argument("data_dir", help="package directory")
    schema.set_defaults(run=_schema)


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = build_parser().parse_args(argv)
    return guarded(args.command, lambda: args.run(args), debug=args.debug)
