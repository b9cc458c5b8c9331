"""Pure loss terms on tensors, each a sum over dimensions and a mean over examples' axis 0.

Every function returns a per-example tensor of shape [B] (nats); the composed objective
(:mod:`rdlab.objectives.loss`) averages and weights them. DESIGN §2, §4.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def flat(x: Tensor) -> Tensor:
    """[B, ...] → [B, D]."""
    return x.reshape(x.shape[0], -1)


def rate(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), per example."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def rate_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """The rate split by latent dimension, [B, J]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def soft_floor(log_sigma: Tensor, floor: float | Tensor | None) -> Tensor:
    """log σ ← m + softplus(log σ − m): smooth, never below m, identity well above it.

    Gradients stay finite at and below the floor (softplus' slope is a sigmoid).
    """
    if floor is None:
        return log_sigma
    return floor + F.softplus(log_sigma - floor)


def gaussian_nll(x: Tensor, mean: Tensor, log_sigma: Tensor) -> Tensor:
    """−log N(x; μ, σ²) summed over dimensions, with every constant kept, per example.

    Σ_d [(x_d − μ_d)² / (2σ_d²) + log σ_d + ½ log 2π]. ``log_sigma`` broadcasts against x
    (a scalar, [1, *shape] per dimension, [B, 1, …] per example, or [B, *shape]).
    """
    ls = log_sigma.expand_as(x)
    nll = 0.5 * (x - mean).pow(2) * torch.exp(-2.0 * ls) + ls + 0.5 * LOG_2PI
    return flat(nll).sum(dim=1)


def per_example(v: Tensor, like: Tensor) -> Tensor:
    """[B] → [B, 1, …, 1], broadcastable against ``like``."""
    return v.reshape(v.shape[0], *([1] * (like.dim() - 1)))


def squared_error(x: Tensor, mean: Tensor) -> Tensor:
    """Σ_d (x_d − μ_d)², per example: the reported ``mse`` distortion."""
    return (flat(x) - flat(mean)).pow(2).sum(dim=1)


def l1(x: Tensor, mean: Tensor) -> Tensor:
    """‖x − μ‖₁ per example (002's L1 term, summed over dimensions)."""
    return (flat(x) - flat(mean)).abs().sum(dim=1)


def nll_optimal_shared(sq_err_mean: float | Tensor, dim: int) -> Tensor:
    """NLL with one shared σ*² = mse / D fitted on the split: D/2 · (log 2πσ*² + 1).

    ``sq_err_mean`` is the split's mean per-example Σ_d (x − μ)². DESIGN §2's fair
    cross-policy distortion (``nll_opt``).
    """
    s2 = torch.as_tensor(sq_err_mean, dtype=torch.float64) / dim
    s2 = torch.clamp(s2, min=1e-300)
    return 0.5 * dim * (torch.log(2.0 * math.pi * s2) + 1.0)


def kl_aggregate(z: Tensor, mu: Tensor, aggregate: str = "samples", eps: float = 1e-8) -> Tensor:
    """002's KL_G: one Gaussian fitted to the batch's latents against N(0, I), a scalar.

    μ̄_j = mean_i μ_ij; σ̄_j² = mean_i (z_ij − μ̄_j)² (``samples``) or the variance of the
    means (``means``, as the public code does). KL_G = ½ Σ_j (σ̄_j² + μ̄_j² − 1 − log σ̄_j²).
    """
    mbar = mu.mean(dim=0)
    src = z if aggregate == "samples" else mu
    var = (src - mbar).pow(2).mean(dim=0)
    return 0.5 * (var + mbar.pow(2) - 1.0 - torch.log(var + eps)).sum()


def kl_individual(logvar: Tensor) -> Tensor:
    """002's KL_I per example, exactly eq. 21: Σ_j (σ_ij² − 1 − log σ_ij²), no ½.

    Eq. 21 writes KL(q(z|x_i) ‖ N(μ_i, I)) but drops the usual ½, so it is twice that KL;
    002's weight β₂ = 0.5 multiplies this sum (DESIGN §4). It keeps individual posterior
    variances from collapsing to a Dirac delta and does not penalise the means.
    """
    return (logvar.exp() - 1.0 - logvar).sum(dim=1)
