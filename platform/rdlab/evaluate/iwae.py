"""The importance-weighted bound on log p(x) (Burda et al. 2016, eq. 8) with a proper density.

    log p(x) ≥ L_K = E[ log (1/K) Σ_k w_k ],  w_k = p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x)

L_1 is the ELBO and L_K grows with K towards log p(x). The decoder density is the trial's
Gaussian N(μ_x(z), σ²) with every constant kept (DESIGN §2), so the bound is in nats per
example like ``elbo``. For discrete data the caller passes the dequantised split
(``DataSource.likelihood_split``): a density's value at a discrete point bounds nothing,
its value on uniform noise over the point's bin bounds the point's probability.

σ is the trial's own σ(z) for every policy that defines one (``learned_vector`` computes
log σ from the decoder features of each importance sample). The ``data_dependent``
policies (``optimal_global``, ``optimal_sample``, ``staged`` with ``stage1: closed_form``
in stage 1) set σ from x's own error, which is not a density over x; for them σ is one
shared σ* fitted on the TRAINING split (DESIGN §2), :func:`fit_shared_sigma2`.

Memory stays bounded for any K (≤ 5000): examples and importance samples are decoded in
chunks of at most ``max_elements`` scalars, and the log-sum-exp over K is accumulated in
float64 chunk by chunk (log-add-exp of per-chunk log-sum-exps), never materialising [K, N].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rdlab.evaluate._util import eval_mode
from rdlab.model import Alone, ModelStack, VAEModel, VAEOutput, member_generators, member_randn
from rdlab.objectives import terms
from rdlab.objectives.sigma.base import SigmaPolicy

DEFAULT_MAX_ELEMENTS = 1 << 22  # scalars per decoded chunk (x, μ_x, features): ~16 MB float32


@dataclass(frozen=True)
class IWAEResult:
    iwae: float  # mean over examples of log (1/K) Σ_k w_k, nats per example
    elbo: float  # mean over examples and samples of log w_k: L_1 on the same data and density
    k: int
    n: int


def fit_shared_sigma2(model: VAEModel, x: Tensor, batch_size: int, seed: int = 0) -> float:
    """σ*² = mean over examples and dimensions of (x − μ_x(z))², z ~ q(z|x) (one sample each).

    This is 003 eq. 10's closed-form optimum of the expected log-likelihood, as the
    ``optimal_global`` policy fits it during training (sampled z, not z = μ_z), on the
    data given — the (dequantised) training split when called from
    :func:`rdlab.evaluate.evaluate_subject`. :func:`fit_shared_sigma2s` for a stack.
    """
    return fit_shared_sigma2s(Alone(model), x, batch_size, [seed])[0]


def fit_shared_sigma2s(
    stack: ModelStack, x: Tensor, batch_size: int, seeds: list[int]
) -> list[float]:
    """:func:`fit_shared_sigma2` of every member of ``stack`` in one pass (its own seed each)."""
    total = torch.zeros(stack.k, dtype=torch.float64, device=x.device)
    gens = member_generators(seeds, x.device)
    with eval_mode(*stack.models):
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            out = stack.sample(xb, gens)
            for j in range(stack.k):
                total[j] += terms.squared_error(xb, out.x_mean[j]).double().sum()
    return [v / max(1, x[0].numel() * x.shape[0]) for v in total.tolist()]


def decoder_log_sigma(
    policy: SigmaPolicy, x: Tensor, out: VAEOutput, shared_log_sigma: float | None
) -> Tensor:
    """log σ of the decoder density: the shared σ* when given, else the policy's own σ(z)."""
    if shared_log_sigma is not None:
        return x.new_tensor(shared_log_sigma)
    return policy.log_sigma(x, out)


