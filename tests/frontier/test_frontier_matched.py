"""Matched-rate interpolation and the dominance summary, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rdlab.frontier.dominance import dominance, dominance_table
from rdlab.frontier.matched import curve_at, group_curves, matched_rate_table


def curve(*pts: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def test_linear_and_step_inside_the_range_only() -> None:
    c = curve((1.0, 10.0), (3.0, 4.0), (5.0, 2.0))
    at = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    lin = curve_at(c, at, "linear")
    step = curve_at(c, at, "step")
    assert np.isnan(lin[[0, -1]]).all() and np.isnan(step[[0, -1]]).all()
    assert lin[1:-1].tolist() == [10.0, 7.0, 4.0, 3.0, 2.0]
    assert step[1:-1].tolist() == [10.0, 10.0, 4.0, 4.0, 2.0]
    with pytest.raises(ValueError, match="kind"):
        curve_at(c, at, "cubic")  # type: ignore[arg-type]


def test_single_point_curve_is_defined_only_at_its_rate() -> None:
    c = curve((2.0, 3.0))
    assert curve_at(c, [2.0], "linear").tolist() == [3.0]
    assert np.isnan(curve_at(c, [1.9, 2.1], "linear")).all()
    assert np.isnan(curve_at(curve(), [1.0])).all()


def two_groups() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sigma_policy": ["a", "a", "a", "b", "b"],
            "rate": [0.0, 10.0, 5.0, 2.0, 8.0],
            "nll_opt": [10.0, 0.0, 9.0, 6.0, 2.0],  # (5, 9) is on a's frontier too
        }
    )


def test_group_curves_keep_only_frontier_vertices() -> None:
    curves = group_curves(two_groups(), "nll_opt", "sigma_policy")
    assert curves["a"][0].tolist() == [0.0, 5.0, 10.0]
    assert curves["b"][0].tolist() == [2.0, 8.0]


def test_matched_rate_table() -> None:
    t = two_groups()
    table = matched_rate_table(t, "nll_opt", "sigma_policy", rates=[0.0, 5.0, 8.0, 10.0])
    assert table.columns.tolist() == ["a", "b"]
    assert table["a"].tolist() == pytest.approx([10.0, 9.0, 3.6, 0.0])
    assert math.isnan(table["b"].iloc[0]) and table["b"].iloc[1] == pytest.approx(4.0)
    assert table["b"].iloc[2] == 2.0 and math.isnan(table["b"].iloc[3])
    default = matched_rate_table(t, "nll_opt", "sigma_policy", n=5)
    assert default.index.tolist() == [0.0, 2.5, 5.0, 7.5, 10.0]


def test_dominance_crossing_lines() -> None:
    a = curve((0.0, 10.0), (10.0, 0.0))
    b = curve((0.0, 5.0), (10.0, 5.0))
    res = dominance(a, b)
    assert (res.rate_lo, res.rate_hi) == (0.0, 10.0)
    assert res.fraction_a_below == pytest.approx(0.5)
    assert res.fraction_b_below == pytest.approx(0.5)
    assert res.mean_gap == pytest.approx(0.0)
    lower = dominance(a, curve((0.0, 4.0), (10.0, 4.0)))
    assert lower.fraction_a_below == pytest.approx(0.4)  # A < 4 where r > 6
    assert lower.mean_gap == pytest.approx(-1.0)  # mean of 4 − (10 − r) over [0, 10]


def test_dominance_partial_overlap_and_step() -> None:
    a = curve((0.0, 10.0), (10.0, 0.0))
    b = curve((2.0, 6.0), (8.0, 2.0))  # d_A − d_B = (8 − r)/3 ≥ 0 on [2, 8]
    res = dominance(a, b)
    assert (res.rate_lo, res.rate_hi) == (2.0, 8.0)
    assert res.fraction_a_below == 0.0
    assert res.fraction_b_below == pytest.approx(1.0)
    assert res.mean_gap == pytest.approx(-1.0)
    step = dominance(a, curve((0.0, 5.0), (10.0, 5.0)), kind="step")
    assert step.fraction_a_below == 0.0 and step.mean_gap == pytest.approx(-5.0)


def test_dominance_without_overlap_is_nan() -> None:
    res = dominance(curve((0.0, 1.0), (1.0, 0.0)), curve((2.0, 1.0), (3.0, 0.0)))
    assert math.isnan(res.fraction_a_below) and math.isnan(res.mean_gap)
    assert math.isnan(dominance(curve(), curve((1.0, 1.0))).mean_gap)


def test_dominance_table_pairs() -> None:
    t = pd.DataFrame(
        {
            "sigma_policy": ["a", "a", "b", "b", "c"],
            "rate": [0.0, 10.0, 2.0, 8.0, 50.0],
            "nll_opt": [10.0, 0.0, 6.0, 2.0, 1.0],
        }
    )
    table = dominance_table(t, "nll_opt", "sigma_policy")
    assert list(zip(table["a"], table["b"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert table["mean_gap"].iloc[0] == pytest.approx(-1.0)
    assert table["fraction_a_below"].iloc[1:].isna().all()
