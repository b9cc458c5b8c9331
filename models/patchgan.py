"""PatchGAN discriminator (Isola et al. 2017), 002's adversarial term: one logit per patch.

002 §3.3: for an image of size (h, w) the discriminator outputs r ∈ [0, 1]^{h/8 × w/8}, one
realism score per support region. Three stride-2 4×4 convolutions (padding 1, so each
halves a side exactly, rounding down: 28 → 14 → 7 → 3) take the map to ⌊h/8⌋ × ⌊w/8⌋,
and a 3×3 convolution (padding 1) maps the features to one logit per patch, so the patch
map scales with the input as 002's does: 1×1 at 8×8, 3×3 at 28×28, 32×32 at 256×256.
No normalisation layers: batch statistics would make a real batch's scores depend on the
fake batch's, and the discriminator holds no buffers.
"""

from __future__ import annotations

from rdlab.errors import SpecError
from rdlab.model import MODELS, Discriminator
from rdlab.models._layers import image_shape
from torch import Tensor, nn

DOWNSAMPLE = 8  # 002: the patch map is (h/8, w/8)
STAGES = 3  # stride-2 stages: 2³ = 8


@MODELS.register("patchgan")
class PatchGAN(Discriminator):
    def __init__(self, data_shape: tuple[int, ...], channels: int = 32) -> None:
        super().__init__(data_shape, channels)
        field = "objective.adversarial.discriminator"
        c, h, w = image_shape(self.data_shape, "patchgan", field)
        if min(h, w) < DOWNSAMPLE:
            raise SpecError(field, f"'patchgan' needs images of at least 8×8, got {h}×{w}")
        layers: list[nn.Module] = []
        ch_in, ch = c, channels
        for _ in range(STAGES):
            layers += [nn.Conv2d(ch_in, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            ch_in, ch = ch, min(ch * 2, 512)
        layers += [nn.Conv2d(ch_in, 1, 3, padding=1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.patch_map = (h // DOWNSAMPLE, w // DOWNSAMPLE)

    def forward(self, x: Tensor) -> Tensor:
        """x [B, C, H, W] → logits [B, ⌊H/8⌋·⌊W/8⌋], one per patch (row-major)."""
        logits: Tensor = self.net(x)
        return logits
