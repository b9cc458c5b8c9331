"""Grouped-GEMM forwards of K stacked copies of a model (the packed engine's fast path).

A pack's members share an architecture, so each ``nn.Linear`` of the K copies is one
``torch.baddbmm``: [K, B, in] × [K, in, out] + bias [K, 1, out] in a single kernel, the bias
folded into the GEMM. Under ``vmap`` + ``functional_call`` the same layer is a bmm, then a
separate broadcast add, plus the per-call cost of swapping K parameter sets into the module;
on the small MLPs a pack is for, those dominate a step (bench_pack.py ``--profile``).

:func:`grouped_forward` walks a module tree with one rule per layer type (a dict filled by
:func:`rule`); a model whose layers all have a rule offers :class:`GroupedStack` from
:meth:`~rdlab.model.VAEModel.grouped`. The single-model code stays the model's own forward:
these rules restate each layer's arithmetic with a member axis, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from rdlab.model import ModelStack, VAEModel
from rdlab.models._layers import ACTIVATIONS, Reshape, ResidualMLPBlock
from torch import Tensor, nn

Params = dict[str, Tensor]
Rule = Callable[[nn.Module, Params, str, Tensor], Tensor]
RULES: dict[type[nn.Module], Rule] = {}


def rule(*types: type[nn.Module]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for t in types:
            RULES[t] = fn
        return fn

    return register


def groupable(*modules: nn.Module) -> bool:
    """Every layer of ``modules`` has a grouped rule."""
    return all(type(m) in RULES for top in modules for m in top.modules())


def grouped_forward(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    """``module``'s forward for K members at once: ``h`` [K, B, …], the members' parameters
    stacked in ``p`` under ``prefix`` + the module's own parameter names."""
    return RULES[type(module)](module, p, prefix, h)


@rule(nn.Sequential)
def _sequential(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    for name, sub in module.named_children():
        h = grouped_forward(sub, p, f"{prefix}{name}.", h)
    return h


@rule(nn.Linear)
def _linear(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    w = p[f"{prefix}weight"].transpose(1, 2)  # [K, in, out]
    b = p.get(f"{prefix}bias")
    if b is None:
        return torch.bmm(h, w)
    return torch.baddbmm(b.unsqueeze(1), h, w)


@rule(*ACTIVATIONS.values(), nn.Dropout, nn.Identity)
def _elementwise(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    out: Tensor = module(h)
    return out


@rule(nn.Flatten)
def _flatten(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    assert isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1
    return h.reshape(h.shape[0], h.shape[1], -1)


@rule(Reshape)
def _reshape(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    assert isinstance(module, Reshape)
    return h.reshape(h.shape[0], h.shape[1], *module.shape)


@rule(ResidualMLPBlock)
def _residual(module: nn.Module, p: Params, prefix: str, h: Tensor) -> Tensor:
    assert isinstance(module, ResidualMLPBlock)
    return h + grouped_forward(
        module.drop, p, f"{prefix}drop.", grouped_forward(module.net, p, f"{prefix}net.", h)
    )


class GroupedStack(ModelStack):
    """K copies of an encoder/decoder model as grouped GEMMs: ``encoder(x)`` → (μ_z, log σ_z²)
    halves, ``decoder(z)`` → features, ``mean_head(features)`` → μ_x, as the model's own
    ``encode``/``decode`` do (mlp_resnet)."""

    def __init__(self, models: list[VAEModel], params: Params) -> None:
        super().__init__(models)
        self.params = params
        lead = models[0]
        self.encoder: nn.Module = lead.get_submodule("encoder")
        self.decoder: nn.Module = lead.get_submodule("decoder")
        self.head: nn.Module = lead.mean_head

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x.unsqueeze(0).expand(self.k, *x.shape)  # the batch is shared: a view, no copy
        mu, logvar = grouped_forward(self.encoder, self.params, "encoder.", h).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        feats = grouped_forward(self.decoder, self.params, "decoder.", z)
        return grouped_forward(self.head, self.params, "mean_head.", feats), feats
