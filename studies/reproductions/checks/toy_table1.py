"""004 (Berger & Sebag 2020) Table 1: ELBO of F-VAE (fixed σ), LS-VAE (learned scalar σ,
init 1), LV-VAE (learned vector σ(z)) and F*-VAE (σ fixed at LS-VAE's final value) on the
toy 1-D manifold in R² (§4.1), residual MLP 4 × 200, no β (β = 1).

The paper's ordering (§4.2): LV > LS > F(0.1); the best fixed σ is 0.1; F* is below LS
("the dynamics of the learning process matters as much as the actual sharpness"); σ = 1
and σ = 0.01 are the worst. 004's ELBO drops the ½ log 2π per dimension (its eq. 10 is
"up to an additive constant") and adds log σ to F-VAE's for a fair comparison, which our
NLL always keeps; so 004's numbers compare with ours + D/2·log 2π = ours + 1.838 (D = 2).

Each claim is a one-sided test over the seeds (:mod:`.stats`, α = 0.05) of the final ELBO
on the test split — a fixed sample of fresh points (``dataset.n_eval``), the same for every
trial: Welch's t for "A is above B"; "the best fixed σ is 0.1" and "σ = 1 and 0.01 are the
worst" are intersection–union tests (F(0.1) above *each* other fixed σ; *every* other
setting above both extremes).
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
    seed_values,
    tested,
)
from studies.reproductions.checks.stats import all_of, weakest, welch

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


def _rows(points: pd.DataFrame, split: str) -> pd.DataFrame:
    """Final rows of ``split`` labelled with 004's setting names (others dropped)."""
    rows = finals(points, split)
    if rows.empty:
        return rows.assign(setting=pd.Series(dtype=object))
    return rows.assign(setting=rows.apply(setting, axis=1)).dropna(subset=["setting"])


def _stats(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=["setting", "elbo_mean", "elbo_std", "n_seeds"])
    stats = seed_stats(rows, "setting", ["elbo", "log_sigma_x", "rate"])
    stats["order"] = stats["setting"].map(ORDER.index)
    return stats.sort_values("order").set_index("setting")


TAIL = 0.2  # "still annealing": the change of log σ over the last 20 % of the epochs
ANNEALING = 0.05  # … by more than this (nats of log σ, ≈ 5 % of σ)


def ls_trend(points: pd.DataFrame) -> float:
    """LS-VAE's mean change of log σ over the last ``TAIL`` of its epochs (validation rows):
    < 0 while σ is still annealing when training stops (004 Fig. 10)."""
    ep = points[
        (points["study"] == STUDY)
        & (points["sigma_policy"] == "learned_scalar")
        & points["epoch"].notna()
        & (points["split"] == "val")
    ]
    if ep.empty:
        return math.nan
    last = int(ep["epoch"].max())
    first = max(1, round(last * (1.0 - TAIL)))
    if first >= last:
        return math.nan
    by_epoch = ep.groupby("epoch")["log_sigma_x"].mean()
    return float(by_epoch.get(last, math.nan) - by_epoch.get(first, math.nan))


def _elbos(rows: pd.DataFrame, name: str) -> np.ndarray:
    return seed_values(rows, "setting", "elbo", name)


def _gt(rows: pd.DataFrame, a: str, b: str, key: str, text: str) -> Claim:
    """H1: mean ELBO of ``a`` > of ``b`` (Welch, one-sided)."""
    r = welch(_elbos(rows, a), _elbos(rows, b))
    if not (r.n[0] and r.n[1]):
        missing = a if not r.n[0] else b
        return Claim(text, None, f"missing runs of {missing}", "no test", key)
    detail = f"{a} − {b} = {r.estimate:+.3f} nats"
    return tested(key, text, r, detail)


def _all_gt(rows: pd.DataFrame, pairs: list[tuple[str, str]], key: str, text: str) -> Claim:
    """Every ``a`` above its ``b`` (intersection–union of one-sided Welch tests)."""
    results = [welch(_elbos(rows, a), _elbos(rows, b)) for a, b in pairs]
    detail = "; ".join(
        f"{a} − {b} = {r.estimate:+.3f} (p {r.p:.2g})"
        for (a, b), r in zip(pairs, results, strict=True)
    )
    return tested(key, text, weakest(results), detail, all_of(results))


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    rows = _rows(points, split)
    stats = _stats(rows)
    present = set(stats.index)
    claims = [
        _gt(rows, "LV-VAE", "LS-VAE", "lv_gt_ls", "LV-VAE reaches a higher ELBO than LS-VAE"),
        _gt(
            rows, "LS-VAE", "F-VAE σ=0.1", "ls_gt_f01",
            "LS-VAE reaches a higher ELBO than F-VAE σ = 0.1",
        ),
    ]  # fmt: skip
    best = "F-VAE σ=0.1"
    others = [f"F-VAE σ={v:g}" for v in FIXED if f"F-VAE σ={v:g}" != best]
    text = "the best fixed σ of {1, 0.3, 0.1, 0.03, 0.01} is 0.1 (above each other fixed σ)"
    if {best, *others} <= present:
        claims.append(_all_gt(rows, [(best, o) for o in others], "best_fixed_01", text))
    else:
        claims.append(Claim(text, None, "not every fixed σ has runs", "no test", "best_fixed_01"))
    claims.append(
        _gt(
            rows,
            "LS-VAE",
            "F*-VAE",
            "fstar_below_ls",
            "F*-VAE (σ fixed at LS's final σ) is below LS",
        )
    )
    extremes = ["F-VAE σ=1", "F-VAE σ=0.01"]
    text = "σ = 1 and σ = 0.01 are the two worst settings (every other setting above both)"
    if present == set(ORDER):
        pairs = [(o, e) for o in ORDER if o not in extremes for e in extremes]
        claims.append(_all_gt(rows, pairs, "extremes_worst", text))
    else:
        claims.append(Claim(text, None, "settings are missing", "no test", "extremes_worst"))
    facts = {
        "ls_sigma": float(math.exp(stats.at["LS-VAE", "log_sigma_x_mean"]))
        if "LS-VAE" in stats.index
        else math.nan,
        "seeds": float(stats["n_seeds"].max()) if len(stats) else 0.0,
        **{f"elbo[{s}]": float(stats.at[s, "elbo_mean"]) + CONST for s in stats.index},
    }
    notes = _notes(points, stats)
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


def _notes(points: pd.DataFrame, stats: pd.DataFrame) -> list[str]:
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
        trend = ls_trend(points)
        moving = math.isfinite(trend) and trend < -ANNEALING
        if moving or ls > 2 * PAPER_LS_SIGMA:
            still = (
                f"; its log σ still moved {trend:+.3f} over the last {TAIL:.0%} of the "
                "epochs, so it was still annealing when training stopped"
                if moving
                else ""
            )
            notes.append(
                f"LS-VAE's learned σ ended at {ls:.3g} (004: {PAPER_LS_SIGMA}){still}. "
                f"F*-VAE inherits that σ, so the F* comparison is made at σ = {ls:.3g}."
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
