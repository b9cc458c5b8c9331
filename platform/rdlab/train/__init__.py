"""One trial without Ray or MLflow."""

from __future__ import annotations

from rdlab.train.trainer import Callback, EpochReport, Trainer, TrialResult

__all__ = ["Callback", "EpochReport", "Trainer", "TrialResult"]
