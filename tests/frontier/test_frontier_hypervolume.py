"""Hypervolume: exact on a hand-built set, and equal to an independent brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdlab.frontier.hypervolume import (
    frontier_staircase,
    hypervolume,
    hypervolume_by_group,
    reference_point,
)

NAN = math.nan


def test_hand_built_value() -> None:
    r = [1.0, 2.0, 2.0, 2.0, 3.0, 4.0, NAN, 6.0]
    d = [10.0, 5.0, 5.0, 6.0, 5.0, 1.0, 0.0, 0.5]  # duplicate, ties, NaN, outside the box
    # Staircase (1,10) (2,5) (4,1) against (5, 12): 1·2 + 2·7 + 1·11.
    assert hypervolume(r, d, (5.0, 12.0)) == 27.0


def test_points_outside_the_box_add_nothing() -> None:
    assert hypervolume([6.0, 1.0], [1.0, 13.0], (5.0, 12.0)) == 0.0
    assert hypervolume([], [], (1.0, 1.0)) == 0.0


def test_staircase_vertices() -> None:
    r, d = frontier_staircase([3.0, 1.0, 1.0, 2.0], [1.0, 4.0, 4.0, 5.0])
    assert r.tolist() == [1.0, 3.0] and d.tolist() == [4.0, 1.0]


def test_reference_point_default_margin() -> None:
    assert reference_point([0.0, 10.0], [-5.0, 5.0]) == (11.0, 6.0)
    assert reference_point([2.0], [-3.0]) == (2.2, -2.7)  # zero range: 10% of |max|
    with pytest.raises(ValueError, match="no finite points"):
        reference_point([NAN], [NAN])


def test_by_group_shares_one_reference() -> None:
    t = pd.DataFrame(
        {"rate": [0.0, 1.0, 0.0], "nll_opt": [1.0, 0.0, 2.0], "sigma_policy": ["a", "a", "b"]}
    )
    hv = hypervolume_by_group(t, "nll_opt", "sigma_policy", reference=(2.0, 3.0))
    assert hv["group"].tolist() == ["a", "b"]
    assert hv["hypervolume"].tolist() == [1.0 * 2 + 1.0 * 3, 2.0 * 1]
    assert hv["n_frontier"].tolist() == [2, 1]
    auto = hypervolume_by_group(t, "nll_opt", "sigma_policy")
    assert auto["ref_rate"].nunique() == 1 and auto["ref_rate"].iloc[0] == pytest.approx(1.1)


def brute_force_area(r: np.ndarray, d: np.ndarray, ref: tuple[float, float]) -> float:
    """Union of rectangles [r_i, r_ref] × [d_i, d_ref] by coordinate compression."""
    keep = np.isfinite(r) & np.isfinite(d) & (r < ref[0]) & (d < ref[1])
    r, d = r[keep], d[keep]
    xs = np.unique(np.append(r, ref[0]))
    ys = np.unique(np.append(d, ref[1]))
    area = 0.0
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            if np.any((r <= x0) & (d <= y0)):  # cell lies inside some rectangle
                area += (x1 - x0) * (y1 - y0)
    return area


finite = st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), max_size=25), st.floats(0.0, 1.0))
def test_matches_brute_force(points: list[tuple[float, float]], margin: float) -> None:
    r = np.array([p[0] for p in points], dtype=float)
    d = np.array([p[1] for p in points], dtype=float)
    ref = reference_point(r, d, margin) if points else (1.0, 1.0)
    assert hypervolume(r, d, ref) == pytest.approx(brute_force_area(r, d, ref), abs=1e-9)


def test_seeded_random_sets_with_a_lower_reference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        r, d = rng.integers(0, 20, 40).astype(float), rng.normal(size=40).round(1)
        ref = (12.0, 0.5)  # cuts through the cloud: points outside must be ignored
        assert hypervolume(r, d, ref) == pytest.approx(brute_force_area(r, d, ref))
