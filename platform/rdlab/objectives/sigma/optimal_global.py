"""``optimal_global``: the closed-form shared σ² that maximises the ELBO (003 eq. 10):
σ*² = mean over the batch and all dimensions of (x − μ_x)² — the calibrated decoder.

``detach`` stops the gradient through σ*² (the error then enters as MSE / 2σ*²). At
evaluation σ*² is the last training epoch's average, so a split's NLL does not depend on
how the split is batched.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SIGMA_POLICIES, ErrorTracker, SigmaPolicy


class OptimalGlobalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    detach: bool = False


@SIGMA_POLICIES.register("optimal_global")
class OptimalGlobal(SigmaPolicy):
    Options = OptimalGlobalOptions
    data_dependent = True

    def __init__(self, min_log_sigma: float | None = -6.0, detach: bool = False) -> None:
        super().__init__(min_log_sigma)
        self.detach = detach
        self.tracker = ErrorTracker()

    def end_epoch(self, epoch: int) -> None:
        self.tracker.finish_epoch()

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        sq = (x - out.x_mean).pow(2)
        self.tracker.update(sq)
        if not self.training and self.tracker.known():
            s2 = self.tracker.sigma2.to(x.dtype)
        else:
            s2 = sq.mean()
            if self.detach:
                s2 = s2.detach()
        return self.floor(0.5 * torch.log(s2.clamp_min(1e-30)))

    def describe(self) -> dict[str, float]:
        return {"sigma": float(self.tracker.sigma2.sqrt())} if self.tracker.known() else {}
