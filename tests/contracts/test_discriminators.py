"""Every registered discriminator plugin (rdlab.model.Discriminator, 002's PatchGAN term)."""

from __future__ import annotations

from rdlab.testing import DiscriminatorContract

from tests.contracts import small


class TestDiscriminators(DiscriminatorContract):
    options = small.MODELS


def test_there_is_a_discriminator() -> None:
    assert TestDiscriminators.model_cases(), "the adversarial term needs a discriminator plugin"
