"""The optimiser of a trial (or a pack of trials): Adam over parameter groups.

One group holds the model's parameters at ``train.lr``; each σ policy adds its parameters
in groups at their own learning rate (``SigmaPolicy.sigma_parameters``: a learned σ's
``lr`` option, None meaning ``train.lr``). Why σ needs its own rate: Adam moves a
parameter by about its learning rate per step, so a log σ that must travel from 0 to
≈ −2 cannot do so in a few hundred steps at the model's 1e-3 (rdlab.objectives.sigma.
learned_scalar). Both the single-trial and the packed trainer build their optimiser here,
so a pack's stacked σ tensors get exactly the learning rate their members would alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor


def build_optimizer(
    model_params: Iterable[Tensor],
    sigma_params: Sequence[tuple[Iterable[Tensor], float | None]],
    lr: float,
    **adam: Any,
) -> torch.optim.Adam:
    """Adam with the model's parameters at ``lr`` and each σ group at its own lr (None:
    ``lr``); empty groups are left out. ``adam``: further Adam options (foreach, fused)."""
    groups: list[dict[str, Any]] = [{"params": list(model_params), "lr": lr}]
    for params, group_lr in sigma_params:
        ps = list(params)
        if ps:
            groups.append({"params": ps, "lr": lr if group_lr is None else group_lr})
    return torch.optim.Adam(groups, lr=lr, **adam)
