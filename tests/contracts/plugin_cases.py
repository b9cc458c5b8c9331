"""The plugin table of the contract suite (STYLE §6): one entry per model plugin.

A new model plugin adds one :data:`MODELS` entry and gets the whole suite (see conftest.py
for how tests are parametrized from it); a registered model plugin without an entry fails
``test_every_registered_model_has_a_case``. σ policies need no entry: the suite runs every
registered policy with its default options over every VAE model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from rdlab.model import Discriminator, VAEModel, build_model
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.plugins import model_registry
from torch import nn

VECTOR = (2,)
IMAGES = ((1, 8, 8), (1, 28, 28), (3, 32, 32))
SHAPES = (VECTOR, *IMAGES)
# Discriminators also run at 64×64 and 256×256 (002's CelebA-HQ): the patch map scales.
DISC_IMAGES = (*IMAGES, (3, 64, 64), (3, 256, 256))
LATENT = 3
BATCH = 4
EPOCHS = 4  # what policies are told at setup (staged switches at epoch 2)


@dataclass(frozen=True)
class ModelCase:
    name: str
    options: dict[str, Any] = field(default_factory=dict)  # small, so the suite stays fast
    shapes: tuple[tuple[int, ...], ...] = SHAPES  # the data shapes it must accept

    def build(self, shape: tuple[int, ...], seed: int = 0) -> VAEModel:
        """A VAE model plugin through the registry, as the trainer builds it."""
        torch.manual_seed(seed)
        return build_model(self.name, shape, LATENT, dict(self.options))

    def build_discriminator(self, shape: tuple[int, ...], seed: int = 0) -> Discriminator:
        """A discriminator plugin, as the trainer builds it (data shape + options)."""
        torch.manual_seed(seed)
        disc: Discriminator = model_registry().get(self.name)(shape, **self.options)
        return disc

    def build_any(self, shape: tuple[int, ...]) -> nn.Module:
        if kind_of(self.name) == "discriminator":
            return self.build_discriminator(shape)
        return self.build(shape)


MODELS: list[ModelCase] = [
    ModelCase("mlp_resnet", {"hidden": 32, "blocks": 1}),
    ModelCase("multirate_mlp", {"hidden": 32, "blocks": 1}),
    ModelCase("conv", {"channels": 8, "blocks_per_stage": 1}, shapes=IMAGES),
    ModelCase("resnet_v2", {"channels": 8, "blocks_per_stage": 1}, shapes=IMAGES),
    ModelCase("patchgan", {"channels": 8}, shapes=DISC_IMAGES),  # a discriminator
]


@dataclass(frozen=True)
class PolicyCase:
    policy: str
    model: ModelCase
    shape: tuple[int, ...]

    def build(self, seed: int = 0) -> tuple[VAEModel, SigmaPolicy]:
        """The model, and the policy set up on it with its default options (EPOCHS epochs)."""
        model = self.model.build(self.shape, seed)
        policy = build_policy(self.policy, -6.0, {})
        policy.setup(model, epochs=EPOCHS)
        return model, policy


Case = tuple[ModelCase, tuple[int, ...]]  # a model plugin and one data shape


def kind_of(name: str) -> str:
    return str(getattr(model_registry().get(name), "kind", "vae"))


def vae_models() -> list[ModelCase]:
    return [c for c in MODELS if kind_of(c.name) == "vae"]


def discriminators() -> list[ModelCase]:
    return [c for c in MODELS if kind_of(c.name) == "discriminator"]
