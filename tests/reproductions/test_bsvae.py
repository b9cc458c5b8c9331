"""000 BS-VAE's check on synthetic RD curves: BS-VAE below every constant-σ curve →
reproduced; BS-VAE above one of them → that comparison fails."""

from __future__ import annotations

import math

import pandas as pd

from studies.reproductions.checks import bsvae as B
from studies.reproductions.checks.common import PARTIAL, REPRODUCED
from tests.reproductions.synthetic import row, seeds, table

BETAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def _curve(beta: float, shift: float) -> tuple[float, float]:
    """A convex RD curve: rate falls with β, distortion rises; ``shift`` moves it up."""
    rate = 20.0 / (1.0 + 3.0 * math.log10(beta) + 6.0) + 0.5
    return rate, 30.0 / rate + shift


def _points(shifts: dict[str, float]) -> pd.DataFrame:
    rows = []
    for beta in BETAS:
        configs = [
            ("optimal_sample", math.nan, B.BS),
            ("fixed", 0.7071, B.HALF),
            ("fixed", math.sqrt(beta / 2), B.BETA_HALF),
            ("optimal_global", math.nan, B.GLOBAL),
        ]
        for policy, value, name in configs:
            if name == B.BETA_HALF and beta == 1.0:
                continue  # the same run as σ² = ½ (the spec lists it once)
            rate, dist = _curve(beta, shifts[name])
            rows += seeds(
                lambda s, j, policy=policy, value=value, beta=beta, rate=rate, dist=dist: row(
                    study="repro-000-bsvae-digits",
                    sigma_policy=policy,
                    sigma_value=value,
                    beta=beta,
                    seed=s,
                    rate=rate,
                    nll_opt=dist + j,
                    mse=1.0,
                )
            )
    return table(rows)


def test_settings_assign_beta_one_to_both_constant_curves() -> None:
    r = row(sigma_policy="fixed", sigma_value=0.7071, beta=1.0)
    assert B.settings(pd.Series(r)) == [B.HALF, B.BETA_HALF]
    assert B.settings(pd.Series(row(sigma_policy="fixed", sigma_value=0.2236, beta=0.1))) == [
        B.BETA_HALF
    ]


def test_bs_below_every_curve_is_reproduced() -> None:
    v = B.verdict(_points({B.BS: 0.0, B.HALF: 2.0, B.BETA_HALF: 1.0, B.GLOBAL: 0.5}))
    assert v.status == REPRODUCED, [(c.text, c.detail) for c in v.claims]
    assert len(v.claims) == 3
    captions = [c for c, _ in v.extra_tables]
    assert any("matched rates" in c for c in captions) and any("dominance" in c for c in captions)
    assert v.facts["digits:gap[β-VAE σ²=½]"] > 0
    assert not v.notes


def test_bs_above_one_curve_fails_that_comparison() -> None:
    v = B.verdict(_points({B.BS: 0.0, B.HALF: 2.0, B.BETA_HALF: 1.0, B.GLOBAL: -0.5}))
    assert v.status == PARTIAL
    failed = [c for c in v.claims if c.holds is False]
    assert len(failed) == 1 and B.GLOBAL in failed[0].text
    assert any("interpolated" in n for n in v.notes)  # 5 far-apart vertices per curve
