"""``learned_vector``: the decoder outputs log σ(z) per dimension (LV-VAE of 004 eq. 11,
003 §3.4). The head is a fresh copy of the model's output head over the decoder features,
its last layer zeroed so training starts at σ = 1.
"""

from __future__ import annotations

from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput, new_head_like
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy


@SIGMA_POLICIES.register("learned_vector")
class LearnedVector(SigmaPolicy):
    per_dimension = True

    def __init__(self, min_log_sigma: float | None = -6.0) -> None:
        super().__init__(min_log_sigma)
        self.head: nn.Module = nn.Identity()

    def setup(self, model: VAEModel, epochs: int) -> None:
        self.head = new_head_like(model, zero=True)

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        raw: Tensor = self.head(out.features)
        return self.floor(raw)
