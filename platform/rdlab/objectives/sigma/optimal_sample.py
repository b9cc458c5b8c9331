"""``optimal_sample``: BS-VAE's (000) per-example optimal variance.

σ_i² = mean_d (x_id − μ_id)², so NLL_i = D/2 · (log 2πσ_i² + 1): the decoder variance is
set by each example's own error, and β stays a separate knob on the rate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy
from rdlab.objectives.terms import flat, per_example


@SIGMA_POLICIES.register("optimal_sample")
class OptimalSample(SigmaPolicy):
    data_dependent = True

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        s2 = flat(x - out.x_mean).pow(2).mean(dim=1)
        return per_example(self.floor(0.5 * torch.log(s2.clamp_min(1e-30))), x)
