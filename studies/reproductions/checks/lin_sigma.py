"""003 (Lin et al., "Balancing reconstruction quality and regularisation in ELBO for VAEs"):
with the decoder variance optimised (closed form σ*² = mse/D, eq. 10; or learned, staged
per input, Algorithm 1) the VAE reaches a higher ELBO than with the usual fixed variances —
003's "σ² = 0.5" (the plain VAE's MSE objective) and "σ² = 1" (a β-VAE-like heavier KL) —
(§5.1, Fig. 1a); samples drawn from a GMM fitted to the aggregate posterior are better than
samples from the prior for every model (§3.5, Fig. 1b, Table 2: lower FID); and the
input-dependent σ gives the highest IWAE log-likelihood (Table 3).

003 states the decoder *variance*; rdlab's ``fixed`` takes a standard deviation, so 003's
0.5 and 1 are ``value: 0.7071`` and ``value: 1``. Sample quality here is the Fréchet
distance in the feature space of the in-project classifier (``fd_prior``, ``fd_gmm``:
rdlab.evaluate.frechet), not Inception's: each trial draws 2,000 prior and 2,000 GMM samples
and compares them with its largest split (the training images, ``eval.fd_reference``), with
a 95 % bootstrap interval per distance; the ELBO is the test split's, the IWAE bound the
whole test split's.

Tests (:mod:`.stats`, one-sided, α = 0.05, over seeds): Welch's t for the ELBO and IWAE
comparisons; a paired t test of FD(prior) − FD(GMM) > 0 per setting (both measured on the
same trial), required of every setting that encodes something — a model with rate < 0.1
nats has an aggregate posterior equal to the prior, so nothing can separate the two; such
settings are left out of "every setting" and listed. One set of claims per dataset
(digits; MNIST when its files are present).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from studies.reproductions.checks.common import (
    ENCODES_NOTHING,
    Claim,
    Plot,
    Series,
    Verdict,
    finals,
    labelled,
    num,
    pm,
    seed_stats,
    seed_values,
    tested,
)
from studies.reproductions.checks.stats import TestResult, all_of, paired, weakest, welch

NAME = "lin_sigma"
TITLE = "003 — optimised σ beats fixed σ²; GMM aggregate posterior beats the prior"
STUDY = "repro-003-sigma"
HALF = "fixed σ²=0.5 (plain VAE)"
ONE = "fixed σ²=1 (β-VAE-like)"
CLOSED = "closed-form σ*² (eq. 10)"
STAGED = "staged σ(z) (Alg. 1)"
LEARNED = "learned scalar σ"
ORDER = (HALF, ONE, CLOSED, LEARNED, STAGED)
METRICS = (
    "elbo", "iwae", "fd_prior", "fd_gmm", "agg_kl", "log_sigma_x", "sigma_gap", "rate", "mse",
    "fd_prior_lo", "fd_prior_hi", "fd_gmm_lo", "fd_gmm_hi",
)  # fmt: skip


def settings(row: pd.Series) -> list[str]:
    policy = row["sigma_policy"]
    if policy == "fixed":
        s2 = float(row["sigma_value"]) ** 2
        if math.isclose(s2, 0.5, rel_tol=1e-3):
            return [HALF]
        return [ONE] if math.isclose(s2, 1.0, rel_tol=1e-3) else []
    return {"optimal_global": [CLOSED], "staged": [STAGED], "learned_scalar": [LEARNED]}.get(
        str(policy), []
    )


def trial_rows(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Final rows of the study (digits, and its MNIST variant) labelled with 003's settings;
    metrics a study did not record are NaN."""
    rows = finals(points, split)
    rows = rows[rows["study"].str.startswith(STUDY)]
    rows = labelled(rows, settings) if not rows.empty else rows
    if rows.empty:
        return pd.DataFrame()
    return rows.assign(**{m: rows.get(m, math.nan) for m in METRICS})


def measured(rows: pd.DataFrame) -> pd.DataFrame:
    """Seed means and stds per setting (one dataset's rows), in 003's order."""
    if rows.empty:
        return pd.DataFrame()
    stats = seed_stats(rows, "setting", METRICS)
    stats["order"] = stats["setting"].map(ORDER.index)
    return stats.sort_values("order").set_index("setting")


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    rows = trial_rows(points, split)
    datasets = sorted(rows["dataset"].unique()) if not rows.empty else []
    claims: list[Claim] = []
    notes: list[str] = []
    tables: list[pd.DataFrame] = []
    plots: list[Plot] = []
    for ds in datasets:
        sub = rows[rows["dataset"] == ds]
        stats = measured(sub)
        mine = [_elbo_claim(ds, sub), _fd_claim(ds, sub, stats), _iwae_claim(ds, sub)]
        claims += mine
        notes += _notes(ds, stats, mine)
        tables.append(_table(stats).assign(dataset=ds))
        plots += _plots(ds, stats)
    if not datasets:
        claims = [Claim("the closed-form σ*² beats fixed σ²", None, "no runs", "no test")]
    first = measured(rows[rows["dataset"] == datasets[0]]) if datasets else pd.DataFrame()
    return Verdict(
        NAME,
        TITLE,
        pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
        tuple(claims),
        notes=tuple(notes),
        plots=tuple(plots),
        facts={f"elbo[{s}]": float(first.at[s, "elbo_mean"]) for s in first.index},
        paper="MNIST (Fig. 1, Tables 2–3; curves and tables garbled in the text): the optimised "
        "σ² (0.035) has the highest ELBO against fixed σ² ∈ {0.5, 1, …}; GMM-posterior samples "
        "have a lower FID than prior samples for every model; input-dependent σ gives the "
        "best IWAE",
        headline=_headline(first),
    )


