"""``learned_scalar``: one learned log σ shared by all dimensions (σ-VAE shared, LS-VAE 004).

Initialised at ``init`` (log σ = 0, σ = 1, as 004 §4 does); 004 reads its decrease during
training as self-annealing.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy


class LearnedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    init: float = Field(0.0, ge=-20.0, le=20.0)  # initial log σ


@SIGMA_POLICIES.register("learned_scalar")
class LearnedScalar(SigmaPolicy):
    Options = LearnedOptions

    def __init__(self, min_log_sigma: float | None = -6.0, init: float = 0.0) -> None:
        super().__init__(min_log_sigma)
        self.raw = nn.Parameter(torch.tensor(float(init)))

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        return self.floor(self.raw)

    def describe(self) -> dict[str, float]:
        return {"sigma": float(self.floor(self.raw.detach()).exp())}
