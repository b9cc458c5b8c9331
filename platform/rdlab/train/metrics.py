"""Per-split metrics in DESIGN §2's units (nats per example, sums over dimensions).

``mse`` = Σ_d (x_d − μ_d)²; ``nll`` under the trial's own σ policy; ``nll_opt`` with one
shared σ*² = mse / D fitted on the split; ``elbo`` = −(nll + R); images: ``bpd``.
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


def isfinite(v: float) -> bool:
    return math.isfinite(v)


def finite_sums(sums: dict[str, float]) -> bool:
    """True when every summed quantity of an epoch is finite (no batch diverged)."""
    return all(math.isfinite(v) for v in sums.values())


def params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def summarise(sums: dict[str, float], dim: int, is_image: bool) -> dict[str, float]:
    """Turn summed per-example quantities into the reported per-example means."""
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
    if is_image:
        out["bpd"] = bits_per_dim(out["nll"] + out["rate"], dim)
    return out


def bits_per_dim(neg_elbo: float, dim: int) -> float:
    """((nll + R)/D + ln 256)/ln 2: data in [0, 1] seen as 8-bit values (DESIGN §2)."""
    return (neg_elbo / dim + math.log(256.0)) / math.log(2.0)


@torch.no_grad()
def evaluate_split(
    model: VAEModel, policy: SigmaPolicy, x: Tensor, batch_size: int, is_image: bool, seed: int = 0
) -> dict[str, float]:
    """One pass over a split with z ~ q(z|x), RNG forked so training's stream is untouched."""
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
        {"n": n, "nll": s[0], "rate": s[1], "sq_err": s[2], "log_sigma": s[3]}, dim, is_image
    )