def _headline(stats: pd.DataFrame) -> str:
    if stats.empty:
        return "no data"

    def get(s: str, m: str) -> str:
        return num(float(stats.at[s, f"{m}_mean"])) if s in stats.index else "n/a"

    sigma2 = (
        num(math.exp(2 * float(stats.at[CLOSED, "log_sigma_x_mean"])))
        if CLOSED in stats.index
        else "n/a"
    )
    fd = ", ".join(
        f"{s.split(' (')[0]} {num(r['fd_gmm_mean'])}/{num(r['fd_prior_mean'])}"
        for s, r in stats.iterrows()
    )
    return (
        f"ELBO σ²=0.5: {get(HALF, 'elbo')}, σ²=1: {get(ONE, 'elbo')}, σ*²: {get(CLOSED, 'elbo')} "
        f"(σ*² = {sigma2}); FD GMM/prior: {fd}; IWAE staged {get(STAGED, 'iwae')} vs σ*² "
        f"{get(CLOSED, 'iwae')}"
    )


def _values(rows: pd.DataFrame, setting: str, metric: str) -> np.ndarray:
    return seed_values(rows, "setting", metric, setting)


def _elbo_claim(ds: str, rows: pd.DataFrame) -> Claim:
    """003 Fig. 1a: the optimised σ² has the highest ELBO (Welch vs each fixed σ²)."""
    key, text = f"{ds}:closed_elbo", f"{ds}: the closed-form σ*² reaches a higher ELBO than "
    text += "fixed σ² = 0.5 and σ² = 1"
    results = [welch(_values(rows, CLOSED, "elbo"), _values(rows, s, "elbo")) for s in (HALF, ONE)]
    if any(0 in r.n for r in results):
        return Claim(text, None, "missing runs of a setting", "no test", key)
    detail = ", ".join(
        f"σ*² − {s.split(' (')[0]} = {r.estimate:+.2f} nats"
        for s, r in zip((HALF, ONE), results, strict=True)
    )
    return tested(key, text, weakest(results), detail, all_of(results))


def _fd_claim(ds: str, rows: pd.DataFrame, stats: pd.DataFrame) -> Claim:
    """003 §3.5, Fig. 1b: FD of GMM samples below the prior's, for every model that encodes
    something (paired t over seeds, each setting; intersection–union)."""
    key = f"{ds}:gmm_every"
    text = f"{ds}: for every setting that encodes something (rate ≥ {ENCODES_NOTHING} nats), "
    text += "GMM-posterior samples have a lower Fréchet distance than prior ones"
    measured_fd = stats.dropna(subset=["fd_prior_mean", "fd_gmm_mean"]) if len(stats) else stats
    if measured_fd.empty:
        return Claim(text, None, "no Fréchet distances were measured", "no test", key)
    silent = [s for s in measured_fd.index if measured_fd.at[s, "rate_mean"] < ENCODES_NOTHING]
    tests: dict[str, TestResult] = {
        str(s): paired(_values(rows, str(s), "fd_prior"), _values(rows, str(s), "fd_gmm"))
        for s in measured_fd.index
        if s not in silent
    }
    detail = "; ".join(
        f"{s}: prior − GMM = {t.estimate:+.3g} (p {t.p:.2g})" for s, t in tests.items()
    )
    if silent:
        detail += "; left out (rate < 0.1 nats): " + ", ".join(
            f"{s} ({measured_fd.at[s, 'rate_mean']:.2g} nats)" for s in silent
        )
    if not tests:
        return Claim(text, None, detail or "every setting encodes nothing", "no test", key)
    results = list(tests.values())
    return tested(key, text, weakest(results), detail, all_of(results))


