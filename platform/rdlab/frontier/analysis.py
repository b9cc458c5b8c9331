"""One frontier analysis of an RD-points table: validate the request, select, rank, compare.

``analyse`` is what both ``rdlab frontier`` and the study runner's end-of-study report run;
it validates everything before anything is written, raising SpecError(field, message).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rdlab.errors import SpecError
from rdlab.frontier import schema as S
from rdlab.frontier.dominance import dominance_table
from rdlab.frontier.hypervolume import hypervolume_by_group
from rdlab.frontier.matched import matched_rate_table
from rdlab.frontier.pareto import By, by_columns
from rdlab.frontier.seeds import seed_frontier
from rdlab.frontier.select import final_points
from rdlab.frontier.table import frontier_table, unranked_note


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows; ``table`` is what frontier.parquet holds."""

    distortion: str
    by: tuple[str, ...]
    split: str
    table: pd.DataFrame
    notes: tuple[str, ...]
    hypervolume: pd.DataFrame
    matched: pd.DataFrame
    dominance: pd.DataFrame
    seeds: pd.DataFrame


def parse_by(by: By) -> tuple[str, ...]:
    """``"a,b"`` / ``["a", "b"]`` / ``None`` / ``"none"`` → column tuple (empty = overall)."""
    if isinstance(by, str):
        by = [] if by.strip().lower() in ("", "none") else by.split(",")
    return tuple(c.strip() for c in by_columns(by))


def validate_options(distortion: str, by: By, split: str) -> None:
    """Raise SpecError naming the option if it can never be answered (no data needed)."""
    if distortion not in S.DISTORTIONS:
        raise SpecError("--distortion", f"{distortion!r} is not one of {list(S.DISTORTIONS)}")
    for col in parse_by(by):
        if col not in S.GROUPABLE:
            raise SpecError("--by", f"{col!r} is not one of {list(S.GROUPABLE)} (or 'none')")
    if split not in S.SPLITS:
        raise SpecError("--split", f"{split!r} is not one of {list(S.SPLITS)}")


def validate_request(points: pd.DataFrame, distortion: str, by: By, split: str) -> None:
    """Raise SpecError naming the option if the request cannot be answered from ``points``."""
    validate_options(distortion, by, split)
    missing = [c for c in ("rate", distortion, "status", "split") if c not in points.columns]
    if missing:
        raise SpecError("points", f"missing column(s) {missing}")


def analyse(
    points: pd.DataFrame,
    distortion: str = "nll_opt",
    by: By = "sigma_policy",
    split: str = "val",
    include_stopped_early: bool = False,
) -> Analysis:
    """Select final rows, flag frontiers, and compute hypervolume, matched rates, dominance."""
    validate_request(points, distortion, by, split)
    cols = parse_by(by)
    sel = final_points(points, split, include_stopped_early)
    if sel.points.empty:
        final = points[points["epoch"].isna()] if "epoch" in points.columns else points
        have = sorted(set(final["split"].dropna()))
        raise SpecError(
            "--split",
            f"no final rows with a kept status for split {split!r}; "
            f"final rows exist for {have or 'no split'}",
        )
    table = frontier_table(sel.points, distortion, cols)
    notes = list(sel.notes)
    unranked = unranked_note(table, distortion)
    if unranked:
        notes.append(unranked)
    # Matched rates and dominance only need each group's frontier: rank once, reuse it.
    fronts = table[table["on_group_frontier"].to_numpy()]
    return Analysis(
        distortion=distortion,
        by=cols,
        split=split,
        table=table,
        notes=tuple(notes),
        hypervolume=hypervolume_by_group(table, distortion, cols),
        matched=matched_rate_table(fronts, distortion, cols),
        dominance=dominance_table(fronts, distortion, cols),
        seeds=_seeds(table, distortion, cols),
    )


def _seeds(table: pd.DataFrame, distortion: str, by: tuple[str, ...]) -> pd.DataFrame:
    # With a single seed value no configuration can be repeated over seeds: skip the
    # many-column groupby (seconds on a million rows).
    if "seed" not in table.columns or table["seed"].nunique(dropna=False) < 2:
        return pd.DataFrame()
    return seed_frontier(table, distortion, by)
