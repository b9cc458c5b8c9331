"""Per-split metrics in DESIGN §2's units (nats per example, sums over dimensions).

``mse`` = Σ_d (x_d − μ_d)²; ``nll`` under the trial's own σ policy; ``nll_opt`` with one
shared σ*² = mse / D fitted on the split; ``elbo`` = −(nll + R); discrete data: ``bpd``
(:func:`bits_per_dim`, with the dataset's own bin width); learned σ: ``sigma_gap``
(:func:`sigma_gap`). Discrete splits arrive dequantised (``DataSource.likelihood_split``),
so every metric of a split is one pass over the same dequantised data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rdlab.model import VAEModel
from rdlab.objectives import terms
from rdlab.objectives.loss import LossTerms
from rdlab.objectives.sigma.base import SigmaPolicy

# Order of the per-batch sums accumulated on device (one stack per step, no host sync).
SUM_KEYS = ("n", "loss", "nll", "rate", "sq_err", "log_sigma", "kl_g", "kl_i", "l1", "adv")


def step_sums(t: LossTerms, x: Tensor) -> Tensor:
    """One step's sums over the batch ``x``, in SUM_KEYS order (kept on the device: the
    epoch adds them up and syncs with the host once)."""
    n = x.new_tensor(float(x.shape[0]))
    return torch.stack(
        [
            n,
            t.loss.detach() * n,
            t.nll.detach().sum(),
            t.rate.detach().sum(),
            t.sq_err.detach().sum(),
            t.log_sigma * n,
            t.kl_g.detach() * n,
            t.kl_i.detach().sum(),
            t.l1.detach().sum(),
            t.adv.detach() * n,
        ]
    )


def summarise(
    sums: dict[str, float],
    dim: int,
    bin_width: float | None = None,
    learned_sigma: bool = False,
) -> dict[str, float]:
    """Turn summed per-example quantities into the reported per-example means.

    ``bin_width``: the width Δ of a value's bin when the data are dequantised discrete
    values (then ``bpd`` is reported), else None. ``learned_sigma``: the policy's σ is a
    learned parameter or head (then ``sigma_gap`` is reported).
    """
    n = max(sums["n"], 1.0)
    m = {k: sums[k] / n for k in SUM_KEYS if k != "n" and k in sums}
    out = {
        "rate": m["rate"],
        "mse": m["sq_err"],
        "nll": m["nll"],
        "nll_opt": float(terms.nll_optimal_shared(m["sq_err"], dim)),
        "elbo": -(m["nll"] + m["rate"]),
        "log_sigma_x": m["log_sigma"],
    }
    if "loss" in m:
        out["loss"] = m["loss"]
    for k in ("kl_g", "kl_i", "l1", "adv"):
        if k in m:
            out[k] = m[k]
    if bin_width is not None:
        out["bpd"] = bits_per_dim(out["nll"] + out["rate"], dim, bin_width)
    if learned_sigma:
        out["sigma_gap"] = sigma_gap(out["log_sigma_x"], out["mse"], dim)
    return out


def bits_per_dim(neg_elbo: float, dim: int, bin_width: float) -> float:
    """((nll + R)/D − ln Δ)/ln 2 for data dequantised over bins of width Δ.

    A discrete value's probability is at least the density's mass on its bin, so
    −log₂ P(x)/D ≤ (−ELBO/D − ln Δ)/ln 2 with the ELBO of the dequantised data (nats). Δ is
    the dataset's (rdlab.data.base): 1/16 on digits (17 levels: + 4 bits), 1/255 on 8-bit
    images scaled k/255 (+ log₂ 255 ≈ 7.994 bits; DESIGN §2's ln 256 is the same bound for
    data scaled k/256).
    """
    return (neg_elbo / dim - math.log(bin_width)) / math.log(2.0)


def sigma_gap(log_sigma: float, sq_err: float, dim: int) -> float:
    """log σ_learned − log σ*, σ*² = mse/D: how far a learned σ is from its own model's
    closed-form optimum on the data (003 eq. 10). ``log_sigma`` is the mean of log σ over
    examples and dimensions, i.e. the log of the geometric mean σ for per-pixel and
    input-dependent σ. 0: calibrated; > 0: σ lags above the model's error (the model's
    reconstructions are under-weighted against the rate)."""
    return log_sigma - 0.5 * math.log(max(sq_err / dim, 1e-300))


@torch.no_grad()
def evaluate_split(
    model: VAEModel,
    policy: SigmaPolicy,
    x: Tensor,
    batch_size: int,
    bin_width: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """One pass over a split with z ~ q(z|x), RNG forked so training's stream is untouched.

    ``x``: the split as likelihood metrics see it (dequantised for discrete data, with
    ``bin_width`` its bins' width; None for continuous data). The end-of-trial evaluation
    calls this same function, so the per-epoch and final metrics agree in definition.
    """
    was_training = model.training
    model.eval()
    policy.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=x.device)
    devices = [x.device] if x.device.type == "cuda" else []
    # No autograd graph: evaluation never backpropagates (it ran every epoch with one).
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            out = model(xb)
            nll, ls = policy.nll(xb, out)
            rate = terms.rate(out.mu_z, out.logvar_z)
            sq = terms.squared_error(xb, out.x_mean)
            ls_mean = ls.expand_as(xb).reshape(xb.shape[0], -1).mean(dim=1)
            sums += torch.stack([nll.sum(), rate.sum(), sq.sum(), ls_mean.sum()]).double()
    model.train(was_training)
    policy.train(was_training)
    s = sums.tolist()
    n = float(x.shape[0])
    dim = int(x[0].numel())
    return summarise(
        {"n": n, "nll": s[0], "rate": s[1], "sq_err": s[2], "log_sigma": s[3]},
        dim,
        bin_width,
        learned_sigma=policy.learned,
    )
