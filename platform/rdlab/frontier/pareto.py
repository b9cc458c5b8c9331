"""Pareto frontier of RD points: minimise rate and a distortion, per group, vectorised.

A point is on the frontier iff no other point is at least as good on both axes and strictly
better on one (weak Pareto dominance). Consequences, chosen on purpose and tested:

- exact duplicates (same rate and distortion) do not dominate each other, so *all copies*
  of a frontier point are on the frontier: the answer does not depend on row order, and a
  configuration reached by two trials keeps both trial ids;
- ties on one axis: at equal rate only the lowest distortion survives, at equal distortion
  only the lowest rate;
- rows with a non-finite rate or distortion (NaN from a diverged metric, ±inf) are never on
  the frontier and never dominate anything.

One stable lexsort by (group, rate, distortion) and a per-group running minimum make it
O(n log n): a million rows take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

By = str | Sequence[str] | None
ALL_GROUP = "all"


def _grouped_exclusive_cummin(values: np.ndarray, new_group: np.ndarray) -> np.ndarray:
    """Minimum of the values strictly before each position within its (contiguous) group."""
    running = pd.Series(values).groupby(np.cumsum(new_group)).cummin().to_numpy()
    before = np.empty_like(running)
    before[0] = np.inf
    before[1:] = running[:-1]
    before[new_group] = np.inf
    return before


def _sort_order(r: np.ndarray, codes: np.ndarray | None, idx: np.ndarray) -> np.ndarray:
    # Sort by rate, then stably by group: an unstable float sort plus a radix sort on small
    # integer codes is ~5x faster than a three-key lexsort on a million rows.
    order = idx[np.argsort(r[idx])]
    if codes is None:
        return order
    small = codes[order].astype(np.min_scalar_type(int(codes.max(initial=0))))
    return order[np.argsort(small, kind="stable")]


def pareto_mask(
    rate: npt.ArrayLike, distortion: npt.ArrayLike, groups: npt.ArrayLike | None = None
) -> npt.NDArray[np.bool_]:
    """True where a point is on the frontier of its group (minimising both axes).

    ``groups`` holds one label per point (integer codes are fastest); None means one group.
    """
    r = np.asarray(rate, dtype=float)
    d = np.asarray(distortion, dtype=float)
    codes = None if groups is None else pd.factorize(np.asarray(groups), sort=True)[0]
    out = np.zeros(r.shape, dtype=bool)
    idx = np.flatnonzero(np.isfinite(r) & np.isfinite(d))
    if idx.size == 0:
        return out
    order = _sort_order(r, codes, idx)
    rs, ds = r[order], d[order]
    new_group = np.zeros(order.size, dtype=bool)
    new_group[0] = True
    if codes is not None:
        gs = codes[order]
        new_group[1:] = gs[1:] != gs[:-1]
    # A run = points of one group at one rate; only its lowest distortion can survive.
    new_run = new_group | np.r_[True, rs[1:] != rs[:-1]]
    starts = np.flatnonzero(new_run)
    run_min = np.minimum.reduceat(ds, starts)
    # Every point of an earlier run has a strictly lower rate: if one of them has distortion
    # <= this run's minimum, it dominates the whole run.
    run_on = run_min < _grouped_exclusive_cummin(run_min, new_group[starts])
    run_of = np.cumsum(new_run) - 1
    out[order] = run_on[run_of] & (ds == run_min[run_of])  # duplicates of the min all stay
    return out


def by_columns(by: By) -> list[str]:
    """``"a"`` / ``["a", "b"]`` / None → list of group columns (empty: one overall group)."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _label(value: object) -> str:
    return "none" if pd.isna(value) else str(value)  # type: ignore[call-overload]


def group_codes(points: pd.DataFrame, by: By) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Integer group code per row and the label of each code (``a / b`` for several columns).

    Nulls form their own group (labelled ``none``), e.g. ``sigma_value`` of learned policies.
    """
    cols = by_columns(by)
    if not cols:
        return np.zeros(len(points), dtype=np.int64), [ALL_GROUP]
    grouped = points.groupby(cols, dropna=False, sort=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().index
    labels = [
        " / ".join(_label(v) for v in (key if isinstance(key, tuple) else (key,))) for key in keys
    ]
    return codes, labels


def pareto_flags(
    points: pd.DataFrame, distortion: str = "nll_opt", by: By = None, rate: str = "rate"
) -> pd.Series:
    """Boolean Series: is each row on the frontier of its ``by`` group (overall if None)?"""
    codes, _ = group_codes(points, by)
    mask = pareto_mask(points[rate].to_numpy(float), points[distortion].to_numpy(float), codes)
    return pd.Series(mask, index=points.index, name="on_frontier")


def frontier_points(
    points: pd.DataFrame, distortion: str = "nll_opt", by: By = None, rate: str = "rate"
) -> pd.DataFrame:
    """The frontier rows, sorted by group then rate (then distortion and trial id if present)."""
    front = points.loc[pareto_flags(points, distortion, by, rate).to_numpy()]
    order = [*by_columns(by), rate, distortion]
    if "trial_id" in front.columns:
        order.append("trial_id")
    return front.sort_values(order, kind="stable")
