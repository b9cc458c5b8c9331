"""Atomic checkpoints: write to a temp file in the same folder, fsync, rename.

A kill during a write leaves the previous good file; loading uses
``torch.load(weights_only=True)`` so a crafted checkpoint cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rdlab.config import TrainConfig
from rdlab.errors import SpecError
from rdlab.storage import atomic_write

CHECKPOINT_NAME = "last.pt"


def checkpoint_due(train: TrainConfig, epoch: int, wall_since_last_s: float) -> bool:
    """Whether a trial checkpoints after ``epoch`` (1-based): see ``TrainConfig``."""
    if epoch >= train.epochs:
        return True
    if train.checkpoint_every is not None:
        return epoch % train.checkpoint_every == 0
    return wall_since_last_s >= train.checkpoint_interval_s


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / CHECKPOINT_NAME
    atomic_write(path, lambda fh: torch.save(state, fh))
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file (or the one inside a checkpoint directory), weights only."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    try:
        state: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise SpecError(str(path), "no checkpoint there") from None
    except Exception as err:  # truncated, foreign, or carrying pickled code
        raise SpecError(
            str(path),
            f"not a loadable rdlab checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]})",
        ) from None
    if not isinstance(state, dict) or state.get("format") != "rdlab-checkpoint-1":
        raise SpecError(str(path), "not an rdlab checkpoint (format marker missing)")
    return state


def has_checkpoint(directory: Path) -> bool:
    return (Path(directory) / CHECKPOINT_NAME).is_file()
