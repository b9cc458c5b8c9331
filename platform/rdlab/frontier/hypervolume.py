"""2-D hypervolume (dominated area) of an RD point set, both axes minimised.

HV(P, ref) = area of ∪_{p ∈ P} [r_p, r_ref] × [d_p, d_ref]: the part of the box below the
reference point that the set dominates. Larger is better. Along the frontier sorted by rate
(distortion then strictly decreasing) the union is a staircase, so
HV = Σ_i (r_{i+1} − r_i)(d_ref − d_i) with r_{n+1} = r_ref.
Points outside the box (r ≥ r_ref or d ≥ d_ref) contribute nothing; non-finite are ignored.
Comparing groups needs one shared reference point: ``reference_point`` computes it over all
of the data being compared.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from rdlab.frontier.pareto import By, group_codes, pareto_mask

DEFAULT_MARGIN = 0.1


def reference_point(
    rate: npt.ArrayLike, distortion: npt.ArrayLike, margin: float = DEFAULT_MARGIN
) -> tuple[float, float]:
    """Max of each axis plus ``margin`` × its range (× max(|max|, 1) when the range is 0).

    The margin keeps the worst points from contributing zero area.
    """
    out = []
    for axis in (np.asarray(rate, float), np.asarray(distortion, float)):
        finite = axis[np.isfinite(axis)]
        if finite.size == 0:
            raise ValueError("no finite points to place a reference point")
        hi, lo = float(finite.max()), float(finite.min())
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        out.append(hi + margin * span)
    return out[0], out[1]


def frontier_staircase(
    rate: npt.ArrayLike, distortion: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The distinct frontier vertices sorted by increasing rate (distortion decreasing)."""
    r = np.asarray(rate, float)
    d = np.asarray(distortion, float)
    on = pareto_mask(r, d)
    pairs = np.unique(np.column_stack([r[on], d[on]]), axis=0)  # sorted by rate; dedupes
    return pairs[:, 0], pairs[:, 1]


def hypervolume(
    rate: npt.ArrayLike, distortion: npt.ArrayLike, reference: tuple[float, float]
) -> float:
    """Area dominated by the points inside the box bounded by ``reference``."""
    r_ref, d_ref = reference
    r = np.asarray(rate, float)
    d = np.asarray(distortion, float)
    inside = np.isfinite(r) & np.isfinite(d) & (r < r_ref) & (d < d_ref)
    fr, fd = frontier_staircase(r[inside], d[inside])
    if fr.size == 0:
        return 0.0
    widths = np.diff(np.append(fr, r_ref))
    return float(np.sum(widths * (d_ref - fd)))


def hypervolume_by_group(
    points: pd.DataFrame,
    distortion: str = "nll_opt",
    by: By = None,
    reference: tuple[float, float] | None = None,
    margin: float = DEFAULT_MARGIN,
    rate: str = "rate",
) -> pd.DataFrame:
    """One row per group: hypervolume against one shared reference, point and frontier counts.

    The reference defaults to ``reference_point`` over all rows, so groups compare.
    """
    r = points[rate].to_numpy(float)
    d = points[distortion].to_numpy(float)
    ref = reference if reference is not None else reference_point(r, d, margin)
    codes, labels = group_codes(points, by)
    on = pareto_mask(r, d, codes)
    counts = np.bincount(codes, minlength=len(labels))
    fronts = np.bincount(codes[on], minlength=len(labels))
    # Only frontier points can add area, so each group's hypervolume uses those few.
    fc, fr, fd = codes[on], r[on], d[on]
    return pd.DataFrame(
        {
            "group": labels,
            "hypervolume": [hypervolume(fr[fc == i], fd[fc == i], ref) for i in range(len(labels))],
            "n_points": counts,
            "n_frontier": fronts,
            "ref_rate": ref[0],
            "ref_distortion": ref[1],
        }
    )
