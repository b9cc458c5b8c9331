"""Residual MLP VAE, 004 §4: encoder and decoder are ResNets of 4 blocks × 200 units."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field
from rdlab.model import MODELS, ModelStack, VAEModel
from rdlab.models._grouped import GroupedStack, groupable
from rdlab.models._layers import ACTIVATIONS, Reshape, ResidualMLPBlock
from torch import Tensor, nn


class MLPResNetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(200, ge=1, le=65536)
    blocks: int = Field(4, ge=0, le=64)
    activation: str = Field("relu", pattern="^(relu|silu|elu|leaky_relu|tanh)$")
    # Dropout on each residual block's branch while training (0: none, 004's model). On
    # 1,437 training digits the default 4 × 200 model overfits: docs/conventions.md.
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


@MODELS.register("mlp_resnet")
class MLPResNetVAE(VAEModel):
    Options = MLPResNetOptions

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int,
        hidden: int = 200,
        blocks: int = 4,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(data_shape, latent_dim)
        act = ACTIVATIONS[activation]
        self.dim = math.prod(self.data_shape)
        self.hidden = hidden
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.dim, hidden),
            *[ResidualMLPBlock(hidden, act, dropout) for _ in range(blocks)],
            act(),
            nn.Linear(hidden, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            *[ResidualMLPBlock(hidden, act, dropout) for _ in range(blocks)],
            act(),
        )
        self.mean_head = self.make_output_head()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_features(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def grouped(self, params: dict[str, Tensor], models: list[VAEModel]) -> ModelStack | None:
        """A pack of K: one baddbmm per layer (models/_grouped.py)."""
        return GroupedStack(models, params) if groupable(*self.children()) else None

    def make_output_head(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.hidden, self.dim), Reshape(self.data_shape))
