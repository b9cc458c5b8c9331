"""Residual convolutional VAE for image data (28×28, 32×32, 64×64, and 8×8 digits).

Widths follow BS-VAE's (000) conv encoder/decoder: channels double at each stride-2 stage
(32 → 64 → 128), a residual block per stage, a linear bottleneck to the latent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from rdlab.model import MODELS, VAEModel
from rdlab.models._layers import ACTIVATIONS, ResidualConvBlock, image_shape, num_downsamples
from torch import Tensor, nn


class ConvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: int = Field(32, ge=1, le=1024)  # width of the first stage; doubles per stage
    blocks_per_stage: int = Field(1, ge=0, le=8)
    activation: str = Field("relu", pattern="^(relu|silu|elu|leaky_relu)$")


@MODELS.register("conv")
class ConvVAE(VAEModel):
    Options = ConvOptions
    block: type[nn.Module] = ResidualConvBlock

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent_dim: int,
        channels: int = 32,
        blocks_per_stage: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__(data_shape, latent_dim)
        c, h, w = image_shape(self.data_shape, type(self).__name__, "model.name")
        act = ACTIVATIONS[activation]
        n = num_downsamples(min(h, w))
        widths = [channels * 2**i for i in range(n + 1)]
        self.bottom = (widths[-1], h // 2**n, w // 2**n)
        flat = widths[-1] * self.bottom[1] * self.bottom[2]

        enc: list[nn.Module] = [nn.Conv2d(c, widths[0], 3, padding=1), act()]
        for i in range(n):
            enc += [self.block(widths[i], act) for _ in range(blocks_per_stage)]
            enc += [nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1), act()]
        enc += [nn.Flatten(), nn.Linear(flat, 2 * latent_dim)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Linear(latent_dim, flat), act(), nn.Unflatten(1, self.bottom)]
        for i in reversed(range(n)):
            dec += [self.block(widths[i + 1], act) for _ in range(blocks_per_stage)]
            dec += [nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1), act()]
        self.decoder = nn.Sequential(*dec)
        self.feat_channels = widths[0]
        self.out_channels = c
        self.mean_head = self.make_output_head()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_features(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def make_output_head(self) -> nn.Module:
        return nn.Conv2d(self.feat_channels, self.out_channels, 3, padding=1)
