"""004 (Berger & Sebag 2020) Table 1: ELBO of F-VAE (fixed σ), LS-VAE (learned scalar σ,
init 1), LV-VAE (learned vector σ(z)) and F*-VAE (σ fixed at LS-VAE's final value) on the
toy 1-D manifold in R² (§4.1), residual MLP 4 × 200, no β (β = 1).

The paper's ordering (§4.2): LV > LS > F(0.1); the best fixed σ is 0.1; F* is below LS
("the dynamics of the learning process matters as much as the actual sharpness"); σ = 1
and σ = 0.01 are the worst. 004's ELBO drops the ½ log 2π per dimension (its eq. 10 is
"up to an additive constant") and adds log σ to F-VAE's for a fair comparison, which our
NLL always keeps; so 004's numbers compare with ours + D/2·log 2π = ours + 1.838 (D = 2).
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
    pm,
    seed_stats,
)

NAME = "toy_table1"
TITLE = "004 Table 1 — fixed vs learned σ on the toy manifold"
STUDY = "repro-004-table1"
FSTAR_STUDY = "repro-004-table1-fstar"
FIXED = (1.0, 0.3, 0.1, 0.03, 0.01)
PAPER_LS_SIGMA = 0.043
CONST = math.log(2.0 * math.pi)  # D/2 · log 2π for D = 2
PAPER = {  # 004 Table 1, mean over 10 runs (± std)
    "F-VAE σ=1": (-1.14, 0.02),
    "F-VAE σ=0.3": (-0.063, 0.03),
    "F-VAE σ=0.1": (0.773, 0.09),
    "F-VAE σ=0.03": (0.141, 0.10),
    "F-VAE σ=0.01": (-0.961, 0.12),
    "LS-VAE": (1.26, 0.09),
    "LV-VAE": (1.62, 0.08),
    "F*-VAE": (0.335, 0.08),
}
ORDER = [*(f"F-VAE σ={s:g}" for s in FIXED), "LS-VAE", "LV-VAE", "F*-VAE"]


def setting(row: pd.Series) -> str | None:
    """004's name for a row's configuration (None: not part of this reproduction)."""
    policy = row["sigma_policy"]
    if row["study"] == FSTAR_STUDY and policy == "fixed":
        return "F*-VAE"
    if row["study"] != STUDY:
        return None
    if policy == "learned_scalar":
        return "LS-VAE"
    if policy == "learned_vector":
        return "LV-VAE"
    if policy == "fixed":
        hit = [s for s in FIXED if math.isclose(float(row["sigma_value"]), s, rel_tol=1e-6)]
        return f"F-VAE σ={hit[0]:g}" if hit else None
    return None


def fstar_sigma(points: pd.DataFrame, split: str = "test") -> float:
    """F*-VAE's σ: LS-VAE's final σ, geometric mean over seeds (NaN without LS rows)."""
    rows = finals(points, split)
    if rows.empty:
        return math.nan
    ls = rows[(rows["study"] == STUDY) & (rows["sigma_policy"] == "learned_scalar")]
    vals = ls["log_sigma_x"].to_numpy(float)
    vals = vals[np.isfinite(vals)]
    return float(math.exp(vals.mean())) if vals.size else math.nan


def _stats(points: pd.DataFrame, split: str) -> pd.DataFrame:
    rows = finals(points, split)
    if rows.empty:
        return pd.DataFrame(columns=["setting", "elbo_mean", "elbo_std", "n_seeds"])
    rows = rows.assign(setting=rows.apply(setting, axis=1)).dropna(subset=["setting"])
    stats = seed_stats(rows, "setting", ["elbo", "log_sigma_x", "rate"])
    stats["order"] = stats["setting"].map(ORDER.index)
    return stats.sort_values("order").set_index("setting")


def _ls_trend(points: pd.DataFrame) -> float:
    """LS-VAE's mean change of log σ over its last 5 epochs (validation rows): < 0 while
    σ is still annealing when training stops."""
    ep = points[
        (points["study"] == STUDY)
        & (points["sigma_policy"] == "learned_scalar")
        & points["epoch"].notna()
        & (points["split"] == "val")
    ]
    if ep.empty:
        return math.nan
    last = ep["epoch"].max()
    a = ep[ep["epoch"] == last]["log_sigma_x"].mean()
    b = ep[ep["epoch"] == max(1, last - 5)]["log_sigma_x"].mean()
    return float(a - b)


def _gt(stats: pd.DataFrame, a: str, b: str, text: str) -> Claim:
    if a not in stats.index or b not in stats.index:
        return Claim(text, None, f"missing runs of {a if a not in stats.index else b}")
    ma, mb = stats.at[a, "elbo_mean"], stats.at[b, "elbo_mean"]
    noise = np.nanmax([stats.at[a, "elbo_std"], stats.at[b, "elbo_std"], 0.0])
    detail = (
        f"{a} {ma:.3f} vs {b} {mb:.3f}: difference {ma - mb:+.3f} nats "
        f"(largest seed std {noise:.3f})"
    )
    return Claim(text, bool(ma > mb), detail)


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    stats = _stats(points, split)
    claims = [
        _gt(stats, "LV-VAE", "LS-VAE", "LV-VAE reaches a higher ELBO than LS-VAE"),
        _gt(stats, "LS-VAE", "F-VAE σ=0.1", "LS-VAE reaches a higher ELBO than F-VAE σ = 0.1"),
    ]
    fixed = [s for s in (f"F-VAE σ={v:g}" for v in FIXED) if s in stats.index]
    if len(fixed) == len(FIXED):
        best = max(fixed, key=lambda s: stats.at[s, "elbo_mean"])
        claims.append(
            Claim(
                "the best fixed σ of {1, 0.3, 0.1, 0.03, 0.01} is 0.1",
                best == "F-VAE σ=0.1",
                f"best fixed setting: {best} ({stats.at[best, 'elbo_mean']:.3f})",
            )
        )
    else:
        claims.append(Claim("the best fixed σ is 0.1", None, "not every fixed σ has runs"))
    claims.append(_gt(stats, "LS-VAE", "F*-VAE", "F*-VAE (σ fixed at LS's final σ) is below LS"))
    if len(stats) == len(ORDER):
        worst = list(stats.sort_values("elbo_mean").index[:2])
        claims.append(
            Claim(
                "σ = 1 and σ = 0.01 are the two worst settings",
                set(worst) == {"F-VAE σ=1", "F-VAE σ=0.01"},
                "two lowest mean ELBOs: "
                + ", ".join(f"{s} ({stats.at[s, 'elbo_mean']:.3f})" for s in worst),
            )
        )
    else:
        claims.append(Claim("σ = 1 and σ = 0.01 are the worst", None, "settings are missing"))
    facts = {
        "ls_sigma": float(math.exp(stats.at["LS-VAE", "log_sigma_x_mean"]))
        if "LS-VAE" in stats.index
        else math.nan,
        "seeds": float(stats["n_seeds"].max()) if len(stats) else 0.0,
        **{f"elbo[{s}]": float(stats.at[s, "elbo_mean"]) + CONST for s in stats.index},
    }
    notes = _notes(points, stats, split) + _noise_notes(stats)
    return Verdict(
        name=NAME,
        title=TITLE,
        table=_table(stats),
        claims=tuple(claims),
        notes=tuple(notes),
        plots=(_plot(stats),),
        facts=facts,
        paper=PAPER_LINE,
        headline=_headline(facts),
    )


PAPER_LINE = (
    "ELBO (10 runs): LV 1.62 > LS 1.26 (σ* = 0.043) > F(σ=0.1) 0.773 > F*(0.043) 0.335; "
    "F(1) −1.14 and F(0.01) −0.961 worst"
)


def _headline(f: dict[str, float]) -> str:
    def e(s: str) -> str:
        return num(f.get(f"elbo[{s}]", math.nan))

    return (
        f"ELBO + log 2π ({f.get('seeds', 0):.0f} seeds): LV {e('LV-VAE')}, LS {e('LS-VAE')} "
        f"(σ = {num(f.get('ls_sigma', math.nan))}), F(0.1) {e('F-VAE σ=0.1')}, "
        f"F* {e('F*-VAE')}, F(1) {e('F-VAE σ=1')}, F(0.01) {e('F-VAE σ=0.01')}"
    )


PAIRS = (("LV-VAE", "LS-VAE"), ("LS-VAE", "F-VAE σ=0.1"), ("LS-VAE", "F*-VAE"))


def _noise_notes(stats: pd.DataFrame) -> list[str]:
    """Pairs the claims compare whose mean difference is under two standard errors of the
    difference (Welch): the seeds cannot order them either way."""
    close = []
    for a, b in PAIRS:
        if a in stats.index and b in stats.index:
            diff = float(stats.at[a, "elbo_mean"] - stats.at[b, "elbo_mean"])
            se = math.sqrt(
                sum(
                    float(np.nan_to_num(stats.at[s, "elbo_std"])) ** 2
                    / float(stats.at[s, "n_seeds"])
                    for s in (a, b)
                )
            )
            if abs(diff) < 2 * se:
                close.append(f"{a} − {b} = {diff:+.3f} nats (2 SE = {2 * se:.3f})")
    if not close:
        return []
    n = int(stats["n_seeds"].min())
    return [
        f"Differences under two standard errors, which {n} seeds cannot order either way: "
        + "; ".join(close)
        + "."
    ]


def _table(stats: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for s, r in stats.iterrows():
        paper = PAPER.get(str(s))
        rows.append(
            {
                "setting": s,
                "final σ": num(math.exp(r["log_sigma_x_mean"])),
                "ELBO (ours, nats)": pm(r["elbo_mean"], r["elbo_std"]),
                "ELBO + log 2π (004's convention)": pm(r["elbo_mean"] + CONST, r["elbo_std"]),
                "004 Table 1": "n/a" if paper is None else f"{paper[0]:.3g} ± {paper[1]:.2g}",
                "seeds": int(r["n_seeds"]),
            }
        )
    return pd.DataFrame(rows)


def _notes(points: pd.DataFrame, stats: pd.DataFrame, split: str) -> list[str]:
    notes = []
    one = "F-VAE σ=1"
    if one in stats.index and stats.at[one, "rate_mean"] < 0.05:
        ours = float(stats.at[one, "elbo_mean"]) + CONST
        if abs(ours - PAPER[one][0]) > 0.3:
            notes.append(
                f"F-VAE σ = 1 encodes nothing (rate {stats.at[one, 'rate_mean']:.3f} nats), so "
                f"its ELBO measures the data's spread around its mean: {ours:.2f} here vs "
                f"{PAPER[one][0]} in 004. 004 does not give its toy curve's exact scale (ours is "
                "(t, sin πt), t ~ U[−1, 1], noise (0.05, 0.01, 0.1)), so absolute ELBOs differ "
                "by construction; the claims compare orderings."
            )
    if "LS-VAE" in stats.index:
        ls = math.exp(stats.at["LS-VAE", "log_sigma_x_mean"])
        trend = _ls_trend(points)
        if ls > 2 * PAPER_LS_SIGMA:
            still = (
                f"; its log σ still moved {trend:+.3f} over the last 5 epochs, so it was "
                "still annealing when training stopped"
                if math.isfinite(trend) and trend < -0.05
                else ""
            )
            notes.append(
                f"LS-VAE's learned σ ended at {ls:.3g}, not 004's {PAPER_LS_SIGMA} (a far "
                f"longer training){still}. F*-VAE inherits that σ, so the F* comparison is "
                f"made at σ = {ls:.3g}."
            )
    return notes


def _plot(stats: pd.DataFrame) -> Plot:
    fixed = [f"F-VAE σ={v:g}" for v in FIXED if f"F-VAE σ={v:g}" in stats.index]
    series = [
        Series(
            "F-VAE (ours, +log 2π)",
            tuple(float(s.split("=")[1]) for s in fixed),
            tuple(float(stats.at[s, "elbo_mean"]) + CONST for s in fixed),
            tuple(float(np.nan_to_num(stats.at[s, "elbo_std"])) for s in fixed),
        ),
        Series(
            "F-VAE (004 Table 1)",
            FIXED,
            tuple(PAPER[f"F-VAE σ={v:g}"][0] for v in FIXED),
            style="s--",
        ),
    ]
    for s in ("LS-VAE", "LV-VAE", "F*-VAE"):
        if s in stats.index:
            series.append(
                Series(
                    f"{s} (ours)",
                    (float(math.exp(stats.at[s, "log_sigma_x_mean"])),),
                    (float(stats.at[s, "elbo_mean"]) + CONST,),
                    (float(np.nan_to_num(stats.at[s, "elbo_std"])),),
                    style="D",
                )
            )
    return Plot(
        title="004 Table 1: ELBO vs σ (learned settings at their final σ)",
        xlabel="σ (final, geometric mean for LV)",
        ylabel="ELBO + log 2π (nats, 004's convention)",
        series=tuple(series),
        logx=True,
        hlines=((PAPER["LS-VAE"][0], "004 LS-VAE"), (PAPER["LV-VAE"][0], "004 LV-VAE")),
    )
