"""000 (Kim & Lee, BS-VAE) Fig. 3: over β ∈ {0.01, 0.1, 1, 10, 100}, the RD curve of BS-VAE
(per-sample optimal σ_i² = mean_d (x_id − μ_id)², β kept separate) lies below the curves of
constant-σ β-VAEs, whatever σ² they are read with.

In Fig. 3 the constant-variance β-VAE is ONE model per β, trained with MSE + β·KL (i.e.
fixed σ² = ½ and weight β on the rate), and *read* three ways — "the constant variance can
be interpreted in various ways": with the optimal σ² (the lower bound on its distortion)
and with two common σ², ½ and β/2 (MSE + β·KL is, up to the factor β, the ELBO at σ² = β/2
with weight 1). So the σ² = β/2 curve is no separate training run: it is the σ² = ½ trials
with their distortion read as the Gaussian NLL at σ² = β/2,

    NLL_{β/2} = mse/β + D/2 · log(πβ)          (DESIGN §2's NLL, σ² = β/2)

(:func:`nll_read_at`; D is recovered exactly from the trial's own NLL at its fixed σ,
:func:`dim_from_fixed_nll`). The other curves use ``nll_opt`` (DESIGN §2: one shared
σ*² = mse/D fitted on the split), the fair cross-policy distortion: BS-VAE, the σ² = ½
β-VAE read at its optimal σ², and ``optimal_global`` (a calibrated decoder trained with
σ² = the batch's mean squared error, 003 eq. 10 — a different model, kept for reference).
A reading at σ² = β/2 (or at σ² = ½, the trial's own ``nll``) can never beat the same
model's optimal reading, so those readings sit on or above the σ² = ½ curve by
construction; the comparison with BS-VAE is what Fig. 3 claims.

Curves are frontiers through the seed means of each configuration; the comparison over the
shared rate range uses :mod:`rdlab.frontier` (matched-rate table, exact dominance). "Lies
below" is decided by a bootstrap over seeds (:mod:`.stats`): every configuration's seeds
are resampled, both curves redrawn through the resampled means, and the mean gap between
them over their shared rate range recomputed; the claim holds when the one-sided 95 % lower
bound of that gap is above 0 and the measured curve is below on at least 90 % of the range.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rdlab.frontier.dominance import dominance
from rdlab.frontier.hypervolume import hypervolume_by_group
from rdlab.frontier.matched import Curve, group_curves, matched_rate_table

from studies.reproductions.checks.common import (
    Claim,
    Plot,
    Series,
    Verdict,
    curve_of,
    finals,
    labelled,
    num,
    pm,
    seed_arrays,
    seed_stats,
    tested,
)
from studies.reproductions.checks.stats import TestResult, bootstrap

NAME = "bsvae"
TITLE = "000 BS-VAE — RD curve below constant-σ β-VAEs"
STUDY_PREFIX = "repro-000-bsvae"
BS = "BS-VAE (σ² per sample)"
HALF = "β-VAE σ²=½"
BETA_HALF = "β-VAE σ²=β/2"
GLOBAL = "β-VAE σ*² per batch"
CONSTANT = (HALF, BETA_HALF, GLOBAL)
KEYS = {HALF: "vs_half", BETA_HALF: "vs_beta_half", GLOBAL: "vs_global"}  # claim keys
BELOW = 0.9  # "lies below": over at least 90 % of the shared rate range, mean gap > 0


def settings(row: pd.Series) -> list[str]:
    """The curves a trial belongs to: a constant-variance β-VAE (fixed σ² = ½) is both the
    σ² = ½ curve and, read at σ² = β/2, the σ² = β/2 curve; a fixed σ trained at any other
    value belongs to no curve of Fig. 3."""
    policy = row["sigma_policy"]
    if policy == "optimal_sample":
        return [BS]
    if policy == "optimal_global":
        return [GLOBAL]
    if policy == "fixed" and math.isclose(float(row["sigma_value"]) ** 2, 0.5, rel_tol=1e-3):
        return [HALF, BETA_HALF]
    return []


def dim_from_fixed_nll(nll: float, mse: float, sigma2: float) -> int:
    """D from a fixed-σ trial's own NLL: nll = mse/(2σ²) + D/2 · log(2πσ²) (DESIGN §2)."""
    return round(2.0 * (nll - mse / (2.0 * sigma2)) / math.log(2.0 * math.pi * sigma2))


def nll_read_at(mse: float, dim: int, sigma2: float) -> float:
    """The Gaussian NLL (nats per example, every constant kept) of a model whose summed
    squared error is ``mse``, read with the constant variance σ²."""
    return mse / (2.0 * sigma2) + 0.5 * dim * math.log(2.0 * math.pi * sigma2)


