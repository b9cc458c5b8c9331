"""Multi-rate VAE (Bae et al., ICLR 2023, "Multi-Rate VAE: Train Once, Get the Full
Rate-Distortion Curve"; seed 001, "Previous works of β-input strategy"): one network, trained
once, that is a β-VAE for every β in [β_min, β_max].

Every layer's pre-activations are scaled by a learned gate of the standardised log β:

    a_l(β) = (W_l h + b_l) ⊙ 2·sigmoid(u_l·η + c_l),   η = (log β − m) / s,

with m and s the mean and standard deviation of U[log β_min, log β_max] (Bae et al. §4: the
hypernetwork acts on the pre-activations only, so it costs two vectors per layer). u_l and
c_l start as a 1→n linear layer does, U(−1, 1). The factor 2 (Bae et al. use a plain
sigmoid) centres the gate on 1, so the gated residual MLP keeps the scale of
:mod:`rdlab.models.mlp_resnet`, whose architecture it otherwise repeats. The decoder's
output head stays a plain linear map of the (gated) features, so σ policies that build
extra heads work unchanged.

Training (the trainer, for models with ``beta_conditioned = True``) draws log β ~
U[log β_min, log β_max] once per batch and minimises distortion + β·rate at that β (Bae et
al. eq. 8). Evaluation sweeps ``sweep_points`` log-spaced β over the same range and writes
one RD row per β (``beta_eval``), so one trial gives a whole curve. Without an explicit β
(per-epoch validation, pictures, ``rdlab eval``) the network runs at ``beta_default``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rdlab.model import MODELS, VAEModel, VAEOutput
from rdlab.models._layers import ACTIVATIONS, Reshape
from torch import Tensor, nn


class MultiRateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(200, ge=1, le=65536)
    blocks: int = Field(4, ge=0, le=64)
    activation: str = Field("relu", pattern="^(relu|silu|elu|leaky_relu|tanh)$")
    beta_min: float = Field(0.01, gt=0.0)  # Bae et al.'s range for image VAEs
    beta_max: float = Field(10.0, gt=0.0)
    beta_default: float = Field(1.0, gt=0.0)  # β when none is given (per-epoch validation)
    sweep_points: int = Field(9, ge=2, le=1001)  # β values evaluated at the end of a trial

    @model_validator(mode="after")
    def _range(self) -> MultiRateOptions:
        if not self.beta_min < self.beta_max:
            raise ValueError(f"beta_min must be < beta_max, got {self.beta_min}, {self.beta_max}")
        if not self.beta_min <= self.beta_default <= self.beta_max:
            raise ValueError(
                f"beta_default must lie in [beta_min, beta_max], got {self.beta_default}"
            )
        return self


class GatedLinear(nn.Module):
    """A linear layer whose outputs are scaled by 2·sigmoid(u·η + c), one (u, c) per unit."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        # As nn.Linear(1, n_out) initialises itself (fan-in 1: U(−1, 1)). Random slopes let
        # β move the network from the first step; with u = 0 every β sees the same network
        # and the high-β batches drive it into posterior collapse before the gates can learn.
        self.u = nn.Parameter(torch.empty(n_out).uniform_(-1.0, 1.0))
        self.c = nn.Parameter(torch.empty(n_out).uniform_(-1.0, 1.0))

    def forward(self, h: Tensor, eta: Tensor) -> Tensor:
        return self.linear(h) * (2.0 * torch.sigmoid(self.u * eta + self.c))


