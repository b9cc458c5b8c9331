"""The numbers behind a trial's pictures, without drawing (STYLE §10; :mod:`.render` draws).

- reconstructions beside their inputs, samples decoded from the prior N(0, I) and from the
  GMM approximation of the aggregate posterior (003 §3.5);
- for per-dimension σ policies, the σ map of reconstructions and of generated samples: 003
  §5.4 reads σ(z) as the model's uncertainty (Figs. 3–4);
- the σ-versus-epoch curve from the training history, which 004 §4.3 reads as
  self-annealing (a learned σ starts large and falls as the reconstruction improves);
- for 2-D data, 004 Fig. 4's layout: data with reconstructions, and data with generated
  samples x = μ_x(z) + σ(z)·ε (the decoder noise included, as 004 draws them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rdlab.evaluate._util import eval_mode, seeded
from rdlab.evaluate.iwae import decoder_log_sigma
from rdlab.model import VAEModel, VAEOutput
from rdlab.objectives.sigma.base import SigmaPolicy

N_RECON = 16  # image pairs shown
N_SAMPLES = 64  # an 8 × 8 grid of samples
CURVE_KEYS = {  # history key → label; log σ keys are shown as σ = exp(mean log σ)
    "val/log_sigma_x": "val: exp(mean log σ_x)",
    "train/log_sigma_x": "train: exp(mean log σ_x)",
    "policy/sigma": "policy: shared σ",
}


@dataclass
class Decoded:
    """Decoder means and the decoder's σ for a set of latent codes (numpy, [N, *shape])."""

    mean: np.ndarray
    sigma: np.ndarray  # broadcast to mean's shape


@dataclass
class PictureData:
    kind: str  # "image" | "points" (2-D data) | "vectors" (other vector data)
    inputs: np.ndarray
    recon: Decoded
    prior: Decoded
    gmm: Decoded | None
    sigma_maps: bool  # σ varies over dimensions and with z: draw the σ maps
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    seed: int = 0


def data_kind(shape: tuple[int, ...], is_image: bool) -> str:
    if is_image and len(shape) == 3:
        return "image"
    return "points" if shape == (2,) else "vectors"


def decode(
    model: VAEModel, policy: SigmaPolicy, z: Tensor, shared_log_sigma: float | None
) -> Decoded:
    """μ_x(z) and σ(z) under the trial's density (the shared σ* for data-dependent policies;
    x's own error is unknown for generated samples, and no policy here reads x otherwise)."""
    with eval_mode(model, policy):
        x_mean, feats = model.decode(z)
        out = VAEOutput(mu_z=z, logvar_z=torch.zeros_like(z), z=z, x_mean=x_mean, features=feats)
        ls = decoder_log_sigma(policy, x_mean, out, shared_log_sigma).expand_as(x_mean)
    return Decoded(mean=_np(x_mean), sigma=_np(ls.exp()))


def sigma_curves(history: list[dict[str, float]]) -> dict[str, tuple[list[float], list[float]]]:
    """Per-epoch σ from the training history: {label: (epochs, σ)}; absent keys skipped."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for key, label in CURVE_KEYS.items():
        pts = [(h["epoch"], h[key]) for h in history if key in h and math.isfinite(h[key])]
        if len({v for _, v in pts}) < 2:  # absent, or constant (fixed σ): nothing to show
            continue
        ep = [float(e) for e, _ in pts]
        vals = [math.exp(v) if "log_sigma" in key else float(v) for _, v in pts]
        out[label] = (ep, vals)
    return out


def picture_data(
    model: VAEModel,
    policy: SigmaPolicy,
    x: Tensor,
    *,
    is_image: bool,
    z_gmm: Tensor | None,
    shared_log_sigma: float | None,
    history: list[dict[str, float]],
    seed: int = 0,
) -> PictureData:
    """Everything the pictures show, from a split x [N, *shape] and GMM codes [M, J]."""
    kind = data_kind(tuple(x.shape[1:]), is_image)
    n_in = N_RECON if kind == "image" else x.shape[0]
    n_gen = N_SAMPLES if kind == "image" else x.shape[0]
    inputs = x[:n_in]
    with eval_mode(model), seeded(seed, x.device):
        mu, _ = model.encode(inputs)
        z_prior = torch.randn(n_gen, model.latent_dim, device=x.device, dtype=x.dtype)
    recon = decode(model, policy, mu, shared_log_sigma)
    prior = decode(model, policy, z_prior, shared_log_sigma)
    gmm = None if z_gmm is None else decode(model, policy, z_gmm[:n_gen], shared_log_sigma)
    return PictureData(
        kind=kind,
        inputs=_np(inputs),
        recon=recon,
        prior=prior,
        gmm=gmm,
        sigma_maps=bool(policy.per_dimension) and not bool(policy.data_dependent),
        curves=sigma_curves(history),
        seed=seed,
    )


def image_grid(
    images: np.ndarray, cols: int, pad: int = 1, fill: float = 1.0, clip: bool = True
) -> np.ndarray:
    """Tile images [N, C, H, W] into one [rows·(H+pad)−pad, cols·(W+pad)−pad(, 3)] array.

    Grey images give a 2-D array; padding is ``fill`` (white; NaN shows as background in
    a colour map). Values are clipped to [0, 1] unless ``clip`` is off (σ maps)."""
    n, c, h, w = images.shape
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), fill, dtype=np.float32)
    for i in range(n):  # ≤ 64 tiles: a picture, not a per-example hot loop
        r, q = divmod(i, cols)
        tile = images[i].transpose(1, 2, 0)
        tile = np.clip(tile, 0.0, 1.0) if clip else tile
        grid[r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = tile
    return grid[..., 0] if c == 1 else grid


def noisy_samples(d: Decoded, seed: int = 0) -> np.ndarray:
    """x = μ_x + σ·ε: samples of the full generative model (004 Fig. 4 right)."""
    rng = np.random.default_rng(seed)
    return np.asarray(d.mean + d.sigma * rng.standard_normal(d.mean.shape), dtype=np.float64)


def norms(a: np.ndarray) -> np.ndarray:
    """‖x‖ of each example [N]: 004 Theorem 1 (hypersphere) shows means collapsing inward."""
    return np.asarray(np.linalg.norm(a.reshape(a.shape[0], -1), axis=1), dtype=np.float64)


def _np(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().float().cpu().numpy())
