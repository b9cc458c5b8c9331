"""The σ-policy interface: how the decoder variance σ_x² is set or learned (DESIGN §3).

A policy turns (x, the model's output) into log σ_x, broadcastable against x; the NLL is
then always the same Gaussian with every constant kept (:func:`gaussian_nll`), so NLLs of
different policies compare. All policies take ``min_log_sigma``, a soft floor
(log σ ← m + softplus(log σ − m)) that keeps learned or estimated σ from collapsing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from rdlab.model import VAEModel, VAEOutput
from rdlab.objectives.terms import gaussian_nll, soft_floor
from rdlab.registry import SIGMA_POLICIES

__all__ = ["SIGMA_POLICIES", "ErrorTracker", "NoOptions", "SigmaPolicy"]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SigmaPolicy(nn.Module, ABC):
    """Base class of σ policies. One required method, :meth:`log_sigma`; the rest are hooks.

    ``data_dependent`` policies estimate σ from the reconstruction error itself; a proper
    density for them (IWAE) uses one shared σ* fitted on the training split instead.
    ``per_dimension`` policies give a σ that varies across data dimensions (σ maps).
    ``learned`` policies hold σ in parameters the optimiser trains (a scalar, a map, a
    head); their metrics report ``sigma_gap``, how far σ is from the closed-form optimum.
    Such a policy's ``lr`` (None: the model's ``train.lr``) is the learning rate of its
    parameters (:func:`rdlab.train.optim.build_optimizer`).
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    data_dependent: ClassVar[bool] = False
    per_dimension: ClassVar[bool] = False
    learned: ClassVar[bool] = False
    lr: float | None = None

    def __init__(self, min_log_sigma: float | None = -6.0) -> None:
        super().__init__()
        self.min_log_sigma = min_log_sigma

    def setup(self, model: VAEModel, epochs: int) -> None:
        """Hook: build heads (from ``model.make_output_head()``) once the model exists."""

    def start_epoch(self, epoch: int) -> None:
        """Hook: called before each training epoch (0-based)."""

    def end_epoch(self, epoch: int) -> None:
        """Hook: called after each training epoch, before validation."""

    @abstractmethod
    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        """log σ_x, floored, broadcastable against x ([B, *shape], [1, *shape], [B, 1, …])."""

    def sigma_parameters(self) -> list[tuple[list[nn.Parameter], float | None]]:
        """The policy's trainable parameters by learning rate, [(parameters, lr)], lr None
        meaning ``train.lr``. Default: all of them at ``self.lr``."""
        params = list(self.parameters())
        return [(params, self.lr)] if params else []

    def floor(self, log_sigma: Tensor) -> Tensor:
        return soft_floor(log_sigma, self.min_log_sigma)

    def nll(self, x: Tensor, out: VAEOutput) -> tuple[Tensor, Tensor]:
        """Per-example Gaussian NLL (nats) and the log σ used."""
        ls = self.log_sigma(x, out)
        return gaussian_nll(x, out.x_mean, ls), ls

    def describe(self) -> dict[str, float]:
        """Scalars worth logging (e.g. the current shared σ), by name."""
        return {}


class ErrorTracker(nn.Module):
    """Epoch average of the mean squared error per dimension: the shared σ*² of 003 eq. 10.

    Kept as buffers so it is checkpointed; evaluation uses the last finished epoch's value,
    which makes a split's NLL independent of how it is batched.
    """

    sigma2: Tensor
    acc: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("sigma2", torch.tensor(float("nan"), dtype=torch.float64))
        self.register_buffer("acc", torch.zeros(2, dtype=torch.float64))

    def update(self, sq_err: Tensor) -> None:
        if self.training:
            self.acc += torch.stack(
                [
                    sq_err.detach().sum().double(),
                    torch.tensor(float(sq_err.numel()), dtype=torch.float64),
                ]
            )

    def finish_epoch(self) -> None:
        if self.acc[1] > 0:
            self.sigma2.fill_(float(self.acc[0] / self.acc[1]))
        self.acc.zero_()

    def known(self) -> bool:
        return bool(torch.isfinite(self.sigma2))
