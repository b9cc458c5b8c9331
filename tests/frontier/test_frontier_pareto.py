"""Pareto frontier: a hand-built table with a known answer, and brute force on random sets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from rdlab.frontier.pareto import frontier_points, group_codes, pareto_flags, pareto_mask

INF, NAN = math.inf, math.nan

# (id, group, rate, distortion, on group frontier, on overall frontier)
HAND = [
    ("a1", "A", 1.0, 10.0, True, True),
    ("a2", "A", 2.0, 5.0, True, True),
    ("a3", "A", 2.0, 5.0, True, True),  # exact duplicate of a2: all copies stay
    ("a4", "A", 2.0, 6.0, False, False),  # same rate, worse distortion
    ("a5", "A", 3.0, 5.0, False, False),  # same distortion, higher rate
    ("a6", "A", 4.0, 1.0, True, True),
    ("a7", "A", NAN, 0.0, False, False),  # NaN rate: never ranked
    ("a8", "A", 5.0, NAN, False, False),
    ("a9", "A", 0.5, INF, False, False),  # non-finite distortion
    ("b1", "B", 10.0, 100.0, True, False),  # single-point group: its own frontier
    ("c1", "C", NAN, NAN, False, False),  # group with nothing rankable
    ("d1", "D", 1.0, 10.0, True, True),  # duplicate of a1 across groups
]


def hand_table() -> pd.DataFrame:
    cols = ["trial_id", "sigma_policy", "rate", "nll_opt", "group_front", "overall_front"]
    return pd.DataFrame(HAND, columns=cols)


def test_hand_built_group_frontier() -> None:
    t = hand_table()
    flags = pareto_flags(t, "nll_opt", by="sigma_policy")
    assert flags.tolist() == t["group_front"].tolist()


def test_hand_built_overall_frontier() -> None:
    t = hand_table()
    assert pareto_flags(t, "nll_opt").tolist() == t["overall_front"].tolist()


def test_result_does_not_depend_on_row_order() -> None:
    t = hand_table()
    shuffled = t.sample(frac=1.0, random_state=7)
    flags = pareto_flags(shuffled, "nll_opt", by="sigma_policy")
    assert flags.sort_index().tolist() == t["group_front"].tolist()


def test_frontier_points_sorted_by_group_then_rate() -> None:
    front = frontier_points(hand_table(), "nll_opt", by="sigma_policy")
    assert front["trial_id"].tolist() == ["a1", "a2", "a3", "a6", "b1", "d1"]


def test_empty_and_all_nan() -> None:
    assert pareto_mask([], []).tolist() == []
    assert pareto_mask([NAN, 1.0], [1.0, NAN]).tolist() == [False, False]


def test_group_codes_label_nulls_and_several_columns() -> None:
    t = pd.DataFrame({"p": ["x", "y", "x", None], "v": [0.1, None, 0.1, 0.2]})
    codes, labels = group_codes(t, ["p", "v"])
    assert [labels[c] for c in codes] == ["x / 0.1", "y / none", "x / 0.1", "none / 0.2"]
    assert group_codes(t, None)[1] == ["all"]


def brute_force(r: np.ndarray, d: np.ndarray, g: np.ndarray) -> list[bool]:
    out = []
    for i in range(len(r)):
        if not (np.isfinite(r[i]) and np.isfinite(d[i])):
            out.append(False)
            continue
        dominated = any(
            g[j] == g[i]
            and np.isfinite(r[j])
            and np.isfinite(d[j])
            and r[j] <= r[i]
            and d[j] <= d[i]
            and (r[j] < r[i] or d[j] < d[i])
            for j in range(len(r))
        )
        out.append(not dominated)
    return out


# Small integer coordinates make ties and duplicates common; NaN mixed in.
coord = st.one_of(st.integers(0, 5).map(float), st.just(NAN))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(coord, coord, st.integers(0, 2)), max_size=30))
def test_matches_brute_force(points: list[tuple[float, float, int]]) -> None:
    r = np.array([p[0] for p in points], dtype=float)
    d = np.array([p[1] for p in points], dtype=float)
    g = np.array([p[2] for p in points], dtype=np.int64)
    assert pareto_mask(r, d, g).tolist() == brute_force(r, d, g)
    assert pareto_mask(r, d).tolist() == brute_force(r, d, np.zeros_like(g))


def test_million_rows_is_vectorised() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    r, d = rng.random(n), rng.random(n)
    mask = pareto_mask(r, d, rng.integers(0, 5, n))
    assert 0 < mask.sum() < 500  # a random cloud has a tiny frontier per group
