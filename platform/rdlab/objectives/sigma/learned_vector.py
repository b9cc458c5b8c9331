"""``learned_vector``: the decoder outputs log σ(z) per dimension (LV-VAE of 004 eq. 11,
003 §3.4). The head is a fresh copy of the model's output head over the decoder features,
its last layer's weights zeroed and its bias set to ``init``, so training starts at
log σ = ``init`` everywhere (0: σ = 1, 004's start). ``lr`` is the head's learning rate
(None: ``train.lr``): the head is a network like the decoder's mean head, so by default it
learns at the model's rate; a scalar σ's larger rate would move each of its weights, and
so log σ, by far more than a step.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput, new_head_like
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy


class LearnedVectorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    init: float = Field(0.0, ge=-20.0, le=20.0)  # initial log σ: the head's last bias
    lr: float | None = Field(None, gt=0.0, le=10.0)  # the head's learning rate; None: train.lr


def set_output_bias(head: nn.Module, value: float) -> None:
    """Fill the bias of the head's last weighted layer (its output when the weights are 0)."""
    last = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    if last and last[-1].bias is not None:
        with torch.no_grad():
            last[-1].bias.fill_(value)


@SIGMA_POLICIES.register("learned_vector")
class LearnedVector(SigmaPolicy):
    Options = LearnedVectorOptions
    per_dimension = True
    learned = True

    def __init__(
        self, min_log_sigma: float | None = -6.0, init: float = 0.0, lr: float | None = None
    ) -> None:
        super().__init__(min_log_sigma)
        self.init = float(init)
        self.lr = lr
        self.head: nn.Module = nn.Identity()

    def setup(self, model: VAEModel, epochs: int) -> None:
        self.head = new_head_like(model, zero=True)
        set_output_bias(self.head, self.init)

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        raw: Tensor = self.head(out.features)
        return self.floor(raw)
