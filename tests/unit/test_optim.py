"""The optimiser's parameter groups (rdlab.train.optim) and the learned-σ knobs: an initial
log σ for every learned policy and σ's own learning rate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.objectives.sigma.learned_scalar import LEARNED_SIGMA_LR
from rdlab.train.optim import build_optimizer
from rdlab.train.single import SingleEngine
from rdlab.trial import Trial


@dataclass
class _One:
    """A trial alone: its model, σ policy and optimiser (the plain engine's slot)."""

    model: torch.nn.Module
    policy: Any
    opt: torch.optim.Optimizer


def _trainer(tmp_path: Path, **sigma: Any) -> _One:
    cfg = trial_config(
        {
            "model": {"latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"lr": 2e-3, "device": "cpu"},
            "objective": {"sigma": sigma},
        }
    )
    trial = Trial(cfg, tmp_path)
    engine = trial.loop.engine
    assert isinstance(engine, SingleEngine)
    m = trial.members[0]
    return _One(m.model, m.policy, engine.slots[0].opt)


def _lr_of(opt: torch.optim.Optimizer) -> dict[int, float]:
    return {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}


def test_build_optimizer_gives_each_sigma_group_its_lr() -> None:
    a, b, c = (torch.zeros(2, requires_grad=True) for _ in range(3))
    opt = build_optimizer([a], [([b], 0.05), ([c], None), ([], 0.3)], lr=1e-3)
    assert len(opt.param_groups) == 3  # the empty group is left out
    assert _lr_of(opt) == {id(a): 1e-3, id(b): 0.05, id(c): 1e-3}


@pytest.mark.parametrize(
    ("sigma", "want"),
    [
        ({"policy": "learned_scalar"}, LEARNED_SIGMA_LR),
        ({"policy": "learned_scalar", "lr": 0.2}, 0.2),
        ({"policy": "learned_scalar", "lr": None}, 2e-3),
        ({"policy": "learned_pixel"}, LEARNED_SIGMA_LR),
        ({"policy": "learned_vector"}, 2e-3),  # a head learns at the model's rate
        ({"policy": "learned_vector", "lr": 1e-4}, 1e-4),
    ],
)
def test_trainer_sigma_parameters_learn_at_sigma_lr(
    tmp_path: Path, sigma: dict[str, Any], want: float
) -> None:
    t = _trainer(tmp_path, **sigma)
    lrs = _lr_of(t.opt)
    assert {lrs[id(p)] for p in t.model.parameters()} == {2e-3}
    assert {lrs[id(p)] for p in t.policy.parameters()} == {want}


def test_policies_without_parameters_add_no_group(tmp_path: Path) -> None:
    assert len(_trainer(tmp_path, policy="optimal_sample").opt.param_groups) == 1


def test_initial_log_sigma_of_every_learned_policy(tmp_path: Path) -> None:
    x = torch.rand(5, 1, 8, 8)
    for policy in ("learned_scalar", "learned_pixel", "learned_vector", "staged"):
        t = _trainer(tmp_path / policy, policy=policy, init=-1.5, min_log_sigma=None)
        ls = t.policy.log_sigma(x, t.model(x))
        torch.testing.assert_close(ls.detach().expand_as(x), torch.full_like(x, -1.5))


@pytest.mark.parametrize("policy", ["fixed", "optimal_global", "optimal_sample"])
def test_sigma_lr_is_refused_where_there_is_nothing_to_learn(policy: str) -> None:
    with pytest.raises(SpecError) as err:
        trial_config({"objective": {"sigma": {"policy": policy, "lr": 0.1}}})
    assert err.value.field == "objective.sigma.lr"


@pytest.mark.parametrize("lr", [0.0, -1.0, 11.0])
def test_sigma_lr_is_validated(lr: float) -> None:
    with pytest.raises(SpecError) as err:
        trial_config({"objective": {"sigma": {"policy": "learned_scalar", "lr": lr}}})
    assert err.value.field == "objective.sigma.lr"
