"""Fréchet distance between two sets of examples in a feature space (Heusel et al. 2017).

    FD² = ‖m₁ − m₂‖² + Tr(C₁ + C₂ − 2 (C₁^{½} C₂ C₁^{½})^{½})

the squared 2-Wasserstein distance between the Gaussians fitted to the two feature sets;
like FID, the squared value is reported. The trace of the matrix square root is computed
from the eigenvalues of the symmetric C₁^{½} C₂ C₁^{½} (float64, negative round-off clipped),
which is exact for singular covariances and gives 0 for a set against itself.

Feature spaces, without internet:
- datasets with labels (``digits``): the penultimate layer of a small classifier trained
  in-project (:mod:`rdlab.evaluate.classifier`), so ``fd_*`` is a FID-like score;
- unlabelled vector data (``toy_manifold``, ``hypersphere``): the raw data itself (a 2-D /
  D-dimensional Fréchet distance between the point clouds);
- InceptionV3 only from a local weights file (:mod:`rdlab.evaluate.inception`).

:func:`frechet_interval` puts a percentile bootstrap interval on a distance: both feature
sets resampled with replacement (independently), the distance recomputed each time. It
measures how much the number owes to which examples were drawn, the noise a comparison of
two distances must clear (``eval.fd_bootstrap``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from rdlab.evaluate._util import one_blas_thread

FeatureFn = Callable[[Tensor], Tensor]  # x [N, *shape] → features [N, F]


def gaussian_stats(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and covariance [F, F] (divide by N − 1) of features [N, F], float64."""
    f = _as_array(features)
    mean = f.mean(axis=0)
    centred = f - mean
    cov = centred.T @ centred / max(1, f.shape[0] - 1)
    return mean, cov


def frechet_distance(
    mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray
) -> float:
    """FD² between N(mean1, cov1) and N(mean2, cov2)."""
    small = cov1.shape[0] <= 256  # Inception's 2048-wide matrices do gain from threads
    with one_blas_thread() if small else contextlib.nullcontext():
        w1, v1 = np.linalg.eigh((cov1 + cov1.T) / 2)
        sqrt1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
        m = sqrt1 @ cov2 @ sqrt1
        eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mean1 - mean2
    fd = float(diff @ diff) + float(np.trace(cov1)) + float(np.trace(cov2)) - 2.0 * tr_sqrt
    return max(fd, 0.0)


def frechet_between(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """FD² between two feature sets [N₁, F] and [N₂, F]."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def frechet_interval(
    a: Tensor | np.ndarray,
    b: Tensor | np.ndarray,
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval (two-sided ``level``) of FD² between feature sets
    [N₁, F] and [N₂, F]: each resample draws N₁ rows of ``a`` and N₂ rows of ``b`` with
    replacement. (NaN, NaN) when either set has fewer than two rows or ``resamples`` < 1."""
    fa, fb = _as_array(a), _as_array(b)
    if resamples < 1 or fa.shape[0] < 2 or fb.shape[0] < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        ia = rng.integers(0, fa.shape[0], fa.shape[0])
        ib = rng.integers(0, fb.shape[0], fb.shape[0])
        draws[i] = frechet_distance(*gaussian_stats(fa[ia]), *gaussian_stats(fb[ib]))
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _as_array(features: Tensor | np.ndarray) -> np.ndarray:
    f = features.detach().double().cpu().numpy() if isinstance(features, Tensor) else features
    f = np.asarray(f, dtype=np.float64)
    return f.reshape(f.shape[0], -1)


def raw_features(x: Tensor) -> Tensor:
    """The data as its own feature space: examples flattened to vectors."""
    return x.reshape(x.shape[0], -1)


def batched_features(fn: FeatureFn, x: Tensor, batch_size: int) -> Tensor:
    """``fn`` over x in batches, without gradients: [N, F]."""
    with torch.no_grad():
        return torch.cat([fn(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
