"""``learned_pixel``: one learned log σ per data dimension, not input-dependent (σ-VAE).

Every dimension's log σ starts at ``init`` and learns at ``lr`` (None: ``train.lr``); each
has as far to travel as ``learned_scalar``'s one, so the default is the same
(:data:`~rdlab.objectives.sigma.learned_scalar.LEARNED_SIGMA_LR`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy
from rdlab.objectives.sigma.learned_scalar import LearnedOptions


@SIGMA_POLICIES.register("learned_pixel")
class LearnedPixel(SigmaPolicy):
    Options = LearnedOptions
    per_dimension = True
    learned = True

    def __init__(
        self, min_log_sigma: float | None = -6.0, init: float = 0.0, lr: float | None = None
    ) -> None:
        super().__init__(min_log_sigma)
        self.init = float(init)
        self.lr = lr
        self.raw = nn.Parameter(torch.zeros(0))

    def setup(self, model: VAEModel, epochs: int) -> None:
        # The shape is only known once the data is: [1, *data_shape].
        ref = next(model.parameters(), None)
        self.raw = nn.Parameter(
            torch.full(
                (1, *model.data_shape),
                self.init,
                dtype=None if ref is None else ref.dtype,
                device=None if ref is None else ref.device,
            )
        )

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        return self.floor(self.raw)
