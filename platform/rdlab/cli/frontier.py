"""``rdlab frontier SOURCE… [--tracking-uri URI --experiment NAME]``: rank RD points from
any number of places, print the frontier, write frontier.parquet + the report.

Sources (rdlab.frontier.sources): study folders, RD files or directories, globs, ``s3://``
URIs, tables written by other tools (one warning naming what they lack), and MLflow
experiments, whose trial runs carry their rows as ``rd_points/<trial_id>.parquet``
artifacts (rdlab.track.points, the only part that talks to MLflow). ``--by study`` compares
studies on one plot and in the tables.

Bad input (a missing path, a truncated file, a table without a required column, an
unknown --by/--distortion column, no rows for --split) prints one line
``error: <field>: <message>`` on stderr and returns 2 with nothing written: everything is
read and validated before the first write.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from rdlab.dashboards.report import write_outputs
from rdlab.errors import SpecError
from rdlab.frontier import schema as S
from rdlab.frontier.analysis import analyse, validate_options
from rdlab.frontier.io import RDPointsError
from rdlab.frontier.sources import Source, artifact_roots, blobs_source, combine, load_sources
from rdlab.frontier.table import format_frontier, summary_text
from rdlab.storage import Storage, is_uri

DEFAULT_OUT = "rdlab-frontier"  # output folder when the sources are not one local folder

EXIT_BAD_INPUT = 2


class _ArgError(Exception):
    """argparse's complaint, turned into our one-line error instead of a usage dump."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgError(message)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rdlab frontier`` (shared by the standalone and the subcommand parser)."""
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="study folder, RD file or directory, CSV/Parquet table, glob, or s3:// URI",
    )
    p.add_argument("--tracking-uri", help="MLflow tracking server (with --experiment)")
    p.add_argument(
        "--experiment",
        action="append",
        default=[],
        help="MLflow experiment (a study) whose trial runs to read; repeatable",
    )
    p.add_argument("--filter", help="MLflow search filter for those runs, e.g. \"params.x = '1'\"")
    p.add_argument("--by", default="sigma_policy", help="group column(s), comma-separated, or none")
    p.add_argument("--distortion", default="nll_opt", help=f"one of {', '.join(S.DISTORTIONS)}")
    p.add_argument("--split", default="val", help=f"one of {', '.join(S.SPLITS)}")
    p.add_argument("--html", help="report path (default: OUT_DIR/report.html)")
    p.add_argument("--csv", help="also write the frontier table as CSV here")
    p.add_argument(
        "--out-dir",
        help=f"output folder or URI (default: the one source's study folder, else ./{DEFAULT_OUT})",
    )
    p.add_argument("--title", default=None, help="report title")
    p.add_argument(
        "--include-stopped-early", action="store_true", help="rank stopped_early trials too"
    )
    p.add_argument("--all", action="store_true", help="print every point, not only frontier rows")
    p.add_argument("--no-png", action="store_true", help="skip the PNG plots")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rdlab frontier", description=(__doc__ or "").splitlines()[0])
    add_arguments(p)
    return p


def register(sub: Any, name: str) -> None:
    """Hook for ``rdlab.cli``: add ``rdlab <name>`` to its subparsers."""
    p = sub.add_parser(name, help="rank RD points, print the frontier, write the report")
    add_arguments(p)
    p.set_defaults(func=lambda args: _guarded(lambda: _run(args)))


def _default_out(sources: list[Source]) -> str:
    if len(sources) == 1 and sources[0].root is not None:
        return sources[0].root.uri
    return DEFAULT_OUT


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse output targets that would fail only after the first write."""
    for flag, target in (("--out-dir", args.out_dir), ("--html", args.html), ("--csv", args.csv)):
        if not target or is_uri(target):
            continue
        if flag == "--out-dir" and Path(target).exists() and not Path(target).is_dir():
            raise SpecError(flag, f"{target} exists and is not a directory")
        if flag != "--out-dir" and Path(target).is_dir():
            raise SpecError(flag, f"{target} is a directory; give a file name")


def _mlflow_source(args: argparse.Namespace) -> Source:
    # Importing MLflow takes seconds: only when an experiment is asked for.
    from rdlab.track.points import fetch_points  # lazy: mlflow

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise SpecError("--tracking-uri", "needed with --experiment (or set MLFLOW_TRACKING_URI)")
    fetched = fetch_points(uri, args.experiment, args.filter)
    name = f"MLflow {', '.join(args.experiment)}"
    if not fetched.blobs:
        why = f"{fetched.runs} trial run(s) matched" + (f" {args.filter!r}" if args.filter else "")
        raise SpecError("--experiment", f"no RD points in {name} ({why})")
    return blobs_source(name, fetched.blobs, fetched.notes)


def _read(args: argparse.Namespace) -> tuple[list[Source], pd.DataFrame, list[str]]:
    if not args.sources and not args.experiment:
        raise _ArgError("give at least one SOURCE (a path, glob or URI) or --experiment")
    if (args.tracking_uri or args.filter) and not args.experiment:
        raise SpecError("--experiment", "needed with --tracking-uri/--filter")
    sources = load_sources(args.sources)
    if args.experiment:
        sources.append(_mlflow_source(args))
    points, notes = combine(sources)
    d = args.distortion
    for src in sources:
        if src.points[d].isna().all() and len(src.points):
            have = [c for c in S.DISTORTIONS if src.points[c].notna().any()]
            raise SpecError("--distortion", f"{src.name} has no {d!r} values; it has {have}")
    return sources, points, notes


def _run(args: argparse.Namespace) -> int:
    validate_options(args.distortion, args.by, args.split)  # before reading a big file
    _check_outputs(args)
    sources, points, notes = _read(args)
    analysis = analyse(points, args.distortion, args.by, args.split, args.include_stopped_early)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    names = " + ".join(s.name.rstrip("/").rsplit("/", 1)[-1] for s in sources)
    title = args.title or f"rdlab frontier · {names} · {args.split}"
    out = args.out_dir or _default_out(sources)
    roots = artifact_roots(sources)
    written = write_outputs(
        analysis,
        points,
        Storage.parse(out, "--out-dir"),
        title,
        html_path=args.html,
        csv_path=args.csv,
        roots=roots,
        pngs=not args.no_png,
    )
    if args.all:
        print(format_frontier(analysis.table, args.distortion, show_all=True))
    else:
        print(summary_text(analysis))
    for name, p in written.items():
        print(f"wrote {name}: {p}")
    return 0


def _guarded(fn: Callable[[], int]) -> int:
    """Run ``fn``; bad input becomes one line ``error: <field>: <message>`` and status 2."""
    try:
        return fn()
    except _ArgError as err:
        print(f"error: rdlab frontier: {err}", file=sys.stderr)
    except RDPointsError as err:
        print(f"error: {err.path}: {err.reason}", file=sys.stderr)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT


def frontier_main(argv: Sequence[str]) -> int:
    """Entry point of ``rdlab frontier``; returns the exit status (0 ok, 2 bad input)."""
    return _guarded(lambda: _run(build_parser().parse_args(list(argv))))


if __name__ == "__main__":
    raise SystemExit(frontier_main(sys.argv[1:]))
