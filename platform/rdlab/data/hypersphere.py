"""``hypersphere``: uniform on S^{D−1}(R), 004 Theorem 1's dataset. A VAE with fixed
σ ≥ R/√(D−1) cannot capture it: its decoder means collapse to the centre.

Continuous data: no ``levels``, so nothing is dequantised and no bits per dimension."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from rdlab.data.base import DATASETS, GeneratedSource


class HypersphereOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dim: int = Field(16, ge=2, le=1 << 16)
    radius: float = Field(1.0, gt=0.0)
    batches_per_epoch: int = Field(100, ge=1)
    n_eval: int = Field(2000, ge=1)


@DATASETS.register("hypersphere")
class Hypersphere(GeneratedSource):
    Options = HypersphereOptions

    def __init__(
        self,
        dim: int = 16,
        radius: float = 1.0,
        batches_per_epoch: int = 100,
        n_eval: int = 2000,
        **kw: object,
    ) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.shape = (dim,)
        self.radius = radius
        self.batches_per_epoch = batches_per_epoch
        self.n_eval = n_eval

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        g = torch.randn(n, self.shape[0], generator=generator)
        return self.radius * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
