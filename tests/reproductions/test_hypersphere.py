"""004 Theorem 1's check on synthetic probe data: collapse above the threshold and on-sphere
means well below it → reproduced; means still on the sphere above it → that claim fails."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from studies.reproductions.checks import hypersphere as H
from studies.reproductions.checks.common import PARTIAL, REPRODUCED
from tests.reproductions.synthetic import row, seeds, table

PAIRS = ((10, 1.5), (37, 3.0))
RATIOS = (0.1, 0.3, 1.0, 3.0)


def _points(radius_at: dict[float, float]) -> pd.DataFrame:
    rows = []
    for d, r in PAIRS:
        thr = H.threshold(d, r)
        for ratio in RATIOS:
            rows += seeds(
                lambda s, j, d=d, r=r, ratio=ratio, thr=thr: row(
                    study=H.STUDY,
                    dataset="hypersphere",
                    sigma_value=ratio * thr,
                    seed=s,
                    rate=1.0,
                    radius_prior=(radius_at[ratio] + j) * r,
                    radius_recon=radius_at[ratio] * r,
                    params={"dataset.dim": d, "dataset.radius": r},
                )
            )
    return table(rows)


def test_threshold_is_r_over_sqrt_d_minus_1() -> None:
    assert H.threshold(10, 1.5) == pytest.approx(0.5)
    assert H.threshold(37, 3.0) == pytest.approx(0.5)


def test_theorem_holds() -> None:
    v = H.verdict(_points({0.1: 0.95, 0.3: 0.7, 1.0: 0.05, 3.0: 0.01}))
    assert v.status == REPRODUCED, [(c.text, c.detail) for c in v.claims]
    assert len(v.claims) == 4
    assert len(v.table) == 8 and set(v.table["σ / threshold"]) == {"0.1", "0.3", "1", "3"}
    assert "D=10" in v.headline


def test_no_collapse_above_the_threshold_fails_that_claim() -> None:
    v = H.verdict(_points({0.1: 0.95, 0.3: 0.9, 1.0: 0.6, 3.0: 0.01}))
    assert v.status == PARTIAL
    above = [c for c in v.claims if "collapse" in c.text]
    assert [c.holds for c in above] == [False, False]
    assert all(c.holds for c in v.claims if "near the sphere" in c.text)


def test_without_probe_columns_nothing_is_claimed_true() -> None:
    points = _points({0.1: 0.95, 0.3: 0.7, 1.0: 0.05, 3.0: 0.01}).drop(
        columns=["radius_prior", "radius_recon"]
    )
    v = H.verdict(points)
    assert all(c.holds is None for c in v.claims)
    assert not math.isnan(len(v.claims))
