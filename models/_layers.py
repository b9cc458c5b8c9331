"""Small building blocks shared by the built-in models."""

from __future__ import annotations

import math

from rdlab.errors import SpecError
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
}


def image_shape(data_shape: tuple[int, ...], name: str, field: str) -> tuple[int, int, int]:
    """(C, H, W) of an image plugin's data shape; anything else is refused naming ``field``."""
    if len(data_shape) != 3:
        raise SpecError(field, f"{name!r} needs image data [C, H, W], got {tuple(data_shape)}")
    c, h, w = data_shape
    return c, h, w


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)


class ResidualMLPBlock(nn.Module):
    """h + W₂ act(W₁ act(h)): the residual block of 004's 4 × 200 ResNet.

    ``dropout`` > 0 drops units of the residual branch while training, h + drop(W₂ act(…)),
    the placement that leaves the identity path and the parameter names as they are; at 0
    the block is exactly 004's.
    """

    def __init__(self, width: int, act: type[nn.Module], dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(act(), nn.Linear(width, width), act(), nn.Linear(width, width))
        self.drop: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        return h + self.drop(self.net(h))


class ResidualConvBlock(nn.Module):
    """Post-activation residual conv block (BS-VAE-like encoders/decoders)."""

    def __init__(self, ch: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1),
            nn.BatchNorm2d(ch),
            act(),
            nn.Conv2d(ch, ch, 3, padding=1),
            nn.BatchNorm2d(ch),
        )
        self.act = act()

    def forward(self, h: Tensor) -> Tensor:
        return self.act(h + self.net(h))


class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016 v2), as 002's ResNetV2 uses.

    GroupNorm rather than BatchNorm so a trial's metrics do not depend on batch composition.
    """

    def __init__(self, ch: int, act: type[nn.Module]) -> None:
        super().__init__()
        groups = math.gcd(ch, 8)
        self.net = nn.Sequential(
            nn.GroupNorm(groups, ch),
            act(),
            nn.Conv2d(ch, ch, 3, padding=1),
            nn.GroupNorm(groups, ch),
            act(),
            nn.Conv2d(ch, ch, 3, padding=1),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)


def num_downsamples(size: int, cap: int = 3) -> int:
    """Stride-2 stages for an image side, keeping the bottleneck ≥ 4: 8→1, 28→2, 32/64→3."""
    n = 0
    while size % 2 == 0 and size // 2 >= 4 and n < cap:
        size //= 2
        n += 1
    return n
