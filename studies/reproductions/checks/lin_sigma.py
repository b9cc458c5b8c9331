"""003 (Lin et al., "Balancing reconstruction quality and regularisation in ELBO for VAEs"):
with the decoder variance optimised (closed form σ*² = mse/D, eq. 10; or learned, staged
per input, Algorithm 1) the VAE reaches a higher ELBO than with the usual fixed variances —
003's "σ² = 0.5" (the plain VAE's MSE objective) and "σ² = 1" (a β-VAE-like heavier KL) —
(§5.1, Fig. 1a); samples drawn from a GMM fitted to the aggregate posterior are better than
samples from the prior for every model (§3.5, Fig. 1b, Table 2: lower FID); and the
input-dependent σ gives the highest IWAE log-likelihood (Table 3).

003 states the decoder *variance*; rdlab's ``fixed`` takes a standard deviation, so 003's
0.5 and 1 are ``value: 0.7071`` and ``value: 1``. Sample quality here is the Fréchet
distance in the feature space of the in-project digits classifier (``fd_prior``, ``fd_gmm``:
rdlab.evaluate.frechet), not Inception's, on the test split.
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
    labelled,
    num,
    pm,
    seed_stats,
)

NAME = "lin_sigma"
TITLE = "003 — optimised σ beats fixed σ²; GMM aggregate posterior beats the prior"
STUDY = "repro-003-sigma"
HALF = "fixed σ²=0.5 (plain VAE)"
ONE = "fixed σ²=1 (β-VAE-like)"
CLOSED = "closed-form σ*² (eq. 10)"
STAGED = "staged σ(z) (Alg. 1)"
LEARNED = "learned scalar σ"
ORDER = (HALF, ONE, CLOSED, LEARNED, STAGED)
METRICS = ("elbo", "iwae", "fd_prior", "fd_gmm", "agg_kl", "log_sigma_x", "rate", "mse")


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


def measured(points: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    rows = finals(points, split)
    rows = rows[rows["study"] == STUDY]
    if rows.empty:
        return pd.DataFrame()
    rows = labelled(rows, settings)
    if rows.empty:
        return pd.DataFrame()
    stats = seed_stats(rows, "setting", METRICS)
    stats["order"] = stats["setting"].map(ORDER.index)
    return stats.sort_values("order").set_index("setting")


def verdict(points: pd.DataFrame, split: str = "test") -> Verdict:
    stats = measured(points, split)
    claims = [_elbo_claim(stats), _fd_claim(stats), _iwae_claim(stats)]
    return Verdict(
        NAME,
        TITLE,
        _table(stats),
        tuple(claims),
        notes=tuple(_notes(stats, claims)),
        plots=_plots(stats),
        facts={f"elbo[{s}]": float(stats.at[s, "elbo_mean"]) for s in stats.index},
        paper="MNIST (Fig. 1, Tables 2–3; curves and tables garbled in the text): the optimised "
        "σ² (0.035) has the highest ELBO against fixed σ² ∈ {0.5, 1, …}; GMM-posterior samples "
        "have a lower FID than prior samples for every model; input-dependent σ gives the "
        "best IWAE",
        headline=_headline(stats),
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


def _elbo_claim(stats: pd.DataFrame) -> Claim:
    text = "the closed-form σ*² reaches a higher ELBO than fixed σ² = 0.5 and σ² = 1"
    need = [s for s in (CLOSED, HALF, ONE) if s not in stats.index]
    if need:
        return Claim(text, None, f"no runs of {', '.join(need)}")
    e = {s: float(stats.at[s, "elbo_mean"]) for s in (CLOSED, HALF, ONE)}
    detail = ", ".join(f"{s}: {v:.2f}" for s, v in e.items())
    return Claim(text, bool(e[CLOSED] > max(e[HALF], e[ONE])), "mean ELBO " + detail)


def _fd_claim(stats: pd.DataFrame) -> Claim:
    text = "for every setting, GMM-posterior samples have a lower Fréchet distance than prior ones"
    ok = stats.dropna(subset=["fd_prior_mean", "fd_gmm_mean"]) if not stats.empty else stats
    if ok.empty:
        return Claim(text, None, "no Fréchet distances were measured")
    lower = ok["fd_gmm_mean"] < ok["fd_prior_mean"]
    detail = "; ".join(
        f"{s}: GMM {r['fd_gmm_mean']:.3g} vs prior {r['fd_prior_mean']:.3g}"
        for s, r in ok.iterrows()
    )
    return Claim(text, bool(lower.all()), detail)


def _iwae_claim(stats: pd.DataFrame) -> Claim:
    text = "input-dependent σ (staged) gives a higher IWAE log-likelihood than the global σ*²"
    if STAGED not in stats.index or CLOSED not in stats.index:
        return Claim(text, None, "no staged or closed-form runs")
    a, b = float(stats.at[STAGED, "iwae_mean"]), float(stats.at[CLOSED, "iwae_mean"])
    if not (math.isfinite(a) and math.isfinite(b)):
        return Claim(text, None, "IWAE was not evaluated")
    return Claim(text, bool(a > b), f"IWAE staged {a:.2f} vs closed-form {b:.2f} nats")


COLLAPSED_RATE = 0.5  # nats: a model this close to the prior has no aggregate-posterior gap


def _notes(stats: pd.DataFrame, claims: list[Claim]) -> list[str]:
    notes = []
    if claims[1].holds is False:
        worse = stats[stats["fd_gmm_mean"] >= stats["fd_prior_mean"]]
        for s, r in worse.iterrows():
            collapsed = r["rate_mean"] < COLLAPSED_RATE
            why = (
                f"it encodes almost nothing (rate {r['rate_mean']:.3g} nats, KL(GMM ‖ prior) "
                f"{r['agg_kl_mean']:.2g}): its aggregate posterior is the prior, so there is "
                "no gap for GMM sampling to close"
                if collapsed
                else f"rate {r['rate_mean']:.3g} nats"
            )
            spread = max(
                float(np.nan_to_num(r["fd_gmm_std"])), float(np.nan_to_num(r["fd_prior_std"]))
            )
            notes.append(
                f"{s}: GMM {r['fd_gmm_mean']:.3g} vs prior {r['fd_prior_mean']:.3g} (seed std up "
                f"to {spread:.2g}); {why}."
            )
    if claims[2].holds is False and STAGED in stats.index and CLOSED in stats.index:
        a = math.exp(2 * float(stats.at[STAGED, "log_sigma_x_mean"]))
        b = math.exp(2 * float(stats.at[CLOSED, "log_sigma_x_mean"]))
        if a > b:
            notes.append(
                f"staged's σ(z) is floored at the σ* its first stage reached (003 Alg. 1; half "
                f"the epochs here): its final σ² (geometric mean {a:.3g}) stays above the "
                f"closed form's {b:.3g}, which caps its likelihood at this training length."
            )
    return notes


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
                "FD GMM": pm(r["fd_gmm_mean"], r["fd_gmm_std"]),
                "KL(GMM ‖ prior)": pm(r["agg_kl_mean"], r["agg_kl_std"]),
                "seeds": int(r["n_seeds"]),
            }
        )
    return pd.DataFrame(rows)


def _plots(stats: pd.DataFrame) -> tuple[Plot, ...]:
    if stats.empty:
        return ()
    x = tuple(range(len(stats)))
    labels = tuple(str(s) for s in stats.index)
    elbo = Plot(
        title="003 Fig. 1a at CPU scale: ELBO per σ setting (digits, test split)",
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
        title="003 Fig. 1b at CPU scale: Fréchet distance, prior vs GMM samples",
        xlabel="setting (see labels)",
        ylabel="Fréchet distance (classifier features)",
        series=(
            Series("z ~ N(0, I)", x, tuple(stats["fd_prior_mean"]), labels=labels, style="s"),
            Series("z ~ GMM(aggregate posterior)", x, tuple(stats["fd_gmm_mean"]), style="o"),
        ),
    )
    return elbo, fd