def _iwae_claim(ds: str, rows: pd.DataFrame) -> Claim:
    """003 Table 3: input-dependent σ has the best IWAE log-likelihood (Welch)."""
    key = f"{ds}:staged_iwae"
    text = f"{ds}: input-dependent σ (staged) gives a higher IWAE log-likelihood than the "
    text += "global σ*²"
    r = welch(_values(rows, STAGED, "iwae"), _values(rows, CLOSED, "iwae"))
    if 0 in r.n:
        return Claim(
            text, None, "no staged or closed-form runs, or IWAE not evaluated", "no test", key
        )
    return tested(key, text, r, f"IWAE staged − closed-form = {r.estimate:+.2f} nats")


def _notes(ds: str, stats: pd.DataFrame, claims: list[Claim]) -> list[str]:
    notes: list[str] = []
    if stats.empty:
        return notes
    silent = stats[stats["rate_mean"] < ENCODES_NOTHING]
    for s, r in silent.iterrows():
        notes.append(
            f"{ds}, {s}: encodes nothing (rate {r['rate_mean']:.3g} nats, KL(GMM ‖ prior) "
            f"{r['agg_kl_mean']:.2g}): its aggregate posterior is the prior, so GMM and prior "
            f"samples are the same distribution (FD {r['fd_gmm_mean']:.3g} vs "
            f"{r['fd_prior_mean']:.3g}); left out of the every-setting claim."
        )
    if LEARNED in stats.index and math.isfinite(stats.at[LEARNED, "sigma_gap_mean"]):
        gap = float(stats.at[LEARNED, "sigma_gap_mean"])
        if abs(gap) > 0.05:
            notes.append(
                f"{ds}: the learned scalar σ ended {gap:+.2f} in log σ from its own optimum "
                "σ* (sigma_gap): it had not caught up with its model when training stopped."
            )
    if claims[2].holds is False and STAGED in stats.index and CLOSED in stats.index:
        a = math.exp(2 * float(stats.at[STAGED, "log_sigma_x_mean"]))
        b = math.exp(2 * float(stats.at[CLOSED, "log_sigma_x_mean"]))
        if a > b:
            notes.append(
                f"{ds}: staged's σ(z) is floored at the global σ its first stage learned (003 "
                f"Alg. 1): its final σ² (geometric mean {a:.3g}) stays above the closed form's "
                f"{b:.3g}, which caps its likelihood."
            )
    return notes


def _interval(r: pd.Series, name: str) -> str:
    lo, hi = r.get(f"fd_{name}_lo_mean", math.nan), r.get(f"fd_{name}_hi_mean", math.nan)
    return "n/a" if not math.isfinite(lo) else f"[{num(lo)}, {num(hi)}]"


def _table(stats: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for s, r in stats.iterrows():
        rows.append(
            {
                "setting": s,
                "final σ²": num(math.exp(2 * r["log_sigma_x_mean"])),
                "ELBO (nats)": pm(r["elbo_mean"], r["elbo_std"]),
                "IWAE (nats)": pm(r["iwae_mean"], r["iwae_std"]),
                "rate": pm(r["rate_mean"], r["rate_std"]),
                "FD prior": pm(r["fd_prior_mean"], r["fd_prior_std"]),
                "FD prior 95 % (bootstrap)": _interval(r, "prior"),
                "FD GMM": pm(r["fd_gmm_mean"], r["fd_gmm_std"]),
                "FD GMM 95 % (bootstrap)": _interval(r, "gmm"),
                "KL(GMM ‖ prior)": pm(r["agg_kl_mean"], r["agg_kl_std"]),
                "seeds": int(r["n_seeds"]),
            }
        )
    return pd.DataFrame(rows)


def _plots(ds: str, stats: pd.DataFrame) -> tuple[Plot, ...]:
    if stats.empty:
        return ()
    x = tuple(float(i) for i in range(len(stats)))
    labels = tuple(str(s) for s in stats.index)
    elbo = Plot(
        title=f"003 Fig. 1a at CPU scale: ELBO per σ setting ({ds}, test split)",
        xlabel="setting (see labels)",
        ylabel="ELBO (nats)",
        series=(
            Series(
                "ELBO",
                x,
                tuple(stats["elbo_mean"]),
                tuple(np.nan_to_num(stats["elbo_std"].to_numpy(float))),
                labels=labels,
                style="o",
            ),
        ),
    )
    fd = Plot(
        title=f"003 Fig. 1b at CPU scale ({ds}): Fréchet distance, prior vs GMM samples",
        xlabel="setting (see labels)",
        ylabel="Fréchet distance (classifier features)",
        series=(
            Series(
                "z ~ N(0, I)",
                x,
                tuple(stats["fd_prior_mean"]),
                tuple(np.nan_to_num(stats["fd_prior_std"].to_numpy(float))),
                labels=labels,
                style="s",
            ),
            Series(
                "z ~ GMM(aggregate posterior)",
                x,
                tuple(stats["fd_gmm_mean"]),
                tuple(np.nan_to_num(stats["fd_gmm_std"].to_numpy(float))),
                style="o",
            ),
        ),
    )
    return elbo, fd
