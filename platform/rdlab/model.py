"""The model plugin interface: a Gaussian VAE encoder/decoder pair, and its registry.

A model maps x → (μ_z, log σ_z²) and z → decoder features → μ_x. σ policies that need a
per-dimension head (``learned_vector``, ``staged``) ask the model for a fresh copy of its
output head (:meth:`VAEModel.make_output_head`), so adding a policy never rewrites a model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from rdlab.errors import SpecError
from rdlab.registry import MODELS

__all__ = [
    "MODELS",
    "Alone",
    "BetaConditioned",
    "Discriminator",
    "ModelStack",
    "VAEModel",
    "VAEOutput",
    "as_beta_conditioned",
    "build_model",
    "member_generators",
    "member_randn",
    "new_head_like",
    "zero_last_layer",
]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class VAEOutput:
    """Everything one forward pass yields; every model returns exactly this."""

    mu_z: Tensor  # [B, J]
    logvar_z: Tensor  # [B, J]
    z: Tensor  # [B, J], a reparameterised sample (or μ_z when not sampling)
    x_mean: Tensor  # [B, *data_shape]
    features: Tensor  # decoder's last hidden representation, input of the output heads

    def row(self, k: int) -> VAEOutput:
        """Member k's output of a :class:`ModelStack`'s (whose tensors lead with [K, …])."""
        return VAEOutput(
            self.mu_z[k], self.logvar_z[k], self.z[k], self.x_mean[k], self.features[k]
        )


class VAEModel(nn.Module, ABC):
    """Base class of every VAE model plugin.

    Subclasses set ``Options`` (a pydantic model of their plugin options), build
    ``self.mean_head = self.make_output_head()`` in ``__init__`` and implement the three
    abstract methods. ``data_shape`` is one example's shape, e.g. (1, 28, 28) or (2,).
    """

    kind: ClassVar[str] = "vae"
    Options: ClassVar[type[BaseModel]] = NoOptions
    # True for models that also implement :class:`BetaConditioned` (the multi-rate VAE):
    # the trainer then draws β per batch and the evaluation sweeps a β grid.
    beta_conditioned: ClassVar[bool] = False
    mean_head: nn.Module

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent_dim

    @abstractmethod
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, *data_shape] → (μ_z, log σ_z²), each [B, J]."""

    @abstractmethod
    def decode_features(self, z: Tensor) -> Tensor:
        """z [B, J] → the decoder's features, the input of :meth:`make_output_head` heads."""

    @abstractmethod
    def make_output_head(self) -> nn.Module:
        """A fresh head mapping decoder features → a tensor shaped [B, *data_shape]."""

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.decode_features(z)
        return self.mean_head(feats), feats

    def forward(self, x: Tensor, sample: bool = True) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        x_mean, feats = self.decode(z)
        return VAEOutput(mu_z=mu, logvar_z=logvar, z=z, x_mean=x_mean, features=feats)

    def grouped(self, params: dict[str, Tensor], models: list[VAEModel]) -> ModelStack | None:
        """Hook: K copies of this architecture, their parameters stacked in ``params``
        ([K, …] under :meth:`named_parameters`' names), computed by grouped GEMMs rather
        than vmap (``models``: the K members). None (the default): the packed engine vmaps
        :meth:`encode` and :meth:`decode` instead."""
        return None


class ModelStack(ABC):
    """K models of one architecture computed as one (a pack's members, or one model alone).

    ``encode`` takes data shared by all members, [B, *data_shape], and returns (μ_z, log σ_z²)
    with a leading member axis, [K, B, J] each; ``decode`` maps codes [K, B, J] to
    (μ_x [K, B, *data_shape], features [K, B, …]). Evaluation code written over a stack
    (:func:`rdlab.train.metrics.evaluate_members`, :mod:`rdlab.evaluate.iwae`) runs a pack
    in one pass and a lone trial through :class:`Alone`, with the same kernels it always had.
    """

    def __init__(self, models: list[VAEModel]) -> None:
        self.models = models

    @property
    def k(self) -> int:
        return len(self.models)

    @property
    def latent_dim(self) -> int:
        return self.models[0].latent_dim

    @abstractmethod
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]: ...

    @abstractmethod
    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]: ...

    def forward(self, x: Tensor, noise: Callable[[Tensor], Tensor]) -> VAEOutput:
        """Every member's :meth:`VAEModel.forward` with z sampled, ``noise(μ_z)`` its ε
        ([K, B, J], each member's from its own stream)."""
        mu, logvar = self.encode(x)
        z = mu + noise(mu) * torch.exp(0.5 * logvar)
        x_mean, feats = self.decode(z)
        return VAEOutput(mu_z=mu, logvar_z=logvar, z=z, x_mean=x_mean, features=feats)

    def sample(self, x: Tensor, gens: list[torch.Generator]) -> VAEOutput:
        """:meth:`forward` with member k's ε drawn from ``gens[k]``."""
        return self.forward(x, lambda mu: member_randn(gens, tuple(mu.shape[1:]), mu))


