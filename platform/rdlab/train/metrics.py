"""Per-split metrics in DESIGN §2's units (nats per example, sums over dimensions).

``mse`` = Σ_d (x_d − μ_d)²; ``nll`` under the trial's own σ policy; ``nll_opt`` with one
shared σ*² = mse / D fitted on the split; ``elbo`` = −(nll + R); discrete data: ``bpd``
(:func:`bits_per_dim`, with the dataset's own bin width); learned σ: ``sigma_gap``
(:func:`log_sigma_optimum`), on evaluated splits. Discrete splits arrive dequantised
(``DataSource.likelihood_split``), so every metric of a split is one pass over the same
dequantised data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rdlab.model import Alone, ModelStack, VAEModel, member_generators
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


def summarise(
    sums: dict[str, float],
    dim: int,
    bin_width: float | None = None,
    log_sigma_star: float | None = None,
) -> dict[str, float]:
    """Turn summed per-example quantities into the reported per-example means.

    ``bin_width``: the width Δ of a value's bin when the data are dequantised discrete
    values (then ``bpd`` is reported), else None. ``log_sigma_star``: log σ* of the split
    for a learned σ (:func:`log_sigma_optimum`; then ``sigma_gap`` is reported).
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
    if log_sigma_star is not None:
        out["sigma_gap"] = out["log_sigma_x"] - log_sigma_star
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


def log_sigma_optimum(sq_err_per_dim: Tensor, n: int, scalar: bool) -> float:
    """log σ* of a split, the closed-form optimum a learned σ is compared with (``sigma_gap``
    = mean log σ_learned − log σ*).

    ``sq_err_per_dim``: Σ_i (x_id − μ_id)² per dimension over the split's n examples. A
    scalar σ's optimum is the shared σ*² = mse/D (003 eq. 10). A per-pixel or input-dependent
    σ is compared by geometric means: mean log σ over examples and dimensions against the
    mean over dimensions of log σ*_d, σ*_d² = mean_i (x_id − μ_id)² — learned_pixel's exact
    optimum; for an input-dependent σ(z) a reference (its optimum moves with z, and by
    Jensen's inequality its geometric mean lies at or below this one).
    """
    per_dim = sq_err_per_dim.double() / max(n, 1)
    if scalar:
        return 0.5 * math.log(max(float(per_dim.mean()), 1e-300))
    return float(0.5 * torch.log(per_dim.clamp_min(1e-300)).mean())


@torch.no_grad()
def evaluate_split(
    model: VAEModel,
    policy: SigmaPolicy,
    x: Tensor,
    batch_size: int,
    bin_width: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """One pass over a split with z ~ q(z|x), from a stream seeded by ``seed`` (training's
    stream is untouched): :func:`evaluate_members` for a model alone.

    ``x``: the split as likelihood metrics see it (dequantised for discrete data, with
    ``bin_width`` its bins' width; None for continuous data). The end-of-trial evaluation
    calls this same code, so the per-epoch and final metrics agree in definition.
    """
    return evaluate_members(Alone(model), [policy], x, batch_size, bin_width, [seed])[0]


@torch.no_grad()
def evaluate_members(
    stack: ModelStack,
    policies: list[SigmaPolicy],
    x: Tensor,
    batch_size: int,
    bin_width: float | None,
    seeds: list[int],
) -> list[dict[str, float]]:
    """:func:`evaluate_split` for every member of ``stack`` in one pass over ``x``: one
    (vmapped or grouped) forward per batch for all members, member k's z drawn from its own
    stream seeded by ``seeds[k]`` exactly as its lone run draws them, then each member's own
    σ policy and sums. A packed member's metrics equal its lone ones up to the round-off of
    batched vs unbatched matmuls (``tests/perf/test_packed.py``)."""
    modules = [*stack.models, *policies]
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    k = stack.k
    sums = torch.zeros((k, 4), dtype=torch.float64, device=x.device)
    sq_dim = torch.zeros((k, x[0].numel()), dtype=torch.float64, device=x.device)
    scalar_sigma = [True] * k  # does member k's log σ broadcast from one number?
    gens = member_generators(seeds, x.device)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        outs = stack.sample(xb, gens)
        for j, policy in enumerate(policies):
            out = outs.row(j)
            nll, ls = policy.nll(xb, out)
            rate = terms.rate(out.mu_z, out.logvar_z)
            sq = terms.squared_error(xb, out.x_mean)
            ls_mean = ls.expand_as(xb).reshape(xb.shape[0], -1).mean(dim=1)
            sums[j] += torch.stack([nll.sum(), rate.sum(), sq.sum(), ls_mean.sum()]).double()
            sq_dim[j] += terms.flat(xb - out.x_mean).double().pow(2).sum(dim=0)
            scalar_sigma[j] = scalar_sigma[j] and ls.numel() == 1
    for m, flag in zip(modules, flags, strict=True):
        m.train(flag)
    rows = sums.tolist()  # one host sync for the pack
    n = float(x.shape[0])
    dim = int(x[0].numel())
    out_rows = []
    for j, policy in enumerate(policies):
        star = log_sigma_optimum(sq_dim[j], int(n), scalar_sigma[j]) if policy.learned else None
        s = rows[j]
        out_rows.append(
            summarise(
                {"n": n, "nll": s[0], "rate": s[1], "sq_err": s[2], "log_sigma": s[3]},
                dim,
                bin_width,
                log_sigma_star=star,
            )
        )
    return out_rows
