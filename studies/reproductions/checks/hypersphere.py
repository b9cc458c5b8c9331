"""004 (Berger & Sebag 2020) Theorem 1, §3.1 eq. 6–9: data uniform on the sphere
S^{D−1}(R); a VAE with fixed σ ≥ R/√(D−1) is best off with its decoder means μ_x at the
centre (r = 0 is the global maximum of p_θ(x)), so they collapse; well below that
threshold the optimal radius r tends to R, and the means pave the sphere.

Measured (probe on each trial's checkpoint, test split): the mean norm of the decoder means
for prior draws z ~ N(0, I) — the generative model's components, the theorem's μ — and for
reconstructions z = μ_z(x), both relative to R. "Collapse" is read as ‖μ_x‖ < 0.2 R and
"near the sphere" as ‖μ_x‖ > 0.8 R; "well below" the threshold as σ ≤ 0.15 × threshold.
Each (D, R, σ) is tested over its seeds with a one-sided one-sample t test of the mean
ratio against the bound (:mod:`.stats`, α = 0.05); a claim over several σ needs every one
(intersection–union).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from studies.reproductions.checks.common import (
    Claim,
    Plot,
    Series,
    Verdict,
    finals,
    num,
    param,
    pm,
    seed_stats,
    tested,
)
from studies.reproductions.checks.stats import TestResult, all_of, one_sample, weakest

NAME = "hypersphere"
TITLE = "004 Theorem 1 — decoder means collapse above σ = R/√(D−1)"
STUDY = "repro-004-hypersphere"
COLLAPSED = 0.2  # ‖μ_x‖/R below this: collapsed toward the centre ("≪ R")
ON_SPHERE = 0.8  # ‖μ_x‖/R above this: near the sphere
WELL_BELOW = 0.15  # σ / threshold at or below this: "well below" the threshold


def threshold(dim: float, radius: float) -> float:
    """004 Theorem 1: r = 0 is the global optimum iff σ ≥ R/√(D−1)."""
    return radius / math.sqrt(dim - 1.0)


def ratios(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """One row per trial: D, R, σ and ‖μ_x‖/R for prior draws and reconstructions."""
    rows = finals(points, split)
    rows = rows[rows["study"] == STUDY]
    if rows.empty or "radius_prior" not in rows.columns:
        return pd.DataFrame()
    dim = param(rows, "dataset.dim").astype(float)
    radius = param(rows, "dataset.radius").astype(float)
    return rows.assign(
        D=dim,
        R=radius,
        sigma=rows["sigma_value"].astype(float),
        prior_ratio=rows["radius_prior"].astype(float) / radius,
        recon_ratio=rows["radius_recon"].astype(float) / radius,
    )


def measured(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per (D, R, σ): seed means and stds of the radius ratios and the rate, and the
    one-sided test of the prior-draw ratio against the bound its σ calls for."""
    rows = ratios(points, split)
    if rows.empty:
        return pd.DataFrame()
    stats = seed_stats(rows, ["D", "R", "sigma"], ["prior_ratio", "recon_ratio", "rate"])
    stats["threshold"] = [threshold(d, r) for d, r in zip(stats["D"], stats["R"], strict=True)]
    stats["ratio"] = stats["sigma"] / stats["threshold"]
    stats["test"] = [
        _test(rows[(rows["D"] == d) & (rows["R"] == r) & (rows["sigma"] == s)], x)
        for d, r, s, x in zip(stats["D"], stats["R"], stats["sigma"], stats["ratio"], strict=True)
    ]
    return stats.sort_values(["D", "R", "sigma"], ignore_index=True)


