"""Atomic checkpoints: write to a temp file in the same folder, fsync, rename.

A kill during a write leaves the previous good file; loading uses
``torch.load(weights_only=True)`` so a crafted checkpoint cannot run code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from rdlab.config import TrainConfig
from rdlab.errors import SpecError

CHECKPOINT_NAME = "last.pt"


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def checkpoint_due(train: TrainConfig, epoch: int, wall_since_last_s: float) -> bool:
    """Whether a trial checkpoints after ``epoch`` (1-based): see ``TrainConfig``."""
    if epoch >= train.epochs:
        return True
    if train.checkpoint_every is not None:
        return epoch % train.checkpoint_every == 0
    return wall_since_last_s >= train.checkpoint_interval_s


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / CHECKPOINT_NAME
    atomic_write_bytes(path, lambda fh: torch.save(state, fh))
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
