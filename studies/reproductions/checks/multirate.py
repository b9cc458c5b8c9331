"""Multi-rate VAE (Bae et al., ICLR 2023; seed 001) against the swept β-VAE frontier.

One MR-VAE trial (``multirate_mlp``: the residual MLP with β-gated pre-activations, log β ~
U[log 0.01, log 10] per batch) is evaluated at 9 log-spaced β and gives a whole RD curve;
the swept frontier needs one β-VAE trial (``mlp_resnet``, same architecture, same σ policy,
same epochs) per β. Bae et al.'s claim: the single MR-VAE run traces a curve as good as
the sweep's, at the cost of about one run. Measured: hypervolume of each curve (seed means,
one shared reference point; larger is better), dominance over the shared rate range, and
the compute each spent in trial-epochs and training seconds (per seed).

An MR-VAE trained for the sweep's *total* epochs, when the spec has one, is reported too:
it separates "one network for all β" from "less training".

"Competitive" is tested by a bootstrap over seeds (:mod:`.stats`, one-sided, α = 0.05) of
the hypervolume ratio MR-VAE / sweep: each sweep β's seeds and MR-VAE's trials (a whole
curve each) resampled, both curves redrawn through the resampled means, the ratio recomputed
against the measured curves' shared reference point; H1: ratio > 0.95. That one MR-VAE
trial costs one trial is true by construction (it *is* one trial of the same length): it is
shown, not counted.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rdlab.frontier.dominance import dominance
from rdlab.frontier.hypervolume import hypervolume_by_group
from rdlab.frontier.matched import group_curves

from studies.reproductions.checks.common import (
    Claim,
    Plot,
    Series,
    Verdict,
    curve_of,
    finals,
    num,
    param,
    pm,
    seed_stats,
    staircase,
    staircase_hypervolume,
    tested,
)
from studies.reproductions.checks.stats import TestResult, bootstrap

NAME = "multirate"
TITLE = "Multi-rate VAE (Bae et al. 2023) — one trial vs the swept β-VAE frontier"
STUDY = "repro-001-multirate"
SWEEP = "β-VAE sweep"
COMPETITIVE = 0.95  # MR-VAE's hypervolume ≥ 95 % of the sweep's


def _group(row: pd.Series) -> str:
    if row["model"] == "multirate_mlp":
        return f"MR-VAE ({int(row['epochs'])} epochs)"
    return SWEEP


def measured(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Seed means per (curve, β) with compute columns; β is ``beta_eval`` for MR rows."""
    rows = finals(points, split)
    rows = rows[rows["study"] == STUDY]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(epochs=param(rows, "train.epochs").astype(float))
    beta = rows["beta_eval"].fillna(rows["beta"]) if "beta_eval" in rows else rows["beta"]
    rows = rows.assign(group=rows.apply(_group, axis=1), b=beta)
    return seed_stats(rows, ["group", "b"], ["rate", "nll_opt"]).sort_values(
        ["group", "b"], ignore_index=True
    )


