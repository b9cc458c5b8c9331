"""How much of the shared rate range one group's frontier lies below another's.

For frontier curves A and B (see matched.py) over their shared rate range [lo, hi]:
``fraction_a_below`` = |{r : d_A(r) < d_B(r)}| / (hi − lo), and ``mean_gap`` =
(1 / (hi − lo)) ∫ (d_B(r) − d_A(r)) dr, in nats: positive means A reaches lower distortion
at the same rate on average. Both are exact, not sampled: between the merged vertices of the
two curves their difference is linear (``linear``) or constant (``step``). An empty or
single-rate overlap gives NaN.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from rdlab.frontier.matched import Curve, Kind, curve_at, group_curves
from rdlab.frontier.pareto import By


@dataclass(frozen=True)
class Dominance:
    """Comparison of frontier A against frontier B over their shared rate range."""

    a: str
    b: str
    rate_lo: float
    rate_hi: float
    fraction_a_below: float
    fraction_b_below: float
    mean_gap: float  # mean of d_B − d_A over the shared range (nats); > 0: A is lower


def _below_lengths(
    delta0: npt.NDArray[np.float64], delta1: npt.NDArray[np.float64], width: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Length of each segment where a linear function from delta0 to delta1 is negative."""
    both = (delta0 < 0) & (delta1 < 0)
    cross = (delta0 < 0) != (delta1 < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(cross, delta0 / (delta0 - delta1), 0.0)  # where the sign changes
    part = np.where(delta0 < 0, t, 1.0 - t) * width
    return np.where(both, width, np.where(cross, part, 0.0))


def dominance(
    curve_a: Curve, curve_b: Curve, kind: Kind = "linear", a: str = "A", b: str = "B"
) -> Dominance:
    """Exact dominance summary of frontier curve A against B (vertices sorted by rate)."""
    nan = float("nan")
    if curve_a[0].size == 0 or curve_b[0].size == 0:
        return Dominance(a, b, nan, nan, nan, nan, nan)
    lo = max(curve_a[0][0], curve_b[0][0])
    hi = min(curve_a[0][-1], curve_b[0][-1])
    if not hi > lo:
        return Dominance(a, b, float(lo), float(hi), nan, nan, nan)
    xs = np.unique(np.concatenate([curve_a[0], curve_b[0], [lo, hi]]))
    xs = xs[(xs >= lo) & (xs <= hi)]
    delta = curve_at(curve_a, xs, kind) - curve_at(curve_b, xs, kind)  # d_A − d_B
    width = np.diff(xs)
    length = hi - lo
    if kind == "step":  # constant on [x_k, x_{k+1}): its value at the left end
        d0 = d1 = delta[:-1]
    else:
        d0, d1 = delta[:-1], delta[1:]
    below_a = _below_lengths(d0, d1, width).sum() / length
    below_b = _below_lengths(-d0, -d1, width).sum() / length
    gap = float(np.sum(-(d0 + d1) / 2.0 * width) / length)
    return Dominance(a, b, float(lo), float(hi), float(below_a), float(below_b), gap)


def dominance_table(
    points: pd.DataFrame, distortion: str = "nll_opt", by: By = None, kind: Kind = "linear"
) -> pd.DataFrame:
    """One row per unordered pair of groups (A before B in sorted order)."""
    curves = group_curves(points, distortion, by)
    rows = [
        asdict(dominance(curves[a], curves[b], kind, a, b))
        for a, b in itertools.combinations(curves, 2)
    ]
    columns = list(Dominance.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)
