"""``staged``: 003 Algorithm 1, variance prediction learned in two stages.

Stage 1 (``stage1: learned``, the default, as Algorithm 1): one global σ, initialised at
σ = 1 (``init``: log σ = 0) and updated by the optimiser together with the model on the
ELBO of eq. 9, at its own learning rate ``lr`` (None: ``train.lr``; the default is
``learned_scalar``'s, for the same reason: Adam moves log σ by about lr per step).
``stage1: closed_form`` uses the closed-form shared σ*² of eq. 10 instead (the batch's mean
squared error; at evaluation the last epoch's average), with ``detach`` as
``optimal_global``'s.

Stage 1 ends after the first epoch at which it has **converged** — the epoch-to-epoch
change of the stage-1 log σ (read after each epoch) has stayed below ``tol`` for
``patience`` consecutive epochs — or after ``stage1_epochs`` epochs (default: half the
trial's), whichever comes first (Algorithm 1's "until a condition of convergence", stated).
``tol: 0`` turns the condition off: the switch is then at ``stage1_epochs`` exactly.

Stage 2 freezes the stage-1 σ and adds the input-dependent per-dimension head σ(z)
(§3.4), floored at the frozen σ (and at ``min_log_sigma``) so the prediction cannot get
stuck at tiny variances. It continues from stage 1's optimum, as 003 says the model
parameters do: the head predicts log σ relative to the floor, starting ``START_GAP`` below
it, so the first stage-2 σ is the floor's softplus image of that, about 1.13 σ_stage1 (a
zero-initialised head read as log σ directly would restart at σ ≈ 1, throwing away stage
1's calibration when σ ≪ 1). The head trains at ``train.lr``, like the decoder it copies.

Packed trials: stage and floor are read from buffers in Python, so packs loop over staged
members (rdlab.train.packed) instead of vmapping them.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput, new_head_like
from rdlab.objectives.sigma.base import SIGMA_POLICIES, ErrorTracker, SigmaPolicy
from rdlab.objectives.sigma.learned_scalar import LEARNED_SIGMA_LR
from rdlab.objectives.terms import soft_floor

START_GAP = 2.0  # stage 2 starts at log σ = floor + softplus(−2) ≈ floor + 0.13


class StagedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stage1: Literal["learned", "closed_form"] = "learned"
    stage1_epochs: int | None = Field(None, ge=0)  # the most stage-1 epochs; None: half
    tol: float = Field(0.01, ge=0.0, le=10.0)  # converged: |Δ log σ| per epoch < tol …
    patience: int = Field(2, ge=1)  # … for this many consecutive epochs
    init: float = Field(0.0, ge=-20.0, le=20.0)  # stage-1 initial log σ (Algorithm 1: σ = 1)
    lr: float | None = Field(LEARNED_SIGMA_LR, gt=0.0, le=10.0)  # stage-1 σ; None: train.lr
    detach: bool = False  # closed_form only: no gradient through σ*²

    @model_validator(mode="after")
    def _detach_needs_closed_form(self) -> StagedOptions:
        if self.detach and self.stage1 != "closed_form":
            raise ValueError("detach applies to stage1: closed_form only")
        return self


@SIGMA_POLICIES.register("staged")
class Staged(SigmaPolicy):
    Options = StagedOptions
    per_dimension = True
    epoch: Tensor
    stage2_from: Tensor
    frozen: Tensor
    previous: Tensor
    calm: Tensor

    def __init__(
        self,
        min_log_sigma: float | None = -6.0,
        stage1: str = "learned",
        stage1_epochs: int | None = None,
        tol: float = 0.01,
        patience: int = 2,
        init: float = 0.0,
        lr: float | None = None,
        detach: bool = False,
    ) -> None:
        super().__init__(min_log_sigma)
        self.stage1 = stage1
        self.stage1_requested = stage1_epochs
        self.tol = tol
        self.patience = patience
        self.lr = lr
        self.detach = detach
        if stage1 == "learned":
            self.raw = nn.Parameter(torch.tensor(float(init)))
        self.tracker = ErrorTracker()
        self.head: nn.Module = nn.Identity()
        nan = float("nan")
        # Buffers, so a resumed trial is in the same stage with the same floor.
        self.register_buffer("epoch", torch.tensor(0))
        self.register_buffer("stage2_from", torch.tensor(stage1_epochs or 0))
        self.register_buffer("frozen", torch.tensor(nan, dtype=torch.float64))  # stage-1 log σ
        self.register_buffer("previous", torch.tensor(nan, dtype=torch.float64))
        self.register_buffer("calm", torch.tensor(0))  # epochs in a row with |Δ| < tol

    @property
    def data_dependent(self) -> bool:  # type: ignore[override]
        return self.in_stage1() and self.stage1 == "closed_form"

    @property
    def learned(self) -> bool:  # type: ignore[override]
        return not self.data_dependent

    def setup(self, model: VAEModel, epochs: int) -> None:
        if self.stage1_requested is None:
            self.stage2_from.fill_(max(1, epochs // 2))
        self.head = new_head_like(model, zero=True)

    def sigma_parameters(self) -> list[tuple[list[nn.Parameter], float | None]]:
        """The stage-1 σ at ``lr``; the stage-2 head at ``train.lr``, like the decoder."""
        groups: list[tuple[list[nn.Parameter], float | None]] = []
        if self.stage1 == "learned":
            groups.append(([self.raw], self.lr))
        head = list(self.head.parameters())
        if head:
            groups.append((head, None))
        return groups

    def in_stage1(self) -> bool:
        return int(self.epoch) < int(self.stage2_from)

    def start_epoch(self, epoch: int) -> None:
        self.epoch.fill_(epoch)

    def stage1_log_sigma(self) -> float:
        """The stage-1 σ's log now: the learned one, or the last epoch's closed-form σ*."""
        if self.stage1 == "learned":
            return float(self.floor(self.raw.detach()))
        if not self.tracker.known():
            return math.nan
        return float(self.floor(0.5 * torch.log(self.tracker.sigma2.clamp_min(1e-30))))

    def end_epoch(self, epoch: int) -> None:
        if not self.in_stage1():
            return
        if self.stage1 == "closed_form":
            self.tracker.finish_epoch()
        now = self.stage1_log_sigma()
        change = abs(now - float(self.previous))  # NaN after the first epoch: not calm
        self.calm.fill_(int(self.calm) + 1 if change < self.tol else 0)
        self.previous.fill_(now)
        if int(self.calm) >= self.patience:  # converged: stage 2 from the next epoch
            self.stage2_from.fill_(min(int(self.stage2_from), epoch + 1))
        if epoch + 1 >= int(self.stage2_from):
            self.frozen.fill_(now)

    def stage2_floor(self) -> float | None:
        floors = [f for f in (self.min_log_sigma,) if f is not None]
        if math.isfinite(float(self.frozen)):
            floors.append(float(self.frozen))
        return max(floors) if floors else None

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        if self.in_stage1():
            if self.stage1 == "learned":
                return self.floor(self.raw)
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
        out = {"stage": 1.0 if self.in_stage1() else 2.0}
        s1 = self.stage1_log_sigma() if self.in_stage1() else float(self.frozen)
        if math.isfinite(s1):
            out["stage1_sigma"] = math.exp(s1)
        return out
