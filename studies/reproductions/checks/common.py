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
from rdlab.frontier.matched import Curve
from rdlab.frontier.select import final_points

from studies.reproductions.checks.stats import TestResult

REPRODUCED = "reproduced"
PARTIAL = "partially reproduced"
NOT_REPRODUCED = "not reproduced"
NO_DATA = "no data"


ENCODES_NOTHING = 0.1  # nats: a model whose rate is below this encodes (almost) nothing


@dataclass(frozen=True)
class Claim:
    """One claim of the paper as tested here; ``holds`` is None when the data cannot say.

    ``test`` names the test that decided it and its p-value or interval
    (:mod:`~studies.reproductions.checks.stats`); ``key`` identifies the claim across
    reports (the previous verdicts are stored by key); a claim that holds by construction
    is shown with ``counted=False`` and left out of the verdict.
    """

    text: str
    holds: bool | None
    detail: str
    test: str = ""
    key: str = ""
    counted: bool = True

    @property
    def mark(self) -> str:
        mark = {True: "yes", False: "no", None: "n/a"}[self.holds]
        return mark if self.counted else f"{mark} (not counted)"


def tested(
    key: str, text: str, result: TestResult | None, detail: str, holds: bool | None = None
) -> Claim:
    """A claim decided by ``result`` (or by ``holds`` when several tests decide it, the
    result shown being the deciding one)."""
    decided = (result.holds if result is not None else None) if holds is None else holds
    return Claim(text, decided, detail, result.summary() if result else "no test", key)


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
    def counted(self) -> tuple[Claim, ...]:
        """The claims the verdict rests on (those true by construction are left out)."""
        return tuple(c for c in self.claims if c.counted)

    @property
    def held(self) -> int:
        return sum(c.holds is True for c in self.counted)

    @property
    def status(self) -> str:
        if not self.counted:
            return NO_DATA
        held = [c.holds is True for c in self.counted]
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


def seed_values(rows: pd.DataFrame, column: str, metric: str, value: object) -> np.ndarray:
    """The per-seed values of ``metric`` in the rows whose ``column`` equals ``value``."""
    return rows.loc[rows[column] == value, metric].to_numpy(float)


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


def interp_at(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, at: float, logx: bool = True
) -> float:
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


# ----------------------------------------------------------------------------- curves
def seed_arrays(
    rows: pd.DataFrame, by: Sequence[str], columns: Sequence[str]
) -> dict[tuple[object, ...], np.ndarray]:
    """Per configuration (the ``by`` values): its seeds' ``columns`` as an array [seeds, C],
    the unit a bootstrap over seeds resamples."""
    return {
        tuple(k) if isinstance(k, tuple) else (k,): g[list(columns)].to_numpy(float)
        for k, g in rows.groupby(list(by), sort=True, dropna=False)
    }


def curve_of(configs: Sequence[np.ndarray]) -> Curve:
    """The RD frontier through the seed means of configurations given as [seeds, 2] arrays
    of (rate, distortion), as the seed-mean curves of the report are drawn."""
    if not configs:
        return np.empty(0), np.empty(0)
    means = np.array([c.mean(axis=0) for c in configs])
    return staircase(means[:, 0], means[:, 1])


def staircase(rate: np.ndarray, distortion: np.ndarray) -> Curve:
    """:func:`rdlab.frontier.hypervolume.frontier_staircase` for the handful of points a
    curve has here, in plain numpy: a bootstrap redraws each curve thousands of times, and
    the general version's grouped pandas pass costs ~0.5 ms a call."""
    ok = np.isfinite(rate) & np.isfinite(distortion)
    r, d = rate[ok], distortion[ok]
    order = np.lexsort((d, r))  # by rate, ties by distortion
    r, d = r[order], d[order]
    if r.size == 0:
        return r, d
    before = np.concatenate([[np.inf], np.minimum.accumulate(d)[:-1]])
    keep = d < before  # strictly below every point of lower (or equal) rate
    return r[keep], d[keep]


def staircase_hypervolume(curve: Curve, reference: tuple[float, float]) -> float:
    """:func:`rdlab.frontier.hypervolume.hypervolume` of a staircase (:func:`staircase`),
    the area it dominates inside the box bounded by ``reference``."""
    r, d = curve
    inside = (r < reference[0]) & (d < reference[1])
    r, d = staircase(r[inside], d[inside])
    if r.size == 0:
        return 0.0
    widths = np.diff(np.append(r, reference[0]))
    return float(np.sum(widths * (reference[1] - d)))
