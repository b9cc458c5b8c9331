"""``learned_scalar``: one learned log σ shared by all dimensions (σ-VAE shared, LS-VAE 004).

Initialised at ``init`` (log σ = 0, σ = 1, as 004 §4 does); 004 reads its decrease during
training as self-annealing. ``lr`` is the learning rate of log σ (None: ``train.lr``).

Why σ gets its own learning rate: Adam moves a parameter by about its learning rate per
step whatever the gradient's size, so log σ travels at most ≈ lr × steps. From σ = 1 to
a digits model's σ* ≈ 0.12 (log σ* ≈ −2.1) is ≥ 2 nats of log σ; at the model's 1e-3 that
takes ≥ 2,000 steps, while the default study trains 360 (30 epochs × 12). Until σ gets
there the reconstruction term is under-weighted (σ² ≈ 0.5 weighs the error like β ≈ 30
at σ*²), and the model encodes next to nothing. At ``LEARNED_SIGMA_LR`` log σ reaches σ*
within the first few epochs and then follows the model's error (docs/conventions.md gives the
measurements behind the value).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy

LEARNED_SIGMA_LR = 0.05  # log σ's Adam learning rate for learned σ parameters (see above)


class LearnedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    init: float = Field(0.0, ge=-20.0, le=20.0)  # initial log σ
    lr: float | None = Field(LEARNED_SIGMA_LR, gt=0.0, le=10.0)  # None: train.lr


@SIGMA_POLICIES.register("learned_scalar")
class LearnedScalar(SigmaPolicy):
    Options = LearnedOptions
    learned = True

    def __init__(
        self, min_log_sigma: float | None = -6.0, init: float = 0.0, lr: float | None = None
    ) -> None:
        super().__init__(min_log_sigma)
        self.lr = lr
        self.raw = nn.Parameter(torch.tensor(float(init)))

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        return self.floor(self.raw)

    def describe(self) -> dict[str, float]:
        return {"sigma": float(self.floor(self.raw.detach()).exp())}
