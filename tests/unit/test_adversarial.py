"""002's PatchGAN term as the trainer builds it: the discriminator's optimiser defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.train.single import SingleEngine
from rdlab.trial import Trial


def test_discriminator_optimiser_is_002s_adam(tmp_path: Path) -> None:
    # 002 §4: Adam from lr 1e-4 for the discriminator; no other Adam setting is named, so
    # Adam's default betas.
    cfg = trial_config(
        {
            "model": {"latent_dim": 2, "hidden": 16, "blocks": 1},
            "train": {"device": "cpu"},
            "objective": {"adversarial": {"weight": 1.0, "channels": 4}},
        }
    )
    engine = Trial(cfg, tmp_path).loop.engine
    assert isinstance(engine, SingleEngine)
    disc_opt = engine.slots[0].disc_opt
    assert isinstance(disc_opt, torch.optim.Adam)
    group = disc_opt.param_groups[0]
    assert group["lr"] == 1e-4 and tuple(group["betas"]) == (0.9, 0.999)


def test_adversarial_betas_are_validated() -> None:
    with pytest.raises(SpecError) as err:
        trial_config({"objective": {"adversarial": {"betas": [0.5, 1.0]}}})
    assert err.value.field == "objective.adversarial.betas"
