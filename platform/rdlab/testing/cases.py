"""What the contract suites run on: data shapes, and plugins built as the trainer builds them.

A model's supported shapes are not declared anywhere: a model refuses a shape it cannot
take by raising :class:`SpecError` when built, so the suites find them by building it once
per shape (cached) and test it on every shape it accepts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from rdlab.errors import SpecError
from rdlab.model import Discriminator, VAEModel, build_model
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.registry import MODELS, Registry

VECTOR = (2,)
IMAGES = ((1, 8, 8), (1, 28, 28), (3, 32, 32))
SHAPES = (VECTOR, *IMAGES)
LATENT = 3
BATCH = 4
EPOCHS = 4  # what σ policies are told at setup (staged switches half way)

Shape = tuple[int, ...]
Options = Mapping[str, Mapping[str, Any]]  # plugin name → its options


def shape_id(shape: Shape) -> str:
    return "x".join(map(str, shape))


def batch(shape: Shape, seed: int = 0) -> Tensor:
    """BATCH examples of ``shape`` in [0, 1], the same for a given seed."""
    return torch.rand(BATCH, *shape, generator=torch.Generator().manual_seed(seed))


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: tiny tensors run faster, and reductions repeat exactly."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def selected(registry: Registry[Any], names: Sequence[str] | None) -> list[str]:
    """``names`` (each must be registered), or every registered name."""
    if names is None:
        return registry.names()
    for name in names:
        registry.get(name)  # an unknown name fails here, listing the known ones
    return list(names)


@dataclass(frozen=True)
class ModelCase:
    """One model plugin with the options the suite builds it with."""

    name: str
    options_json: str = "{}"  # hashable, so accepted shapes can be cached

    @property
    def options(self) -> dict[str, Any]:
        return dict(json.loads(self.options_json))

    @property
    def is_discriminator(self) -> bool:
        return MODELS.get(self.name).kind == "discriminator"

    def build(self, shape: Shape, seed: int = 0) -> VAEModel:
        """The VAE model, as the trainer builds it (through the registry)."""
        torch.manual_seed(seed)
        return build_model(self.name, shape, LATENT, self.options)

    def build_discriminator(self, shape: Shape, seed: int = 0) -> Discriminator:
        """The discriminator, as the trainer builds it (data shape + options)."""
        torch.manual_seed(seed)
        cls = MODELS.get(self.name)
        assert issubclass(cls, Discriminator), f"{self.name!r} is not a discriminator"
        return cls(shape, **self.options)

    def build_any(self, shape: Shape) -> nn.Module:
        return self.build_discriminator(shape) if self.is_discriminator else self.build(shape)

    def accepts(self, shape: Shape) -> bool:
        return _accepts(self, shape)


@functools.cache
def _accepts(case: ModelCase, shape: Shape) -> bool:
    try:
        with one_torch_thread():
            case.build_any(shape)
    except SpecError:
        return False
    except Exception:  # a crash is not a refusal: the tests will show it
        return True
    return True


def model_cases(names: Sequence[str] | None, options: Options, kind: str) -> list[ModelCase]:
    """The cases of the model plugins of ``kind`` ("vae" or "discriminator") selected."""
    out = []
    for name in selected(MODELS, names):
        if MODELS.get(name).kind == kind:
            out.append(ModelCase(name, json.dumps(dict(options.get(name, {})), sort_keys=True)))
    return out


@dataclass(frozen=True)
class PolicyCase:
    """A σ policy set up on one model at one data shape, with its default options."""

    policy: str
    model: ModelCase
    shape: Shape

    def build(self, seed: int = 0) -> tuple[VAEModel, SigmaPolicy]:
        model = self.model.build(self.shape, seed)
        policy = build_policy(self.policy, -6.0, {})
        policy.setup(model, epochs=EPOCHS)
        return model, policy


def params(values: Sequence[Any], ids: Sequence[str]) -> list[Any]:
    return [pytest.param(v, id=i) for v, i in zip(values, ids, strict=True)]
