"""The frontier table: selected points + group label + overall and per-group frontier flags.

``on_frontier`` is the frontier over all groups together (which configurations are best,
whatever their σ policy); ``on_group_frontier`` is the frontier within the row's ``--by``
group (the best each policy can do).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rdlab.frontier.pareto import By, group_codes, pareto_mask

if TYPE_CHECKING:
    from rdlab.frontier.analysis import Analysis

PRINT_COLUMNS = ("group", "trial_id", "beta", "sigma_policy", "rate")


def effective_beta(points: pd.DataFrame) -> pd.Series:
    """β the point was evaluated at: ``beta_eval`` for multi-rate rows, else ``beta``."""
    if "beta_eval" in points.columns:
        return points["beta_eval"].fillna(points["beta"])
    return points["beta"]


def frontier_table(
    points: pd.DataFrame, distortion: str = "nll_opt", by: By = None
) -> pd.DataFrame:
    """``points`` (same row order) plus group, on_frontier and on_group_frontier.

    Rows are not re-sorted: moving a million rows of JSON strings costs seconds, and readers
    sort the few rows they show (see ``format_frontier``).
    """
    r = points["rate"].to_numpy(float)
    d = points[distortion].to_numpy(float)
    codes, labels = group_codes(points, by)
    return points.assign(
        group=pd.Series(np.asarray(labels, dtype=object)[codes], index=points.index, dtype="str"),
        on_frontier=pareto_mask(r, d),
        on_group_frontier=pareto_mask(r, d, codes),
    )


def unranked_note(points: pd.DataFrame, distortion: str) -> str | None:
    """A note counting rows whose rate or distortion is missing/non-finite (never on a front)."""
    bad = ~(
        np.isfinite(points["rate"].to_numpy(float))
        & np.isfinite(points[distortion].to_numpy(float))
    )
    n = int(bad.sum())
    return (
        f"{n} row(s) with a missing or non-finite rate/{distortion} are not ranked" if n else None
    )


def _fmt(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None or value is pd.NA else str(value)


def format_table(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """A compact, aligned plain-text table (numbers right-aligned, text left-aligned)."""
    cells = [[_fmt(v) for v in frame[c].tolist()] for c in columns]
    widths = [max([len(c), *map(len, col)]) for c, col in zip(columns, cells, strict=True)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rows = [line(list(columns)), line(["-" * w for w in widths])]
    rows.extend(line(row) for row in zip(*cells, strict=True))
    return "\n".join(rows)


def format_frontier(
    table: pd.DataFrame, distortion: str, show_all: bool = False, limit: int = 200
) -> str:
    """Frontier rows (overall or per group) sorted by rate, or every row with ``show_all``."""
    cols = [*PRINT_COLUMNS, distortion, "on_frontier", "on_group_frontier"]
    shown = table if show_all else table[table["on_frontier"] | table["on_group_frontier"]]
    needed = [c for c in dict.fromkeys([*cols, "beta_eval"]) if c in shown.columns]
    view = shown[needed]  # project first: sorting wide rows of JSON strings is slow
    view = view.assign(beta=effective_beta(view)).sort_values(["rate", distortion], kind="stable")
    text = format_table(view.head(limit), cols)
    if len(view) > limit:
        text += f"\n… {len(view) - limit} more row(s) not shown"
    return text


def seed_summary(seeds: pd.DataFrame, distortion: str) -> pd.DataFrame:
    """Seed-aggregated configurations on their group's frontier (empty without repeats)."""
    if seeds.empty or int(seeds["n_seeds"].max()) < 2:
        return pd.DataFrame()
    cols = ["sigma_policy", "beta", "kl_g", "kl_i", "n_seeds", "rate_mean", "rate_std",
            f"{distortion}_mean", f"{distortion}_std"]  # fmt: skip
    front = seeds[seeds["on_frontier"].to_numpy(bool)]
    return front[[c for c in cols if c in front.columns]]


def summary_text(a: Analysis) -> str:
    """The printed summary of an analysis: frontier, hypervolume, dominance, seeds, notes."""
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