def member_generators(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    """One generator per member, seeded as ``torch.manual_seed(seed)`` seeds the global one,
    so member k's draws equal its lone run's draws from a freshly seeded global stream."""
    return [torch.Generator(device=device).manual_seed(s) for s in seeds]


def member_randn(gens: list[torch.Generator], shape: tuple[int, ...], like: Tensor) -> Tensor:
    """[K, *shape] standard normals, row k from ``gens[k]`` (dtype and device of ``like``)."""
    return torch.stack(
        [torch.randn(shape, generator=g, dtype=like.dtype, device=like.device) for g in gens]
    )


class Alone(ModelStack):
    """A stack of one: the model's own ``encode``/``decode``, a member axis of size 1 added."""

    def __init__(self, model: VAEModel) -> None:
        super().__init__([model])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.models[0].encode(x)
        return mu[None], logvar[None]

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x_mean, feats = self.models[0].decode(z[0])
        return x_mean[None], feats[None]


class BetaConditioned(Protocol):
    """What a model with ``beta_conditioned = True`` adds (Bae et al. 2023's multi-rate VAE).

    ``forward(x, sample, log_beta)`` runs the network at one log β (a float, or a [B] tensor);
    :meth:`conditioned` does the same for a block of ``encode``/``decode`` calls, so the
    evaluation code runs unchanged at each β of :meth:`sweep_betas`. Training draws log β
    uniformly from :meth:`log_beta_range` once per batch.
    """

    def log_beta_range(self) -> tuple[float, float]: ...
    def sweep_betas(self) -> list[float]: ...
    def conditioned(self, log_beta: float | Tensor) -> AbstractContextManager[None]: ...


def as_beta_conditioned(model: VAEModel) -> BetaConditioned | None:
    """The model as a :class:`BetaConditioned`, or None for an ordinary model."""
    return cast(BetaConditioned, model) if model.beta_conditioned else None


class Discriminator(nn.Module, ABC):
    """A discriminator plugin (002's PatchGAN): x → logits per patch, [B, P]."""

    kind: ClassVar[str] = "discriminator"
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, data_shape: tuple[int, ...], channels: int = 32) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor: ...


def zero_last_layer(head: nn.Module) -> nn.Module:
    """Zero the head's last weighted layer so its output starts at exactly 0 (σ = 1)."""
    last = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    if last:
        nn.init.zeros_(last[-1].weight)
        if last[-1].bias is not None:
            nn.init.zeros_(last[-1].bias)
    return head


def new_head_like(model: VAEModel, zero: bool = False) -> nn.Module:
    """A fresh output head on the model's device and dtype (optionally zeroed: σ = 1).

    σ policies call this from ``setup``, which may run after the model was moved or cast;
    a head left on the CPU in float32 would then fail, or silently round, in the forward.
    """
    head = model.make_output_head()
    if zero:
        zero_last_layer(head)
    ref = next(model.parameters(), None)
    return head if ref is None else head.to(device=ref.device, dtype=ref.dtype)


def build_model(
    name: str, data_shape: tuple[int, ...], latent_dim: int, options: dict[str, Any]
) -> VAEModel:
    """The VAE model plugin ``name`` for one example's ``data_shape``, options validated."""
    cls = MODELS.get(name, "model.name")
    if not issubclass(cls, VAEModel):
        raise SpecError("model.name", f"{name!r} is a {cls.kind}, not a VAE model")
    opts = cls.Options(**options)
    return cls(data_shape, latent_dim, **opts.model_dump())
