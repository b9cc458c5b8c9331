"""Distortion of each group's frontier at matched rates.

Comparing two σ policies point by point is meaningless when their trials landed at different
rates; comparing their frontiers at the *same* rate is not. Each group's frontier is read as
a curve through its vertices (sorted by rate):

- ``linear`` (default): straight segments between consecutive vertices — the usual RD curve;
- ``step``: the staircase d(r) = min{d_i : r_i ≤ r}, i.e. only what a trial actually reached.

Either way a curve is defined only on its own rate range [r_min, r_max]; outside it the
distortion is NaN (no extrapolation: a group that never reached low rates says nothing there).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from rdlab.frontier.hypervolume import frontier_staircase
from rdlab.frontier.pareto import By, group_codes

Kind = Literal["linear", "step"]
Curve = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def curve_at(curve: Curve, at: npt.ArrayLike, kind: Kind = "linear") -> npt.NDArray[np.float64]:
    """Distortion of a frontier curve (vertices sorted by rate) at rates ``at``."""
    cr, cd = curve
    x = np.asarray(at, dtype=float)
    out = np.full(x.shape, np.nan)
    if cr.size == 0:
        return out
    inside = (x >= cr[0]) & (x <= cr[-1])
    if kind == "linear":
        out[inside] = np.interp(x[inside], cr, cd)
    elif kind == "step":
        out[inside] = cd[np.searchsorted(cr, x[inside], side="right") - 1]
    else:
        raise ValueError(f"kind must be 'linear' or 'step', got {kind!r}")
    return out


def group_curves(
    points: pd.DataFrame, distortion: str = "nll_opt", by: By = None, rate: str = "rate"
) -> dict[str, Curve]:
    """Frontier curve of every group, keyed by group label (groups in sorted order)."""
    codes, labels = group_codes(points, by)
    r = points[rate].to_numpy(float)
    d = points[distortion].to_numpy(float)
    return {
        label: frontier_staircase(r[codes == i], d[codes == i]) for i, label in enumerate(labels)
    }


def rate_grid(curves: dict[str, Curve], n: int = 9) -> npt.NDArray[np.float64]:
    """``n`` evenly spaced rates over the union of the curves' rate ranges."""
    ends = [c[0][[0, -1]] for c in curves.values() if c[0].size]
    if not ends:
        return np.empty(0)
    lo = min(float(e[0]) for e in ends)
    hi = max(float(e[1]) for e in ends)
    return np.linspace(lo, hi, n) if hi > lo else np.array([lo])


def matched_rate_table(
    points: pd.DataFrame,
    distortion: str = "nll_opt",
    by: By = None,
    rates: npt.ArrayLike | None = None,
    n: int = 9,
    kind: Kind = "linear",
) -> pd.DataFrame:
    """Rows = rates, columns = groups, values = the group's frontier distortion at that rate.

    NaN where a rate lies outside a group's frontier rate range.
    """
    curves = group_curves(points, distortion, by)
    grid = rate_grid(curves, n) if rates is None else np.asarray(rates, dtype=float)
    table = pd.DataFrame({g: curve_at(c, grid, kind) for g, c in curves.items()}, index=grid)
    table.index.name = "rate"
    table.columns.name = "group"
    return table