def compute(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per curve and seed-averaged: trials, trial-epochs and training seconds for one curve."""
    rows = finals(points, split)
    rows = rows[rows["study"] == STUDY]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(epochs=param(rows, "train.epochs").astype(float))
    rows = rows.assign(group=rows.apply(_group, axis=1))
    trials = rows.drop_duplicates("trial_id")
    g = trials.groupby("group")
    seeds = g["seed"].nunique()
    return pd.DataFrame(
        {
            "trials per curve": g.size() / seeds,
            "trial-epochs per curve": g["epochs"].sum() / seeds,
            "training s per curve": g["wall_s"].sum() / seeds,
            "seeds": seeds,
        }
    )


def _trial_rows(points: pd.DataFrame, split: str) -> pd.DataFrame:
    rows = finals(points, split)
    rows = rows[rows["study"] == STUDY]
    if rows.empty:
        return rows
    rows = rows.assign(epochs=param(rows, "train.epochs").astype(float))
    beta = rows["beta_eval"].fillna(rows["beta"]) if "beta_eval" in rows else rows["beta"]
    return rows.assign(group=rows.apply(_group, axis=1), b=beta)


def hv_ratio_test(rows: pd.DataFrame, group: str, reference: tuple[float, float]) -> TestResult:
    """Bootstrap over seeds of HV(``group``) / HV(sweep) at a fixed reference point. The
    sweep's seeds are resampled per β; an MR-VAE's per trial (its whole curve at once)."""
    groups: dict[str, np.ndarray] = {}
    for b, g in rows[rows["group"] == SWEEP].groupby("b"):
        groups[f"s|{b}"] = g[["rate", "nll_opt"]].to_numpy(float)
    mr = rows[rows["group"] == group].sort_values(["trial_id", "b"])
    curves = [g[["rate", "nll_opt"]].to_numpy(float).ravel() for _, g in mr.groupby("trial_id")]
    if curves and len({c.size for c in curves}) == 1:
        groups["mr"] = np.stack(curves)  # [trials, β × (rate, nll_opt)]

    def ratio(g: dict[str, np.ndarray]) -> float:
        if "mr" not in g:
            return math.nan
        sweep = curve_of([v for k, v in g.items() if k.startswith("s|")])
        mr_means = g["mr"].mean(axis=0).reshape(-1, 2)
        hv_s = staircase_hypervolume(sweep, reference)
        hv_m = staircase_hypervolume(staircase(mr_means[:, 0], mr_means[:, 1]), reference)
        return hv_m / hv_s if hv_s > 0 else math.nan

    return bootstrap(ratio, groups, threshold=COMPETITIVE)


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    rows = _trial_rows(points, split)
    stats = measured(points, split)
    cost = compute(points, split)
    if stats.empty or SWEEP not in set(stats["group"]):
        none = Claim("MR-VAE's curve is as good as the sweep's", None, "no sweep or MR runs")
        return Verdict(NAME, TITLE, pd.DataFrame(), (none,))
    frame = pd.DataFrame(
        {"group": stats["group"], "rate": stats["rate_mean"], "nll_opt": stats["nll_opt_mean"]}
    )
    hv_table = hypervolume_by_group(frame, "nll_opt", by="group")
    hv = hv_table.set_index("group")["hypervolume"]
    reference = (float(hv_table["ref_rate"].iloc[0]), float(hv_table["ref_distortion"].iloc[0]))
    curves = group_curves(frame, "nll_opt", by="group")
    claims, dom_rows = [], []
    mr_groups = sorted((g for g in curves if g != SWEEP), key=_epochs)
    for i, g in enumerate(mr_groups):
        d = dominance(curves[g], curves[SWEEP], a=g, b=SWEEP)
        dom_rows.append(
            {
                "curve": g,
                "shared rates (nats)": f"[{num(d.rate_lo)}, {num(d.rate_hi)}]",
                "MR below sweep (fraction)": num(d.fraction_a_below),
                "mean gap (nats, > 0: MR lower)": num(d.mean_gap),
            }
        )
        ratio = hv[g] / hv[SWEEP] if hv[SWEEP] > 0 else math.nan
        test = hv_ratio_test(rows, g, reference)
        detail = f"hypervolume {hv[g]:.4g} vs sweep {hv[SWEEP]:.4g} (ratio {ratio:.3f})"
        if i == 0:  # the equal-budget MR-VAE: Bae et al.'s setting
            text = f"{g} reaches ≥ {COMPETITIVE:.0%} of the swept frontier's hypervolume"
            claims.append(tested("hv_one_trial", text, test, detail))
            claims.append(_cost_claim(cost, g))
        else:
            text = f"{g} (the sweep's total budget) reaches ≥ {COMPETITIVE:.0%} of it too"
            claims.append(tested("hv_sweep_budget", text, test, detail))
    table = _table(hv, cost)
    notes = _range_notes(stats)
    extra = (
        ("dominance of each MR-VAE curve over the sweep", pd.DataFrame(dom_rows)),
        ("RD points (seed means)", _points_table(stats)),
    )
    facts = {f"hv[{g}]": float(v) for g, v in hv.items()}
    return Verdict(
        NAME,
        TITLE,
        table,
        tuple(claims),
        plots=(_plot(stats),),
        extra_tables=extra,
        notes=tuple(notes),
        facts=facts,
        paper="Bae et al. 2023: one MR-VAE training run gives an RD curve competitive with "
        "separately trained β-VAEs (β ∈ [0.01, 10]) at about one run's cost",
        headline=_headline(hv, cost),
    )


def _headline(hv: pd.Series, cost: pd.DataFrame) -> str:
    parts = []
    for g, v in hv.items():
        if g == SWEEP:
            continue
        te = cost.at[g, "trial-epochs per curve"] if g in cost.index else math.nan
        parts.append(f"{g}: hypervolume {v / hv[SWEEP]:.2f}× the sweep's, {te:g} trial-epochs")
    sweep_te = cost.at[SWEEP, "trial-epochs per curve"] if SWEEP in cost.index else math.nan
    return "; ".join(parts) + f" (sweep: {sweep_te:g} trial-epochs)"


def _range_notes(stats: pd.DataFrame) -> list[str]:
    """Where an MR-VAE curve does not reach the sweep's highest rate (its β = β_min end)."""
    top = stats.groupby("group")["rate_mean"].max()
    notes = []
    for g, r in top.items():
        if g != SWEEP and r < 0.8 * top[SWEEP]:
            notes.append(
                f"{g} reaches at most rate {r:.3g} nats (at β = β_min) where the sweep's "
                f"β = β_min run reaches {top[SWEEP]:.3g}: one network shared across β encodes "
                "less at the low-β end than a network trained for that β alone; the dominance "
                "numbers cover only the shared rate range."
            )
    return notes


def _epochs(group: str) -> int:
    """Epochs of an MR-VAE curve label; the fewest first (one sweep trial's budget)."""
    return int(group.split("(")[1].split()[0])


def _cost_claim(cost: pd.DataFrame, g: str) -> Claim:
    """Shown for the record, not counted: one trial of one trial's length costs one trial."""
    text = f"{g} costs one trial's compute, a fraction of the sweep's (true by construction)"
    if g not in cost.index or SWEEP not in cost.index:
        return Claim(text, None, "no compute records", "none", "cost", counted=False)
    a, b = cost.at[g, "trial-epochs per curve"], cost.at[SWEEP, "trial-epochs per curve"]
    sa, sb = cost.at[g, "training s per curve"], cost.at[SWEEP, "training s per curve"]
    return Claim(
        text,
        bool(a < b and sa < sb),
        f"{a:g} vs {b:g} trial-epochs; {sa:.0f} s vs {sb:.0f} s of training per curve",
        "none: holds by construction",
        "cost",
        counted=False,
    )


def _table(hv: pd.Series, cost: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for g, v in hv.items():
        c = cost.loc[g] if g in cost.index else None
        rows.append(
            {
                "curve": g,
                "hypervolume": num(float(v), 4),
                "hypervolume / sweep's": num(float(v / hv[SWEEP]) if hv[SWEEP] > 0 else math.nan),
                "trials per curve": "n/a" if c is None else f"{c['trials per curve']:g}",
                "trial-epochs per curve": "n/a"
                if c is None
                else f"{c['trial-epochs per curve']:g}",
                "training s per curve": "n/a" if c is None else f"{c['training s per curve']:.0f}",
                "seeds": "n/a" if c is None else int(c["seeds"]),
            }
        )
    return pd.DataFrame(rows)


def _points_table(stats: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "curve": stats["group"],
            "β": stats["b"].map(lambda b: f"{b:.3g}"),
            "rate": [pm(m, s) for m, s in zip(stats["rate_mean"], stats["rate_std"], strict=True)],
            "nll_opt": [
                pm(m, s) for m, s in zip(stats["nll_opt_mean"], stats["nll_opt_std"], strict=True)
            ],
        }
    )


def _plot(stats: pd.DataFrame) -> Plot:
    series = []
    for g, s in stats.groupby("group", sort=True):
        s = s.sort_values("rate_mean")
        series.append(
            Series(
                str(g),
                tuple(s["rate_mean"]),
                tuple(s["nll_opt_mean"]),
                labels=tuple(f"{b:.2g}" for b in s["b"]),
                style="s--" if g == SWEEP else "o-",
            )
        )
    return Plot(
        title="MR-VAE (one trial) vs the swept β-VAE frontier: rate vs nll_opt, seed means",
        xlabel="rate (nats)",
        ylabel="nll_opt (nats)",
        series=tuple(series),
    )
