"""The LV-VAE plateau probe (issue 14 item 5; findings in docs/lv_plateau.md).

One trial on 004's toy problem (``toy_manifold``, residual MLP 4 × 200, latent 2, batches
of 100 fresh points, Adam 2e-3, β = 1, as ``studies/reproductions/toy_table1.yaml``), with
the σ policy and options given by ``--set``; prints one JSON line: the mean σ the training
steps used at chosen steps, the val rate/mse/ELBO per 5 epochs and at the end.

Two diagnostics that are not rdlab options (they change the trial only in this process):
``--detach-features`` feeds the σ head the decoder features without their gradient (the
head cannot shape the shared trunk); ``--beta-nll`` scales each dimension's NLL by a
detached σ²/mean σ² during training (β-NLL with β = 1, Seitzer et al. 2022, normalised so
the NLL keeps its overall weight against the KL): the mean's gradient is then no longer
weighted by 1/σ²(z) across examples, while σ's optimum is unchanged. Not an ELBO gradient.

    python studies/probes/lv_plateau.py --epochs 20 --set objective.sigma.policy=learned_vector
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from typing import Any

import torch
from rdlab.config import trial_config
from rdlab.config_io import apply_overrides
from rdlab.model import VAEOutput
from rdlab.objectives.terms import LOG_2PI, flat
from rdlab.trial import Trial
from torch import Tensor

BASE = [
    "dataset.name=toy_manifold",
    "dataset.batches_per_epoch=50",
    "dataset.n_eval=2000",
    "model.name=mlp_resnet",
    "model.latent_dim=2",
    "model.hidden=200",
    "model.blocks=4",
    "train.batch_size=100",
    "train.lr=2.0e-3",
    "train.device=cpu",
    "objective.beta=1.0",
    "eval.splits=[val]",
    "eval.iwae_k=0",
    "eval.frechet=false",
    "eval.pictures=false",
]
STEPS = (0, 10, 25, 50, 100, 250, 500, 750, 999, 1499, 2499)


def instrument(trial: Trial, detach_features: bool, beta_nll: bool) -> list[float]:
    """Record the mean log σ of every training step (and apply the diagnostics)."""
    pol = trial.members[0].policy
    trace: list[float] = []
    log_sigma = pol.log_sigma

    def recorded(x: Tensor, out: VAEOutput) -> Tensor:
        if detach_features:
            out = VAEOutput(out.mu_z, out.logvar_z, out.z, out.x_mean, out.features.detach())
        ls = log_sigma(x, out)
        if pol.training:
            trace.append(float(ls.detach().mean()))
        return ls

    def reweighted_nll(x: Tensor, out: VAEOutput) -> tuple[Tensor, Tensor]:
        ls = pol.log_sigma(x, out).expand_as(x)
        per = 0.5 * (x - out.x_mean).pow(2) * torch.exp(-2 * ls) + ls + 0.5 * LOG_2PI
        if pol.training:
            s2 = torch.exp(2 * ls).detach()
            per = per * (s2 / s2.mean())
        return flat(per).sum(dim=1), ls

    pol.log_sigma = recorded  # type: ignore[method-assign]
    if beta_nll:
        pol.nll = reweighted_nll  # type: ignore[method-assign]
    return trace


def run(epochs: int, seed: int, sets: list[str], detach: bool, beta_nll: bool) -> dict[str, Any]:
    data = apply_overrides({}, [*BASE, f"train.epochs={epochs}", f"train.seed={seed}", *sets])
    cfg = trial_config(data)
    with tempfile.TemporaryDirectory() as d:
        trial = Trial(cfg, d)
        trace = instrument(trial, detach, beta_nll)
        t0 = time.perf_counter()
        (res,) = trial.run(resume=False)
    v, h = res.final["val"], res.history
    return {
        "set": sets,
        "detach_features": detach,
        "beta_nll": beta_nll,
        "seed": seed,
        "steps": len(trace),
        "elbo": round(v["elbo"], 3),
        "rate": round(v["rate"], 3),
        "mse": round(v["mse"], 4),
        "sigma_end": round(math.exp(v["log_sigma_x"]), 4),
        "sigma_gap": round(v.get("sigma_gap", math.nan), 3),
        "sigma_at_step": {s: round(math.exp(trace[s]), 3) for s in STEPS if s < len(trace)},
        "rate_every_5": [round(r["val/rate"], 2) for r in h][::5],
        "elbo_every_5": [round(r["val/elbo"], 3) for r in h][::5],
        "stage": [r.get("policy/stage") for r in h][::5],
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20, help="50 steps each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="key=value, as rdlab train")
    ap.add_argument("--detach-features", action="store_true")
    ap.add_argument("--beta-nll", action="store_true")
    ap.add_argument("--smoke-test", action="store_true", help="2 epochs")
    a = ap.parse_args()
    epochs = 2 if a.smoke_test else a.epochs
    print(json.dumps(run(epochs, a.seed, a.set, a.detach_features, a.beta_nll)), flush=True)


if __name__ == "__main__":
    main()
