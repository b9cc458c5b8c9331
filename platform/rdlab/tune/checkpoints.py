"""Each trial's Tune checkpoints on the study storage, and how often Tune saves its
experiment state (issue 16 item 2: every per-trial driver step O(1) in the study's size).

Tune's experiment state (``tune/<experiment>/experiment_state-*.json``) holds every trial,
about 35 KB each with rdlab's results, so one save costs O(N) in the trials so far.

- ``CheckpointConfig(num_to_keep=1)`` made Tune save that state after *every* trial
  checkpoint (Ray 2.60 ``_ExperimentCheckpointManager.on_trial_checkpoint``: the state must
  not name a checkpoint it has deleted), i.e. once per epoch of every trial: O(N) per
  epoch, O(N²) per study. Instead Tune keeps every checkpoint in its books (no forced save),
  :class:`PruneCheckpoints` deletes a trial's older checkpoint folders on the driver as each
  new one arrives (O(1)), and a trial restored from a state saved before its newest
  checkpoint resumes from the newest one still there (:func:`newest_first`).
- The periodic save (``TUNE_GLOBAL_CHECKPOINT_S``) comes every :func:`state_period_s`
  seconds, a period that grows with the study, so the saves' cost per trial stays flat.

A driver killed between two saves loses only time: a finished trial hands back its recorded
final report without training (``rdlab.tune.trainable.TrialFiles``), an unfinished one
resumes from its newest checkpoint.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow.fs as pafs
from ray import tune
from ray.tune import Callback

PREFIX = "checkpoint_"  # Tune's folder names, checkpoint_000000, …: sorted by name = by age
PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
# Seconds between experiment-state saves: one per ~10 planned trials' worth of seconds,
# at least Tune's own floor (10 s) and at most 10 minutes (what a killed driver may redo).
MIN_PERIOD_S, MAX_PERIOD_S, TRIALS_PER_S = 10.0, 600.0, 10.0


def state_period_s(trials: int) -> float:
    """Seconds between Tune's experiment-state saves for a study of ``trials`` trials.

    A save costs ∝ trials (every trial's state is written); a period ∝ trials keeps the
    saves' cost per finished trial flat: 10 s up to 100 trials, 100 s at 1,000, 500 s at
    5,000, at most 600 s."""
    return min(MAX_PERIOD_S, max(MIN_PERIOD_S, trials / TRIALS_PER_S))


@contextmanager
def state_period(trials: int) -> Iterator[float | str]:
    """``TUNE_GLOBAL_CHECKPOINT_S`` for one Tune run (Tune reads it when the run starts);
    a value the user set in the environment wins."""
    mine = os.environ.get(PERIOD_ENV)
    if mine is not None:
        yield mine
        return
    period = state_period_s(trials)
    os.environ[PERIOD_ENV] = f"{period:g}"
    try:
        yield period
    finally:
        os.environ.pop(PERIOD_ENV, None)


def _siblings(checkpoint: Any) -> list[str]:
    """Paths of the checkpoint folders beside ``checkpoint`` (its trial's), oldest first."""
    fs: pafs.FileSystem = checkpoint.filesystem
    parent = posixpath.dirname(str(checkpoint.path).rstrip("/"))
    infos = fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True))
    return sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.Directory and posixpath.basename(i.path).startswith(PREFIX)
    )


def _name(path: str) -> str:
    return posixpath.basename(str(path).rstrip("/"))


def newest_first(checkpoint: Any) -> list[Any]:
    """``checkpoint`` and the newer ones of its trial still on the storage, newest first.

    Tune restores a trial from the checkpoint its last saved experiment state names; the
    trial may have written newer ones after that save (the driver was killed in between),
    and :class:`PruneCheckpoints` may have deleted the one named."""
    own = _name(checkpoint.path)
    newer = [p for p in _siblings(checkpoint) if _name(p) > own]
    fs = checkpoint.filesystem
    return [tune.Checkpoint(p, filesystem=fs) for p in reversed(newer)] + [checkpoint]


class PruneCheckpoints(Callback):
    """Driver-side Tune callback: when a trial reports a checkpoint, delete its older
    checkpoint folders (what ``num_to_keep=1`` did, without Tune's forced state save).
    Listing one trial's folder is O(1) in the number of trials."""

    def __init__(self) -> None:
        self.warned = False

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        own = _name(checkpoint.path)
        try:
            for path in _siblings(checkpoint):
                if _name(path) < own:
                    checkpoint.filesystem.delete_dir(path)
        except OSError as err:  # a full or flaky storage: the study goes on, the disk fills
            if not self.warned:
                self.warned = True
                print(
                    f"warning: could not delete trial {trial}'s older checkpoints ({err}); "
                    "they are kept",
                    file=sys.stderr,
                    flush=True,
                )