def distortion(row: pd.Series) -> float:
    """``nll_opt``, except on the σ² = β/2 curve: the NLL of the same trial read at β/2."""
    if row["setting"] != BETA_HALF:
        return float(row["nll_opt"])
    s2 = float(row["sigma_value"]) ** 2
    dim = dim_from_fixed_nll(float(row["nll"]), float(row["mse"]), s2)
    return nll_read_at(float(row["mse"]), dim, float(row["beta"]) / 2.0)


def trial_rows(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """One row per (trial, curve it belongs to) with its ``setting`` and ``distortion``."""
    rows = finals(points, split)
    rows = rows[rows["study"].str.startswith(STUDY_PREFIX)]
    if rows.empty:
        return pd.DataFrame()
    rows = labelled(rows, settings)
    if rows.empty:
        return pd.DataFrame()
    return rows.assign(distortion=rows.apply(distortion, axis=1))


def seed_means(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    rows = trial_rows(points, split)
    if rows.empty:
        return pd.DataFrame()
    return seed_stats(
        rows, ["dataset", "setting", "beta"], ["rate", "distortion", "nll_opt", "mse"]
    )


def _curves_frame(stats: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": stats["setting"],
            "rate": stats["rate_mean"],
            "distortion": stats["distortion_mean"],
        }
    )


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    trials = trial_rows(points, split)
    stats = seed_means(points, split)
    claims: list[Claim] = []
    extra: list[tuple[str, pd.DataFrame]] = []
    plots: list[Plot] = []
    facts: dict[str, float] = {}
    notes: list[str] = []
    if stats.empty:
        claims.append(Claim("BS-VAE's RD curve lies below the constant-σ curves", None, "no runs"))
    for ds, g in stats.groupby("dataset", sort=True) if not stats.empty else []:
        frame = _curves_frame(g)
        curves = group_curves(frame, "distortion", by="group")
        dom_rows = []
        configs = seed_arrays(
            trials[trials["dataset"] == ds], ["setting", "beta"], ["rate", "distortion"]
        )
        for other in CONSTANT:
            claim, row = _compare(str(ds), curves, other, configs)
            claims.append(claim)
            facts[f"{ds}:gap[{other}]"] = float(str(row.pop("gap")))
            facts[f"{ds}:below[{other}]"] = float(str(row.pop("below")))
            dom_rows.append(row)
        extra.append(
            (f"{ds}: dominance of BS-VAE over each constant-σ curve", pd.DataFrame(dom_rows))
        )
        notes += _sparse_notes(str(ds), curves, [c for c in claims if c.text.startswith(ds)])
        matched = matched_rate_table(frame, "distortion", by="group", n=9)
        extra.append(
            (f"{ds}: distortion (nats) of each frontier at matched rates", _fmt_matched(matched))
        )
        hv = hypervolume_by_group(frame, "distortion", by="group")
        extra.append(
            (
                f"{ds}: hypervolume (shared reference point; larger is better)",
                pd.DataFrame(
                    {
                        "curve": hv["group"],
                        "hypervolume": hv["hypervolume"].map(num),
                        "points": hv["n_points"],
                        "on frontier": hv["n_frontier"],
                    }
                ),
            )
        )
        plots.append(_plot(str(ds), g))
    return Verdict(
        NAME,
        TITLE,
        _table(stats),
        tuple(claims),
        plots=tuple(plots),
        extra_tables=tuple(extra),
        notes=tuple(notes),
        facts=facts,
        paper="Fig. 3 (CelebA, MNIST): BS-VAE's RD curve lies below constant-σ² β-VAEs "
        "read with σ² = ½, σ² = β/2 or the optimal σ² (curves only, no numbers in the text)",
        headline=_headline(facts),
    )


SPARSE = 0.25  # a gap between frontier vertices wider than this share of the rate range


def _sparse_notes(ds: str, curves: dict[str, Curve], claims: list[Claim]) -> list[str]:
    """Where a comparison failed, say how much of it rests on interpolation between the few
    vertices (one per β) of each frontier."""
    if all(c.holds is not False for c in claims) or not curves:
        return []
    lo = min(float(c[0][0]) for c in curves.values() if c[0].size)
    hi = max(float(c[0][-1]) for c in curves.values() if c[0].size)
    span = hi - lo if hi > lo else 1.0
    wide = {g: float(np.diff(c[0]).max()) / span for g, c in curves.items() if c[0].size > 1}
    if max(wide.values(), default=0.0) <= SPARSE:
        return []
    vertices = "; ".join(
        f"{g}: " + ", ".join(f"{r:.2g}" for r in curves[g][0]) for g in sorted(curves)
    )
    return [
        f"{ds}: each frontier has one vertex per β (5 β), and between vertices it is a straight "
        f"line. The widest gap between a curve's vertices spans "
        f"{max(wide.values()):.0%} of the rate range, so much of each comparison is between "
        f"interpolated segments, not measured points. Vertex rates (nats) — {vertices}. A "
        "denser β grid (or the multi-rate VAE's curve) would settle the comparison there."
    ]


def _headline(facts: dict[str, float]) -> str:
    parts = []
    for key, gap in facts.items():
        if key.endswith("]") and ":gap[" in key:
            ds, other = key.split(":gap[")
            frac = facts.get(f"{ds}:below[{other[:-1]}]", math.nan)
            below = f"{frac:.0%}" if math.isfinite(frac) else "n/a"
            parts.append(
                f"{ds}, vs {other[:-1]}: below on {below} of shared rates, mean gap {num(gap)} nats"
            )
    return "; ".join(parts) or "no data"


def gap_test(configs: dict[tuple[object, ...], np.ndarray], other: str) -> TestResult:
    """Bootstrap over seeds of the mean gap (nats, > 0: BS-VAE lower) between BS-VAE's
    seed-mean frontier and ``other``'s; ``configs``: (setting, β) → [seeds, (rate, d)]."""
    groups = {f"{k[0]}|{k[1]}": v for k, v in configs.items() if k[0] in (BS, other) and len(v)}

    def gap(g: dict[str, np.ndarray]) -> float:
        a = curve_of([v for k, v in g.items() if k.startswith(BS + "|")])
        b = curve_of([v for k, v in g.items() if k.startswith(other + "|")])
        return dominance(a, b).mean_gap

    return bootstrap(gap, groups)


def _compare(
    ds: str,
    curves: dict[str, Curve],
    other: str,
    configs: dict[tuple[object, ...], np.ndarray],
) -> tuple[Claim, dict[str, object]]:
    text = f"{ds}: BS-VAE's curve lies below {other}'s over the shared rate range"
    key = f"{ds}:{KEYS[other]}"
    if BS not in curves or other not in curves:
        missing = BS if BS not in curves else other
        empty = {"versus": other, "gap": math.nan, "below": math.nan}
        return Claim(text, None, f"no runs of {missing}", "no test", key), empty
    d = dominance(curves[BS], curves[other], a=BS, b=other)
    row: dict[str, object] = {
        "versus": other,
        "shared rates (nats)": f"[{num(d.rate_lo)}, {num(d.rate_hi)}]",
        "BS-VAE below (fraction)": num(d.fraction_a_below),
        "other below (fraction)": num(d.fraction_b_below),
        "mean gap (nats, > 0: BS-VAE lower)": num(d.mean_gap),
        "gap": d.mean_gap,
        "below": d.fraction_a_below,
    }
    if not math.isfinite(d.fraction_a_below):
        shared = f"[{d.rate_lo:.3g}, {d.rate_hi:.3g}]"
        return Claim(text, None, f"the curves share no rate range ({shared})", "no test", key), row
    test = gap_test(configs, other)
    holds = None if test.holds is None else bool(test.holds and d.fraction_a_below >= BELOW)
    row["gap lower bound (95 %)"] = num(test.bound)
    detail = (
        f"below on {d.fraction_a_below:.0%} of rates [{d.rate_lo:.3g}, {d.rate_hi:.3g}] nats "
        f"(needs ≥ {BELOW:.0%}), mean gap {d.mean_gap:+.3g} nats (> 0: BS-VAE lower)"
    )
    return tested(key, text, test, detail, holds), row


def _fmt_matched(table: pd.DataFrame) -> pd.DataFrame:
    out = table.map(num)
    out.insert(0, "rate (nats)", [num(r) for r in table.index])
    return out.reset_index(drop=True)


def _table(stats: pd.DataFrame) -> pd.DataFrame:
    if stats.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "dataset": stats["dataset"],
            "setting": stats["setting"],
            "β": stats["beta"].map(lambda b: f"{b:g}"),
            "rate (nats)": [
                pm(m, s) for m, s in zip(stats["rate_mean"], stats["rate_std"], strict=True)
            ],
            "distortion (nats)": [
                pm(m, s)
                for m, s in zip(stats["distortion_mean"], stats["distortion_std"], strict=True)
            ],
            "read at": [
                "σ² = β/2" if st == BETA_HALF else "nll_opt (σ*² = mse/D)"
                for st in stats["setting"]
            ],
            "seeds": stats["n_seeds"].astype(int),
        }
    )


def _plot(ds: str, g: pd.DataFrame) -> Plot:
    series = []
    for setting in (BS, *CONSTANT):
        s = g[g["setting"] == setting].sort_values("rate_mean")
        if s.empty:
            continue
        series.append(
            Series(
                setting,
                tuple(s["rate_mean"]),
                tuple(s["distortion_mean"]),
                labels=tuple(f"β={b:g}" for b in s["beta"]),
                style="o-" if setting == BS else "s--",
            )
        )
    return Plot(
        title=f"000 Fig. 3 at CPU scale ({ds}): rate vs distortion, seed means",
        xlabel="rate (nats)",
        ylabel="distortion (nats): nll_opt; σ²=β/2 curve: NLL read at β/2",
        series=tuple(series),
    )
