"""``toy_manifold``: 004 §4's artificial problem — a 1D manifold in R² with heteroscedastic
noise in three regions (moderate, small, large), sampled anew for every batch.

The curve is (t, sin(πt)) for t ~ U[−1, 1], a cosine-like arc as in 004 Fig. 3; the
noise is isotropic Gaussian with std ``noise`` = (moderate, small, large) on the thirds
t < −⅓, −⅓ ≤ t < ⅓, t ≥ ⅓.

Continuous data: no ``levels``, so nothing is dequantised and no bits per dimension are
reported (likelihoods are densities in nats).
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat
from torch import Tensor

from rdlab.data.base import DATASETS, GeneratedSource


class ToyManifoldOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Noise std on the thirds t < −⅓, −⅓ ≤ t < ⅓, t ≥ ⅓ (moderate, small, large in 004).
    noise: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat] = (0.05, 0.01, 0.1)
    batches_per_epoch: int = Field(100, ge=1)
    n_eval: int = Field(2000, ge=1)


@DATASETS.register("toy_manifold")
class ToyManifold(GeneratedSource):
    Options = ToyManifoldOptions
    shape = (2,)

    def __init__(
        self,
        noise: tuple[float, float, float] = (0.05, 0.01, 0.1),
        batches_per_epoch: int = 100,
        n_eval: int = 2000,
        **kw: object,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.noise = tuple(float(v) for v in noise)
        self.batches_per_epoch = batches_per_epoch
        self.n_eval = n_eval

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        t = torch.rand(n, generator=generator) * 2.0 - 1.0
        region = (t >= -1.0 / 3.0).long() + (t >= 1.0 / 3.0).long()
        std = torch.tensor(self.noise)[region]
        curve = torch.stack([t, torch.sin(math.pi * t)], dim=1)
        return curve + std[:, None] * torch.randn(n, 2, generator=generator)
