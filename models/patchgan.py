"""PatchGAN discriminator (Isola et al. 2017), 002's adversarial term: one logit per patch."""

from __future__ import annotations

from rdlab.model import MODELS, Discriminator
from rdlab.models._layers import image_shape
from torch import Tensor, nn


@MODELS.register("patchgan")
class PatchGAN(Discriminator):
    def __init__(self, data_shape: tuple[int, ...], channels: int = 32) -> None:
        super().__init__(data_shape, channels)
        c, h, _ = image_shape(self.data_shape, "patchgan", "objective.adversarial.discriminator")
        layers: list[nn.Module] = []
        ch_in, ch = c, channels
        # Stride-2 stages until the map is ~4 wide: the receptive field is then a patch.
        size = h
        while size > 4:
            layers += [nn.Conv2d(ch_in, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            ch_in, ch, size = ch, min(ch * 2, 512), size // 2
        layers += [nn.Conv2d(ch_in, 1, 3, padding=1), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.net(x)
        return logits
