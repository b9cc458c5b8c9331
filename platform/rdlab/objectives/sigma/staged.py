"""``staged``: 003 Algorithm 1. Stage 1 learns with the closed-form shared σ*² (eq. 10);
stage 2 switches to an input-dependent per-dimension σ(z) (§3.4), floored at the σ*
reached in stage 1 so the prediction cannot get stuck at tiny variances.

Stage 2 continues from stage 1's optimum, as 003 says the model parameters do: the head
predicts log σ relative to the floor, starting ``START_GAP`` below it, so the first stage-2
σ is the floor's softplus image of that, about 1.13 σ* (a zero-initialised head read as
log σ directly would restart at σ ≈ 1, throwing away stage 1's calibration when σ* ≪ 1).
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput, new_head_like
from rdlab.objectives.sigma.base import SIGMA_POLICIES, ErrorTracker, SigmaPolicy
from rdlab.objectives.terms import soft_floor

START_GAP = 2.0  # stage 2 starts at log σ = floor + softplus(−2) ≈ floor + 0.13


class StagedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stage1_epochs: int | None = Field(None, ge=0)  # default: half the epochs
    detach: bool = False


@SIGMA_POLICIES.register("staged")
class Staged(SigmaPolicy):
    Options = StagedOptions
    per_dimension = True
    epoch: Tensor

    def __init__(
        self,
        min_log_sigma: float | None = -6.0,
        stage1_epochs: int | None = None,
        detach: bool = False,
    ) -> None:
        super().__init__(min_log_sigma)
        self.stage1_requested = stage1_epochs
        self.stage1_epochs = stage1_epochs or 0
        self.detach = detach
        self.tracker = ErrorTracker()
        self.head: nn.Module = nn.Identity()
        self.register_buffer("epoch", torch.tensor(0))

    @property
    def data_dependent(self) -> bool:  # type: ignore[override]
        return self.in_stage1()

    def setup(self, model: VAEModel, epochs: int) -> None:
        if self.stage1_requested is None:
            self.stage1_epochs = max(1, epochs // 2)
        self.head = new_head_like(model, zero=True)

    def in_stage1(self) -> bool:
        return int(self.epoch) < self.stage1_epochs

    def start_epoch(self, epoch: int) -> None:
        self.epoch.fill_(epoch)

    def end_epoch(self, epoch: int) -> None:
        if self.in_stage1():
            self.tracker.finish_epoch()

    def stage2_floor(self) -> float | None:
        floors = [f for f in (self.min_log_sigma,) if f is not None]
        if self.tracker.known():
            floors.append(0.5 * math.log(max(float(self.tracker.sigma2), 1e-30)))
        return max(floors) if floors else None

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        if self.in_stage1():
            sq = (x - out.x_mean).pow(2)
            self.tracker.update(sq)
            if not self.training and self.tracker.known():
                s2 = self.tracker.sigma2.to(x.dtype)
            else:
                s2 = sq.mean().detach() if self.detach else sq.mean()
            return self.floor(0.5 * torch.log(s2.clamp_min(1e-30)))
        raw: Tensor = self.head(out.features)
        floor = self.stage2_floor()
        if floor is None:
            return raw
        return soft_floor(raw + (floor - START_GAP), floor)

    def describe(self) -> dict[str, float]:
        return {"stage": 1.0 if self.in_stage1() else 2.0}