def _test(trials: pd.DataFrame, ratio: float) -> TestResult | None:
    """Above the threshold H1 is "collapsed" (mean ratio < COLLAPSED), well below it "on
    the sphere" (> ON_SPHERE); in between nothing is claimed."""
    values = trials["prior_ratio"].to_numpy(float)
    if ratio >= 1.0 - 1e-9:
        return one_sample(values, COLLAPSED, "less")
    if ratio <= WELL_BELOW + 1e-9:
        return one_sample(values, ON_SPHERE, "greater")
    return None


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    stats = measured(points, split)
    claims: list[Claim] = []
    plots: list[Series] = []
    if stats.empty:
        claims.append(Claim("decoder means collapse above the threshold", None, "no probe data"))
    for (d, r), g in stats.groupby(["D", "R"], sort=True) if not stats.empty else []:
        pair = f"D = {d:g}, R = {r:g} (threshold σ = {threshold(d, r):.3g})"
        above = g[g["ratio"] >= 1.0 - 1e-9]
        below = g[g["ratio"] <= WELL_BELOW + 1e-9]
        key = f"D{d:g}_R{r:g}"
        claims.append(_claim_above(pair, key, above))
        claims.append(_claim_below(pair, key, below))
        plots.append(
            Series(
                f"D={d:g}, R={r:g}: prior draws",
                tuple(g["ratio"]),
                tuple(g["prior_ratio_mean"]),
                tuple(np.nan_to_num(g["prior_ratio_std"].to_numpy(float))),
            )
        )
        plots.append(
            Series(
                f"D={d:g}, R={r:g}: reconstructions",
                tuple(g["ratio"]),
                tuple(g["recon_ratio_mean"]),
                style="x:",
            )
        )
    plot = Plot(
        title="Mean ‖μ_x‖ / R against σ / (R/√(D−1))",
        xlabel="σ / threshold",
        ylabel="mean ‖μ_x‖ / R",
        series=tuple(plots),
        logx=True,
        hlines=((COLLAPSED, "collapse bound"), (ON_SPHERE, "on-sphere bound")),
        vlines=((1.0, "threshold"),),
    )
    return Verdict(
        NAME,
        TITLE,
        _table(stats),
        tuple(claims),
        plots=(plot,),
        paper="Theorem 1: for σ ≥ R/√(D−1) the optimal decoder means sit at the centre "
        "(r = 0); for R ≫ σ√(D−1) the optimal r tends to R",
        headline=_headline(stats),
    )


def _headline(stats: pd.DataFrame) -> str:
    if stats.empty:
        return "no data"
    parts = []
    for (d, r), g in stats.groupby(["D", "R"], sort=True):
        vals = ", ".join(f"{m:.2f}" for m in g["prior_ratio_mean"])
        ratios = "/".join(f"{x:.2g}" for x in g["ratio"])
        parts.append(f"D={d:g}, R={r:g}: ‖μ_x‖/R = {vals} at σ/thr = {ratios}")
    return "; ".join(parts)


def _claim(key: str, text: str, rows: pd.DataFrame, missing: str) -> Claim:
    if rows.empty:
        return Claim(text, None, missing, "no test", key)
    results: list[TestResult] = [t for t in rows["test"] if t is not None]
    detail = "‖μ_x‖/R = " + ", ".join(
        f"{m:.3f} at σ/thr {x:.3g}"
        for x, m in zip(rows["ratio"], rows["prior_ratio_mean"], strict=True)
    )
    return tested(key, text, weakest(results), detail, all_of(results))


def _claim_above(pair: str, key: str, above: pd.DataFrame) -> Claim:
    text = f"{pair}: at σ ≥ threshold the decoder means collapse (‖μ_x‖ < {COLLAPSED} R)"
    return _claim(f"{key}_collapse", text, above, "no σ at or above the threshold was run")


def _claim_below(pair: str, key: str, below: pd.DataFrame) -> Claim:
    text = f"{pair}: well below the threshold the means lie near the sphere (> {ON_SPHERE} R)"
    return _claim(f"{key}_sphere", text, below, f"no σ ≤ {WELL_BELOW} × threshold was run")


def _table(stats: pd.DataFrame) -> pd.DataFrame:
    if stats.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "D": stats["D"].map(lambda v: f"{v:g}"),
            "R": stats["R"].map(lambda v: f"{v:g}"),
            "σ": stats["sigma"].map(num),
            "σ / threshold": stats["ratio"].map(num),
            "‖μ_x‖/R, prior draws": [
                pm(m, s)
                for m, s in zip(stats["prior_ratio_mean"], stats["prior_ratio_std"], strict=True)
            ],
            "‖μ_x‖/R, reconstructions": [
                pm(m, s)
                for m, s in zip(stats["recon_ratio_mean"], stats["recon_ratio_std"], strict=True)
            ],
            "rate (nats)": [
                pm(m, s) for m, s in zip(stats["rate_mean"], stats["rate_std"], strict=True)
            ],
            "H1 (one-sample t)": [_h1(t) for t in stats["test"]],
            "seeds": stats["n_seeds"].astype(int),
        }
    )


def _h1(t: TestResult | None) -> str:
    if t is None:
        return "–"
    rel = "<" if t.side == "less" else ">"
    return f"{rel} {t.threshold:g}: p = {t.p:.2g}"
