"""``rdlab frontier PATH``: rank RD points, print the frontier, write frontier.parquet + report.

Bad input (missing path, foreign or truncated Parquet, unknown --by/--distortion column,
no rows for --split) prints one line ``error: <field>: <message>`` on stderr and returns 2
with nothing written: everything is read and validated before the first write.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from rdlab.errors import SpecError
from rdlab.frontier import schema as S
from rdlab.frontier.analysis import Analysis, analyse, validate_options
from rdlab.frontier.io import RDPointsError, read_rd_points
from rdlab.frontier.pareto import By
from rdlab.frontier.report import write_outputs
from rdlab.frontier.table import format_frontier, format_table, seed_summary

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


def _summary(a: Analysis) -> str:
    parts = [format_frontier(a.table, a.distortion)]
    parts.append("\nhypervolume (shared reference point; larger is better):")
    parts.append(format_table(a.hypervolume, ["group", "hypervolume", "n_points", "n_frontier"]))
    if not a.dominance.empty:
        parts.append("\ndominance over the shared rate range (mean_gap = mean d_B − d_A, nats):")
        cols = ["a", "b", "rate_lo", "rate_hi", "fraction_a_below", "mean_gap"]
        parts.append(format_table(a.dominance, cols))
    seeds = seed_summary(a.seeds, a.distortion)
    if not seeds.empty:
        parts.append("\nrepeated seeds, frontier on the means (std: spread over seeds):")
        parts.append(format_table(seeds, list(seeds.columns)))
    parts.extend(f"note: {n}" for n in a.notes)
    return "\n".join(parts)


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
        print(_summary(analysis))
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


def default_split(points: pd.DataFrame) -> str:
    """The split a study's frontier uses: val if it has final rows, else test, else train."""
    final = points[points["epoch"].isna()] if "epoch" in points.columns else points
    present = set(final["split"].dropna())
    return next((s for s in ("val", "test", "train") if s in present), "val")


def study_report(
    points_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    title: str = "rdlab frontier",
    say: Callable[[str], object] = print,
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
) -> list[Path]:
    """End-of-study report for the study runner: returns the written paths.

    Never fails a finished study: if no trial produced a rankable point (all failed, say),
    the reason is reported through ``say`` and nothing is written.
    """
    points = read_rd_points(points_path)
    try:
        analysis = analyse(points, distortion, by, default_split(points))
    except SpecError as err:
        say(f"frontier skipped: {err}")
        return []
    say(_summary(analysis))
    written = write_outputs(analysis, points, out_dir, title, artifact_root=out_dir)
    return list(written.values())


if __name__ == "__main__":
    raise SystemExit(frontier_main(sys.argv[1:]))
