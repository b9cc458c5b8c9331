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

from rdlab.evaluate._util import eval_mode, seeded
from rdlab.model import VAEModel, VAEOutput
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
    :func:`rdlab.evaluate.evaluate_trial`.
    """
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    with eval_mode(model), seeded(seed, x.device):
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            out = model(xb, sample=True)
            total += terms.squared_error(xb, out.x_mean).double().sum()
    return float(total) / max(1, x[0].numel() * x.shape[0])


def decoder_log_sigma(
    policy: SigmaPolicy, x: Tensor, out: VAEOutput, shared_log_sigma: float | None
) -> Tensor:
    """log σ of the decoder density: the shared σ* when given, else the policy's own σ(z)."""
    if shared_log_sigma is not None:
        return x.new_tensor(shared_log_sigma)
    return policy.log_sigma(x, out)


def _log_weights(
    model: VAEModel,
    policy: SigmaPolicy,
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    k: int,
    shared_log_sigma: float | None,
) -> Tensor:
    """log w for k importance samples of each example in x: [k, B], float64."""
    b = x.shape[0]
    eps = torch.randn(k, *mu.shape, device=mu.device, dtype=mu.dtype)
    z = mu + eps * torch.exp(0.5 * logvar)  # [k, B, J]
    zf = z.reshape(k * b, -1)
    x_mean, feats = model.decode(zf)
    xr = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
    out = VAEOutput(
        mu_z=mu.repeat(k, 1), logvar_z=logvar.repeat(k, 1), z=zf, x_mean=x_mean, features=feats
    )
    ls = decoder_log_sigma(policy, xr, out, shared_log_sigma)
    log_px = -terms.gaussian_nll(xr.double(), x_mean.double(), ls.double())
    # log p(z) − log q(z|x): the ½ log 2π constants cancel; ε keeps it exact for tiny σ_z.
    log_pz_qz = 0.5 * (eps.double().pow(2) - z.double().pow(2) + logvar.double()).sum(dim=-1)
    return log_px.reshape(k, b) + log_pz_qz


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
    if k < 1 or x.shape[0] == 0:
        raise ValueError(f"iwae_bound needs k ≥ 1 and examples, got k={k}, n={x.shape[0]}")
    n = x.shape[0]
    lse_sum = 0.0
    elbo_sum = 0.0
    with eval_mode(model, policy), seeded(seed, x.device):
        rows = max(1, max_elements // _elements_per_row(model, x))
        b = min(n, rows)
        kc = max(1, min(k, rows // b))
        for i in range(0, n, b):
            xb = x[i : i + b]
            mu, logvar = model.encode(xb)
            acc = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
            lw_sum = torch.zeros((), dtype=torch.float64, device=x.device)
            for j in range(0, k, kc):
                lw = _log_weights(model, policy, xb, mu, logvar, min(kc, k - j), shared_log_sigma)
                acc = torch.logaddexp(acc, torch.logsumexp(lw, dim=0))
                lw_sum += lw.sum()
            lse_sum += float(acc.sum())
            elbo_sum += float(lw_sum)
    return IWAEResult(iwae=lse_sum / n - math.log(k), elbo=elbo_sum / (n * k), k=k, n=n)


def _elements_per_row(model: VAEModel, x: Tensor) -> int:
    """Scalars one decoded importance sample holds: x, μ_x and the decoder features."""
    z = torch.zeros(1, model.latent_dim, device=x.device, dtype=x.dtype)
    x_mean, feats = model.decode(z)
    return int(x[0].numel() + x_mean.numel() + feats.numel())
