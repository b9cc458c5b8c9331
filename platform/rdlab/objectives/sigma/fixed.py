"""``fixed``: a constant σ (β-VAE, F-VAE of 004). ``value`` is a standard deviation.

``value: 0.7071`` is σ² = ½, i.e. plain summed squared error plus D·½ log π. The floor
does not apply: a constant cannot collapse, and the paper's values must stay exact.
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor

from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy


class FixedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float = Field(1.0, gt=0.0)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be finite, got {v}")
        return v


@SIGMA_POLICIES.register("fixed")
class Fixed(SigmaPolicy):
    Options = FixedOptions
    _log_sigma: Tensor

    def __init__(self, min_log_sigma: float | None = -6.0, value: float = 1.0) -> None:
        super().__init__(min_log_sigma)
        self.value = value
        self.register_buffer("_log_sigma", torch.tensor(math.log(value)))

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        ls: Tensor = self._log_sigma
        return ls.to(x.dtype)
