"""``rdlab frontier PATH``: rank RD points, print the frontier, write frontier.parquet + report.

Bad input (missing path, foreign or truncated Parquet, unknown --by/--distortion column,
no rows for --split) prints one line ``error: <field>: <message>`` on stderr and returns 2
with nothing written: everything is read and validated before the first write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rdlab.dashboards.report import write_outputs
from rdlab.errors import SpecError
from rdlab.frontier import schema as S
from rdlab.frontier.analysis import analyse, validate_options
from rdlab.frontier.io import RDPointsError, read_rd_points
from rdlab.frontier.table import format_frontier, summary_text

EXIT_BAD_INPUT = 2


class _ArgError(Exception):
    """argparse's complaint, turned into our one-line error instead of a usage dump."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgError(message)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``rdlab frontier`` (shared by the standalone and the subcommand parser)."""
    p.add_argument("path", help="rd_points.parquet file or partitioned directory")
    p.add_argument("--by", default="sigma_policy", help="group column(s), comma-separated, or none")
    p.add_argument("--distortion", default="nll_opt", help=f"one of {', '.join(S.DISTORTIONS)}")
    p.add_argument("--split", default="val", help=f"one of {', '.join(S.SPLITS)}")
    p.add_argument("--html", help="report path (default: OUT_DIR/report.html)")
    p.add_argument("--csv", help="also write the frontier table as CSV here")
    p.add_argument("--out-dir", help="output directory (default: beside PATH)")
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


def _check_outputs(path: Path, args: argparse.Namespace) -> Path:
    """The output directory; refuses targets that would fail only after the first write."""
    out = Path(args.out_dir) if args.out_dir else path.parent
    if out.exists() and not out.is_dir():
        raise SpecError("--out-dir", f"{out} exists and is not a directory")
    for flag, target in (("--html", args.html), ("--csv", args.csv)):
        if target and Path(target).is_dir():
            raise SpecError(flag, f"{target} is a directory; give a file name")
    return out


def _run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    validate_options(args.distortion, args.by, args.split)  # before reading a big file
    out = _check_outputs(path, args)
    points = read_rd_points(path)
    analysis = analyse(points, args.distortion, args.by, args.split, args.include_stopped_early)
    title = args.title or f"rdlab frontier · {path.name} · {args.split}"
    written = write_outputs(
        analysis,
        points,
        out,
        title,
        html_path=args.html,
        csv_path=args.csv,
        artifact_root=path.parent,
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
