"""Pre-activation residual VAE, the ResNetV2 encoder/decoder family of 002 ("How to train
your VAE"): norm → activation → conv inside each block, identity skip outside it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from rdlab.model import MODELS
from rdlab.models._layers import PreActBlock
from rdlab.models.conv import ConvVAE
from torch import nn


class ResNetV2Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: int = Field(32, ge=1, le=1024)
    blocks_per_stage: int = Field(2, ge=0, le=8)
    activation: str = Field("silu", pattern="^(relu|silu|elu|leaky_relu)$")


@MODELS.register("resnet_v2")
class ResNetV2VAE(ConvVAE):
    """Same stages as :class:`ConvVAE`, with pre-activation blocks (two per stage)."""

    Options = ResNetV2Options  # type: ignore[assignment]
    block: type[nn.Module] = PreActBlock

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int,
        channels: int = 32,
        blocks_per_stage: int = 2,
        activation: str = "silu",
    ) -> None:
        super().__init__(data_shape, latent_dim, channels, blocks_per_stage, activation)
