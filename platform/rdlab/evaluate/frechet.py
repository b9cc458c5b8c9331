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
    f = np.asarray(
        features.detach().double().cpu().numpy() if isinstance(features, Tensor) else features,
        dtype=np.float64,
    )
    f = f.reshape(f.shape[0], -1)
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


def raw_features(x: Tensor) -> Tensor:
    """The data as its own feature space: examples flattened to vectors."""
    return x.reshape(x.shape[0], -1)


def batched_features(fn: FeatureFn, x: Tensor, batch_size: int) -> Tensor:
    """``fn`` over x in batches, without gradients: [N, F]."""
    with torch.no_grad():
        return torch.cat([fn(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