def _log_weights(
    stack: ModelStack,
    policies: list[SigmaPolicy],
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    k: int,
    shared_log_sigmas: list[float | None],
    gens: list[torch.Generator],
) -> Tensor:
    """log w for k importance samples of each example in x, every member: [K, k, B], float64.
    ``mu``, ``logvar``: [K, B, J]; member m's ε from ``gens[m]``, [k, B, J] per draw."""
    b = x.shape[0]
    eps = member_randn(gens, (k, *mu.shape[1:]), mu)
    z = mu.unsqueeze(1) + eps * torch.exp(0.5 * logvar).unsqueeze(1)  # [K, k, B, J]
    zf = z.reshape(stack.k, k * b, -1)
    x_mean, feats = stack.decode(zf)
    xr = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
    xd = xr.double()
    rows = []
    for m, (policy, shared) in enumerate(zip(policies, shared_log_sigmas, strict=True)):
        out = VAEOutput(
            mu_z=mu[m].repeat(k, 1),
            logvar_z=logvar[m].repeat(k, 1),
            z=zf[m],
            x_mean=x_mean[m],
            features=feats[m],
        )
        ls = decoder_log_sigma(policy, xr, out, shared)
        log_px = -terms.gaussian_nll(xd, x_mean[m].double(), ls.double())
        # log p(z) − log q(z|x): the ½ log 2π constants cancel; ε keeps it exact for tiny σ_z.
        e, zm = eps[m].double(), z[m].double()
        log_pz_qz = 0.5 * (e.pow(2) - zm.pow(2) + logvar[m].double()).sum(dim=-1)
        rows.append(log_px.reshape(k, b) + log_pz_qz)
    return torch.stack(rows)


def iwae_bound(
    model: VAEModel,
    policy: SigmaPolicy,
    x: Tensor,
    k: int,
    *,
    shared_log_sigma: float | None = None,
    seed: int = 0,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> IWAEResult:
    """L_K averaged over the examples of x (nats per example), and L_1 on the same draws."""
    return iwae_bounds(
        Alone(model),
        [policy],
        x,
        k,
        shared_log_sigmas=[shared_log_sigma],
        seeds=[seed],
        max_elements=max_elements,
    )[0]


def iwae_bounds(
    stack: ModelStack,
    policies: list[SigmaPolicy],
    x: Tensor,
    k: int,
    *,
    shared_log_sigmas: list[float | None],
    seeds: list[int],
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> list[IWAEResult]:
    """:func:`iwae_bound` of every member of ``stack`` at once: one decode of all members'
    importance samples per chunk, member m's draws from its own stream seeded by
    ``seeds[m]``. Chunks are sized per member as for a model alone, so each member sees its
    lone run's draws (memory: K chunks at a time)."""
    if k < 1 or x.shape[0] == 0:
        raise ValueError(f"iwae_bound needs k ≥ 1 and examples, got k={k}, n={x.shape[0]}")
    n = x.shape[0]
    lse_sum = torch.zeros(stack.k, dtype=torch.float64, device=x.device)
    elbo_sum = torch.zeros(stack.k, dtype=torch.float64, device=x.device)
    gens = member_generators(seeds, x.device)
    with eval_mode(*stack.models, *policies):
        rows = max(1, max_elements // _elements_per_row(stack.models[0], x))
        b = min(n, rows)
        kc = max(1, min(k, rows // b))
        for i in range(0, n, b):
            xb = x[i : i + b]
            mu, logvar = stack.encode(xb)
            acc = torch.full(
                (stack.k, xb.shape[0]), -math.inf, dtype=torch.float64, device=x.device
            )
            for j in range(0, k, kc):
                lw = _log_weights(
                    stack, policies, xb, mu, logvar, min(kc, k - j), shared_log_sigmas, gens
                )
                acc = torch.logaddexp(acc, torch.logsumexp(lw, dim=1))
                elbo_sum += lw.sum(dim=(1, 2))
            lse_sum += acc.sum(dim=1)
    return [
        IWAEResult(iwae=lse / n - math.log(k), elbo=el / (n * k), k=k, n=n)
        for lse, el in zip(lse_sum.tolist(), elbo_sum.tolist(), strict=True)
    ]


def _elements_per_row(model: VAEModel, x: Tensor) -> int:
    """Scalars one decoded importance sample holds: x, μ_x and the decoder features."""
    z = torch.zeros(1, model.latent_dim, device=x.device, dtype=x.dtype)
    x_mean, feats = model.decode(z)
    return int(x[0].numel() + x_mean.numel() + feats.numel())
