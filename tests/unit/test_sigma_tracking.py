"""Learned σ keeps up with its model (issue 14): with rdlab's defaults, a learned scalar σ
ends a short digits trial at its model's closed-form optimum, |sigma_gap| ≤ 0.05.

Smoke-sized version of the acceptance check (the README reports the full-size numbers:
the 8-epoch default trial and the default study): digits, a small residual MLP, 6 epochs
× 12 steps. At σ's old learning rate (the model's 1e-3) log σ cannot travel from 0 to
≈ −1.4 in 72 steps: the same trial ends more than a nat of log σ above its optimum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rdlab.config import trial_config
from rdlab.trial import run_trial

GAP = 0.05


def _final(tmp_path: Path, **sigma: Any) -> tuple[dict[str, dict[str, float]], list[float]]:
    cfg = trial_config(
        {
            "model": {"latent_dim": 4, "hidden": 64, "blocks": 1},
            "train": {"epochs": 6, "device": "cpu"},
            "objective": {"sigma": {"policy": "learned_scalar", **sigma}},
            "eval": {"iwae_k": 0, "frechet": False, "pictures": False},
        }
    )
    result = run_trial(cfg, tmp_path, resume=False)
    assert result.status == "ok"
    return result.final, [h["val/sigma_gap"] for h in result.history]


def test_learned_scalar_sigma_ends_at_its_optimum_with_the_defaults(tmp_path: Path) -> None:
    final, per_epoch = _final(tmp_path)
    for split in ("val", "test"):
        assert abs(final[split]["sigma_gap"]) <= GAP, (split, final[split]["sigma_gap"])
    assert per_epoch[0] > GAP  # it starts at σ = 1, far above; the defaults close the gap
    assert final["val"]["rate"] > 1.0  # and the model encodes something


def test_at_the_models_learning_rate_sigma_lags(tmp_path: Path) -> None:
    final, _ = _final(tmp_path, lr=None)  # None: train.lr, the old behaviour
    assert final["val"]["sigma_gap"] > 0.5
