"""Every registered discriminator plugin (rdlab.model.Discriminator, 002's PatchGAN term)."""

from __future__ import annotations

import pytest
import torch
from rdlab.model import Discriminator
from rdlab.registry import MODELS
from rdlab.testing import DiscriminatorContract

from tests.contracts import small


class TestDiscriminators(DiscriminatorContract):
    options = small.MODELS


def test_there_is_a_discriminator() -> None:
    assert TestDiscriminators.model_cases(), "the adversarial term needs a discriminator plugin"


@pytest.mark.parametrize("side", [8, 28, 32, 64, 256])
def test_patchgan_map_scales_with_the_input_as_in_002(side: int) -> None:
    """002 §3.3: an (h, w) image gets an h/8 × w/8 map of realism scores (three stride-2
    stages), not a fixed 4 × 4 whatever the input."""
    cls = MODELS.get("patchgan", "name")
    assert issubclass(cls, Discriminator)
    disc = cls((1, side, side), channels=8)
    logits = disc(torch.rand(2, 1, side, side))
    assert logits.shape == (2, (side // 8) ** 2)
