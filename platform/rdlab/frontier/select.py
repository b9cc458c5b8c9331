"""Which rows enter a frontier: final rows (``epoch`` null) of one split, status ``ok``.

Per-epoch rows are a training curve, not a result. ``stopped_early`` trials (pruned by the
scheduler) stopped before convergence, so by default they are excluded and the exclusion is
reported in the notes, which the CLI and the report print, so nobody compares frontiers
without knowing what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Selection:
    """The selected rows and human-readable notes on what was left out and why."""

    points: pd.DataFrame
    notes: tuple[str, ...]


def _status_counts(rows: pd.DataFrame, statuses: list[str]) -> str:
    counts = rows["status"].value_counts()
    return ", ".join(f"{int(counts[s])} {s}" for s in statuses if s in counts.index)


def final_points(
    points: pd.DataFrame, split: str | None = "val", include_stopped_early: bool = False
) -> Selection:
    """Final rows of ``split`` (all splits if None) with status ok (and stopped_early if asked)."""
    n = len(points)
    final = np.ones(n, dtype=bool)
    if "epoch" in points.columns:
        final &= points["epoch"].isna().to_numpy(bool)
    if split is not None:
        final &= (points["split"] == split).to_numpy(bool)
    keep = ["ok", "stopped_early"] if include_stopped_early else ["ok"]
    status = points["status"]
    kept = final & status.isin(keep).to_numpy(bool)
    notes = []
    # Count the left-out statuses on the (few) dropped final rows only; one filter of the
    # wide table below, since every filter copies a million rows of JSON strings.
    dropped = [s for s in ("stopped_early", "diverged", "failed") if s not in keep]
    summary = _status_counts(status[final & ~kept].to_frame(), dropped)
    if summary:
        hint = "" if include_stopped_early else " (--include-stopped-early keeps stopped_early)"
        notes.append(f"excluded {summary} row(s){hint}")
    if include_stopped_early:
        n_early = int((status[final] == "stopped_early").sum())
        if n_early:
            notes.append(f"included {n_early} stopped_early row(s)")
    return Selection(points[kept], tuple(notes))


def default_split(points: pd.DataFrame) -> str:
    """The split a study's frontier uses: val if it has final rows, else test, else train."""
    final = points[points["epoch"].isna()] if "epoch" in points.columns else points
    present = set(final["split"].dropna())
    return next((s for s in ("val", "test", "train") if s in present), "val")