class GatedBlock(nn.Module):
    """h + g₂ ⊙ W₂ act(g₁ ⊙ W₁ act(h)): 004's residual block with gated pre-activations."""

    def __init__(self, width: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.act = act()
        self.l1 = GatedLinear(width, width)
        self.l2 = GatedLinear(width, width)

    def forward(self, h: Tensor, eta: Tensor) -> Tensor:
        return h + self.l2(self.act(self.l1(self.act(h), eta)), eta)


class GatedMLP(nn.Module):
    """GatedLinear(n_in → width), ``blocks`` gated residual blocks, then act [→ GatedLinear]."""

    def __init__(
        self, n_in: int, width: int, blocks: int, act: type[nn.Module], n_out: int | None
    ) -> None:
        super().__init__()
        self.inp = GatedLinear(n_in, width)
        self.blocks = nn.ModuleList(GatedBlock(width, act) for _ in range(blocks))
        self.act = act()
        self.out = None if n_out is None else GatedLinear(width, n_out)

    def forward(self, h: Tensor, eta: Tensor) -> Tensor:
        h = self.inp(h, eta)
        for block in self.blocks:
            h = block(h, eta)
        h = self.act(h)
        return h if self.out is None else self.out(h, eta)


@MODELS.register("multirate_mlp")
class MultiRateMLPVAE(VAEModel):
    """Multi-rate VAE (Bae et al. 2023): residual MLP, β-gated layers; one trial, one RD curve."""

    Options = MultiRateOptions
    beta_conditioned = True

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int,
        hidden: int = 200,
        blocks: int = 4,
        activation: str = "relu",
        beta_min: float = 0.01,
        beta_max: float = 10.0,
        beta_default: float = 1.0,
        sweep_points: int = 9,
    ) -> None:
        super().__init__(data_shape, latent_dim)
        act = ACTIVATIONS[activation]
        self.dim = math.prod(self.data_shape)
        self.hidden = hidden
        self.beta_min, self.beta_max = beta_min, beta_max
        self.sweep_points = sweep_points
        lo, hi = math.log(beta_min), math.log(beta_max)
        self._eta_mean = 0.5 * (lo + hi)  # mean and std of U[lo, hi]: η is standardised
        self._eta_std = (hi - lo) / math.sqrt(12.0)
        self._log_beta: float | Tensor = math.log(beta_default)
        self.encoder = GatedMLP(self.dim, hidden, blocks, act, 2 * latent_dim)
        self.decoder = GatedMLP(latent_dim, hidden, blocks, act, None)
        self.mean_head = self.make_output_head()

    # ------------------------------------------------------------------ β conditioning
    def log_beta_range(self) -> tuple[float, float]:
        return math.log(self.beta_min), math.log(self.beta_max)

    def sweep_betas(self) -> list[float]:
        """``sweep_points`` β, log-spaced over [β_min, β_max], both ends included."""
        lo, hi = self.log_beta_range()
        n = self.sweep_points
        return [math.exp(lo + (hi - lo) * i / (n - 1)) for i in range(n)]

    @contextmanager
    def conditioned(self, log_beta: float | Tensor) -> Iterator[None]:
        """Run the network at log β (a float, or a [B] tensor: one β per example)."""
        before = self._log_beta
        self._log_beta = log_beta
        try:
            yield
        finally:
            self._log_beta = before

    def _eta(self, like: Tensor) -> Tensor:
        lb = torch.as_tensor(self._log_beta, dtype=like.dtype, device=like.device)
        eta = (lb - self._eta_mean) / self._eta_std
        return eta.reshape(-1, 1) if eta.dim() == 1 else eta

    # ------------------------------------------------------------------ VAEModel
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x.reshape(x.shape[0], -1)
        mu, logvar = self.encoder(h, self._eta(h)).chunk(2, dim=1)
        return mu, logvar

    def decode_features(self, z: Tensor) -> Tensor:
        out: Tensor = self.decoder(z, self._eta(z))
        return out

    def make_output_head(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.hidden, self.dim), Reshape(self.data_shape))

    def forward(
        self, x: Tensor, sample: bool = True, log_beta: float | Tensor | None = None
    ) -> VAEOutput:
        if log_beta is None:
            return super().forward(x, sample)
        with self.conditioned(log_beta):
            return super().forward(x, sample)
