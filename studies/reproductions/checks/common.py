"""What every reproduction check returns, and the small table helpers they share.

A :class:`Verdict` holds the measured table, each claim of the paper evaluated True/False
(or None: not evaluable from the data, which counts as not reproduced) with the numbers that
decided it, computed notes on why a claim fails at this scale, and the series a plot shows.
Nothing here draws or writes: :mod:`studies.reproductions.report` renders a Verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rdlab.frontier.select import final_points

REPRODUCED = "reproduced"
PARTIAL = "partially reproduced"
NOT_REPRODUCED = "not reproduced"
NO_DATA = "no data"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper as tested here; ``holds`` is None when the data cannot say."""

    text: str
    holds: bool | None
    detail: str

    @property
    def mark(self) -> str:
        return {True: "yes", False: "no", None: "n/a"}[self.holds]


@dataclass(frozen=True)
class Series:
    """One line or point set of a plot: x, y (same length), optional error bars and labels."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    yerr: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None  # one annotation per point (e.g. β)
    style: str = "o-"  # matplotlib format string


@dataclass(frozen=True)
class Plot:
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    logx: bool = False
    hlines: tuple[tuple[float, str], ...] = ()  # (y, label) reference lines
    vlines: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Verdict:
    name: str
    title: str
    table: pd.DataFrame  # display-ready: strings or numbers, one row per setting
    claims: tuple[Claim, ...]
    notes: tuple[str, ...] = ()
    plots: tuple[Plot, ...] = ()
    extra_tables: tuple[tuple[str, pd.DataFrame], ...] = ()  # (caption, table)
    facts: dict[str, float] = field(default_factory=dict)  # key numbers, for tests and summaries
    paper: str = ""  # what the paper reports, one line (its numbers where it gives them)
    headline: str = ""  # what we measured, one line, beside ``paper`` in the README summary

    @property
    def status(self) -> str:
        if not self.claims:
            return NO_DATA
        held = [c.holds is True for c in self.claims]
        if all(held):
            return REPRODUCED
        return PARTIAL if any(held) else NOT_REPRODUCED


# ----------------------------------------------------------------------------- selection
def finals(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Final ``ok`` rows of ``split`` (``val`` when the table has no ``split`` rows)."""
    if points.empty or "split" not in points.columns:
        return points.iloc[0:0]
    rows = final_points(points, split=split).points
    if rows.empty and split != "val":
        rows = final_points(points, split="val").points
    return rows


def param(points: pd.DataFrame, key: str) -> pd.Series:
    """One flattened config value per row (``dataset.dim`` …) from the ``params`` JSON."""

    def get(text: object) -> object:
        if not isinstance(text, str):
            return None
        return json.loads(text).get(key)

    return points["params"].map(get)


def seed_stats(rows: pd.DataFrame, by: str | Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group: ``<m>_mean``, ``<m>_std`` (ddof 1; NaN for one seed) and ``n_seeds``."""
    keys = [by] if isinstance(by, str) else list(by)
    g = rows.groupby(keys, dropna=False, sort=True)
    out = g[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["n_seeds"] = g.size()
    return out.reset_index()


def pm(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` (just ``mean`` when std is NaN)."""
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {std:.2g}"


def num(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def labelled(rows: pd.DataFrame, labeller: Callable[[pd.Series], list[str]]) -> pd.DataFrame:
    """Rows with a ``setting`` column; a row with several labels is repeated once per label
    (e.g. fixed σ² = ½ at β = 1 is also σ² = β/2), a row with none is dropped."""
    parts = []
    for _, row in rows.iterrows():
        for lab in labeller(row):
            parts.append({**row.to_dict(), "setting": lab})
    return pd.DataFrame(parts)


def interp_at(x: Sequence[float], y: Sequence[float], at: float, logx: bool = True) -> float:
    """y at ``at`` by linear interpolation through (x, y) sorted by x; NaN outside the range."""
    xs = np.asarray(x, float)
    ys = np.asarray(y, float)
    ok = np.isfinite(xs) & np.isfinite(ys) & ((xs > 0) if logx else True)
    xs, ys = xs[ok], ys[ok]
    if xs.size == 0 or not math.isfinite(at) or (logx and at <= 0):
        return math.nan
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    tx, t = (np.log(xs), math.log(at)) if logx else (xs, at)
    if t < tx[0] or t > tx[-1]:
        return math.nan
    return float(np.interp(t, tx, ys))
