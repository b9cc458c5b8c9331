"""Model selection on the validation split (studies/reproductions/selection.py): after the
last epoch a trial's weights are those of its best validation epoch — in the evaluation and
in the final checkpoint — alone and in a vmapped pack."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from rdlab.config import TrialConfig, trial_config
from rdlab.train import Member
from rdlab.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from rdlab.trial import Trial

from studies.reproductions.selection import (
    BestValidation,
    selected_epoch,
    validation_objective,
)

EPOCHS = 4


class PreferEpoch2(BestValidation):
    """Selects epoch 2 whatever the numbers say, so the restore is always exercised."""

    def score(self, member: Member, metrics: Mapping[str, float]) -> float:
        return 0.0 if metrics["epoch"] == 2 else 1.0


def _cfg(policy: str, seed: int) -> TrialConfig:
    return trial_config(
        {
            "model": {"name": "mlp_resnet", "latent_dim": 3, "hidden": 32, "blocks": 1},
            "train": {"epochs": EPOCHS, "seed": seed, "checkpoint_every": 1},
            "objective": {"beta": 0.5, "sigma": {"policy": policy}},
            "eval": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
        }
    )


def test_objective_is_nll_plus_beta_rate_and_the_first_minimum_is_selected() -> None:
    cfg = _cfg("learned_scalar", 0)
    assert validation_objective(cfg, {"val/nll": 3.0, "val/rate": 2.0}) == 4.0  # β = 0.5
    assert math.isnan(validation_objective(cfg, {"val/nll": 3.0}))
    history = [
        {"epoch": 1.0, "val/nll": 5.0, "val/rate": 0.0},
        {"epoch": 2.0, "val/nll": 2.0, "val/rate": 2.0},
        {"epoch": 3.0, "val/nll": 3.0, "val/rate": 0.0},  # ties epoch 2: the first is kept
        {"epoch": 4.0, "val/nll": math.nan, "val/rate": 0.0},
    ]
    assert selected_epoch(cfg, history) == 2
    assert selected_epoch(cfg, []) is None


@pytest.mark.parametrize("k", [1, 2])
def test_the_selected_epochs_weights_are_evaluated_and_checkpointed(tmp_path: Path, k: int) -> None:
    # two learned σ in a pack: their σ parameters are views into one stacked tensor too
    cfgs = [_cfg("learned_scalar", s) for s in range(k)]
    trial = Trial(cfgs, tmp_path, device="cpu", callbacks=[PreferEpoch2()])
    results = trial.run(resume=False)
    for i, m in enumerate(trial.members):
        assert len(m.history) == EPOCHS  # trained the whole budget
        chosen = m.history[1]  # epoch 2's validation pass
        again = trial.subject(i).validate("val")  # same seeded pass on the restored model
        assert again["nll"] == pytest.approx(chosen["val/nll"], rel=1e-5)
        assert again["rate"] == pytest.approx(chosen["val/rate"], rel=1e-5)
        assert results[i].final["val"]["nll"] == pytest.approx(chosen["val/nll"], rel=1e-5)
        ckpt = load_checkpoint(trial.loop.member_ckpt(i), map_location="cpu")
        for name, t in m.model.state_dict().items():
            assert torch.equal(ckpt["model"][name], t), name
    assert (trial.loop.member_ckpt(0) / CHECKPOINT_NAME).is_file()


def test_selected_steps_from_the_validation_rows() -> None:
    from studies.reproductions.selection import selected_steps
    from tests.reproductions.synthetic import row, table

    rows = [
        row(trial_id="a", split="val", epoch=e, beta=0.5, nll=n, rate=2.0)
        for e, n in ((1, 5.0), (2, 1.0), (3, 4.0))
    ] + [row(trial_id="b", split="val", epoch=e, beta=1.0, nll=10.0 - e, rate=0.0) for e in (1, 2)]
    steps = selected_steps(table(rows), {"a": 12, "b": 100})
    assert steps.to_dict() == {"a": 24.0, "b": 200.0}
