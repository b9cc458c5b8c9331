"""``mlp_resnet``'s ``dropout`` option: the residual branch's units dropped while training only,
004's block unchanged at 0, and a trial with it as reproducible as one without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import TrialConfig, trial_config
from rdlab.errors import SpecError
from rdlab.model import VAEModel, build_model
from rdlab.models._layers import ResidualMLPBlock
from rdlab.train import Callback
from rdlab.train.packed import PackedEngine, vmap_blocker
from rdlab.trial import Trial
from torch import nn

EVAL: dict[str, Any] = {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False}


def test_the_block_drops_units_of_its_residual_branch_while_training() -> None:
    torch.manual_seed(0)
    block = ResidualMLPBlock(16, nn.ReLU, dropout=0.5)
    h = torch.randn(8, 16)
    branch = block.net(h)  # the branch itself draws nothing
    out = block(h)
    # out = h + m ⊙ branch / (1 − p), m ∈ {0, 1}: inverted dropout on the branch, never on the
    # identity path, so each unit of out − h is either 0 or twice the branch's
    d = out - h
    kept = torch.isclose(d, branch / 0.5, atol=1e-6)
    dropped = d == 0
    assert bool((kept ^ dropped).all())
    assert 0 < int(dropped.sum()) < d.numel()
    block.eval()
    torch.testing.assert_close(block(h), h + branch)


def _model(dropout: float) -> VAEModel:
    torch.manual_seed(3)
    opts = {"hidden": 32, "blocks": 2, "dropout": dropout}
    return build_model("mlp_resnet", (1, 8, 8), 4, opts)


def test_at_zero_the_model_is_004s_and_draws_no_random_numbers() -> None:
    plain, dropped = _model(0.0), _model(0.3)
    a, b = plain.state_dict(), dropped.state_dict()
    assert list(a) == list(b)  # checkpoints interchangeable: dropout adds no parameter
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(5, 1, 8, 8)
    plain.eval()
    dropped.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped.encode(x), plain.encode(x))
    plain.train()
    before = torch.get_rng_state()
    with torch.no_grad():
        plain.encode(x)
        plain.decode_features(torch.zeros(5, 4))
    assert torch.equal(torch.get_rng_state(), before)


def test_dropout_is_refused_outside_zero_to_one_naming_the_field() -> None:
    with pytest.raises(SpecError, match=r"model\.dropout"):
        trial_config({"model": {"name": "mlp_resnet", "dropout": 1.0}})


def _cfg(seed: int, beta: float) -> TrialConfig:
    return trial_config(
        {
            "dataset": {"name": "digits"},
            "model": {
                "name": "mlp_resnet",
                "latent_dim": 4,
                "hidden": 32,
                "blocks": 1,
                "dropout": 0.2,
            },
            "train": {
                "epochs": 3,
                "batch_size": 128,
                "seed": seed,
                "device": "cpu",
                "checkpoint_every": 1,
            },
            "objective": {"beta": beta, "sigma": {"policy": "learned_scalar"}},
            "eval": EVAL,
        }
    )


def test_a_pack_with_dropout_trains_member_by_member_and_resumes_exactly(tmp_path: Path) -> None:
    cfgs = [_cfg(0, 1.0), _cfg(1, 0.5)]
    trial = Trial(cfgs, tmp_path / "pack")
    # vmapped, every member's masks would come from one global stream, not its own
    assert "dropout" in (vmap_blocker(trial.members) or "")
    assert not isinstance(trial.loop.engine, PackedEngine)
    packed = trial.run(resume=False)
    alone = [Trial(c, tmp_path / f"alone{k}").run(resume=False)[0] for k, c in enumerate(cfgs)]
    for p, a in zip(packed, alone, strict=True):
        assert p.history == a.history  # each member's masks are its own run's
    assert packed[0].history != packed[1].history

    class Kill(Callback):
        def on_loop_epoch_end(self, members: Any, reports: Any, checkpoint: Any) -> None:
            if reports[0] is not None and reports[0].epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trial(cfgs, tmp_path / "cut", callbacks=[Kill()]).run(resume=False)
    resumed = Trial(cfgs, tmp_path / "cut").run(resume=True)
    for p, r in zip(packed, resumed, strict=True):
        assert p.history == r.history and p.final == r.final
