"""Latent diagnostics of a split: active units, the rate per latent dimension, and 003 §3.5's
gap between the aggregate posterior and the prior.

- Active units (Burda et al. 2016 §5.2): A_u = Cov_x(E_q[u|x]) over the split, with
  E_q[z|x] = μ_z; a unit is active when A_u > 0.01. Population variance (divide by N).
- Rate per dimension: mean over examples of ½ (μ_j² + σ_j² − 1 − log σ_j²) (DESIGN §2).
- Aggregate posterior (003 eq. 12–13): q(z) = mean_x q(z|x) is approximated by a Gaussian
  mixture fitted by EM to codes drawn from it, z ~ q(z|x) for the split's examples (enough
  draws per example for ≥ 2048 codes); ``agg_kl`` = KL(GMM ‖ N(0, I)) by Monte Carlo over
  a fixed number of seeded GMM samples (003 Table 1 uses 10k).

Codes, not means μ_z: the mixture must approximate q(z) itself. Fitted to the means, an
inactive unit (μ_j ≡ 0, σ_j = 1: its aggregate IS the prior) becomes a spike of variance
``reg_covar`` and adds ~½ log(1/reg_covar) ≈ 7 nats to ``agg_kl``, so a collapsed model
(high β, 004's hypersphere) would report the largest gap exactly when there is none.

Covariance type: ``diag``. The evaluated splits are small (digits' val split holds 180
examples for 32 components): full J×J covariances fitted to a few examples' codes per
component are near-singular, their densities spike and the KL estimate measures that
degeneracy rather than the gap. A mixture of diagonal Gaussians still bends along
correlated directions through its components, fits in milliseconds, and is stable.
Components are capped at the number of codes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from rdlab.evaluate._util import eval_mode, one_blas_thread
from rdlab.model import Alone, ModelStack, VAEModel
from rdlab.objectives import terms

if TYPE_CHECKING:
    from sklearn.mixture import GaussianMixture

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: Cov_x(E_q[u|x]) > 10⁻²
KL_SAMPLES = 10_000  # 003 Table 1: Monte Carlo over 10k samples
MIN_CODES = 2048  # codes drawn from q(z) to fit the mixture (≥ 1 per example, ≤ 16)
COVARIANCE_TYPE = "diag"
LOG_2PI = math.log(2.0 * math.pi)


def encode_split(model: VAEModel, x: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """(μ_z, log σ_z²) of every example, [N, J] each, in batches without gradients."""
    mu, logvar = encode_members(Alone(model), x, batch_size)
    return mu[0], logvar[0]


def encode_members(stack: ModelStack, x: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """:func:`encode_split` for every member of a stack: [K, N, J] each."""
    mus, logvars = [], []
    with eval_mode(*stack.models):
        for i in range(0, x.shape[0], batch_size):
            mu, logvar = stack.encode(x[i : i + batch_size])
            mus.append(mu)
            logvars.append(logvar)
    return torch.cat(mus, dim=1), torch.cat(logvars, dim=1)


def active_units(mu: Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies over the split (> threshold)."""
    if mu.shape[0] < 2:
        return 0
    var = mu.double().var(dim=0, unbiased=False)
    return int((var > threshold).sum())


def rate_per_dim(mu: Tensor, logvar: Tensor) -> list[float]:
    """The split's mean rate of each latent dimension (nats); they sum to ``rate``."""
    return [float(v) for v in terms.rate_per_dim(mu.double(), logvar.double()).mean(dim=0)]


def posterior_codes(
    mu: Tensor, logvar: Tensor, seed: int = 0, min_codes: int = MIN_CODES
) -> np.ndarray:
    """Codes z ~ q(z|x), S per example (S·N ≥ ``min_codes``, 1 ≤ S ≤ 16): samples of q(z)."""
    n = mu.shape[0]
    s = max(1, min(16, math.ceil(min_codes / max(n, 1))))
    g = torch.Generator().manual_seed(seed)
    m, lv = mu.detach().double().cpu(), logvar.detach().double().cpu()
    eps = torch.randn(s, *m.shape, generator=g, dtype=torch.float64)
    return (m + eps * torch.exp(0.5 * lv)).reshape(s * n, -1).numpy()


def fit_gmm(z: np.ndarray, components: int, seed: int = 0) -> GaussianMixture:
    """EM fit of a ``diag`` Gaussian mixture to latent codes [N, J] (003 eq. 13)."""
    from sklearn.mixture import GaussianMixture

    n = z.shape[0]
    if n < 2:
        raise ValueError(f"a mixture needs at least 2 latent codes, got {n}")
    gmm = GaussianMixture(
        n_components=max(1, min(components, n)),
        covariance_type=COVARIANCE_TYPE,
        init_params="k-means++",  # seeding only, no full k-means run: fast, still seeded
        random_state=seed,
    )
    with one_blas_thread():
        gmm.fit(np.asarray(z, dtype=np.float64))
    return gmm


def sample_gmm(gmm: GaussianMixture, n: int, seed: int = 0) -> np.ndarray:
    """n codes from the fitted ``diag`` mixture [n, J], drawn in random component order."""
    rng = np.random.default_rng(seed)
    weights = np.asarray(gmm.weights_, dtype=np.float64)
    comp = rng.choice(weights.shape[0], size=n, p=weights / weights.sum())
    std = np.sqrt(np.asarray(gmm.covariances_, dtype=np.float64))
    means = np.asarray(gmm.means_, dtype=np.float64)
    return means[comp] + std[comp] * rng.standard_normal((n, means.shape[1]))


def gmm_prior_kl(gmm: GaussianMixture, samples: int = KL_SAMPLES, seed: int = 0) -> float:
    """KL(GMM ‖ N(0, I)) ≈ mean over z ~ GMM of log GMM(z) − log N(z; 0, I), in nats."""
    z = sample_gmm(gmm, samples, seed)
    with one_blas_thread():
        log_gmm = gmm.score_samples(z)
    log_prior = -0.5 * (z**2).sum(axis=1) - 0.5 * z.shape[1] * LOG_2PI
    return float(np.mean(log_gmm - log_prior))
