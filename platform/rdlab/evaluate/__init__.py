"""End-of-trial evaluation (issue 4 extends it: IWAE, latent diagnostics, sample quality)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdlab.train.trainer import Trainer


def evaluate_trial(trainer: Trainer) -> dict[str, dict[str, float]]:
    """Final metrics per evaluated split (DESIGN §2 units)."""
    return {split: trainer.evaluate(split) for split in trainer.cfg.eval.splits}
