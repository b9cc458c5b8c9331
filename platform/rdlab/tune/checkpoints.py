"""Each trial's Tune checkpoints on the study storage, and how often Tune saves its
experiment state (issue 16 item 2: every per-trial driver step O(1) in the study's size).

Tune's experiment state (``tune/<experiment>/experiment_state-*.json``) holds every trial,
about 35 KB each with rdlab's results, so one save costs O(N) in the trials so far.

- ``CheckpointConfig(num_to_keep=1)`` made Tune save that state after *every* trial
  checkpoint (Ray 2.60 ``_ExperimentCheckpointManager.on_trial_checkpoint``: the state must
  not name a checkpoint it has deleted), i.e. once per epoch of every trial: O(N) per
  epoch, O(N²) per study. Instead Tune keeps every checkpoint in its books (no forced save),
  :class:`PruneCheckpoints` deletes a trial's older checkpoint folders on the driver once
  the stored state no longer names them (O(1) each), and a trial restored from a state
  saved before its newest checkpoint resumes from the newest one there
  (:func:`newest_first`).
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
    """Driver-side Tune callback: a trial's older checkpoint folders are deleted once Tune's
    stored experiment state no longer names them (what ``num_to_keep=1`` did, without
    Tune's forced state save at every checkpoint).

    Tune restores a trial from the checkpoint its newest stored state names, and refuses
    (``ValueError: Could not recover from checkpoint as it does not exist on storage
    anymore``, Ray 2.60 ``Trainable.restore``) if that folder is gone. So a checkpoint
    superseded by a newer one is only marked; Tune's next state save (which calls
    :meth:`get_state`) names the newer one, and the save after that deletes the marked
    folders, by when the first save has been stored. Deleting at once, a driver killed
    between two saves left a state naming deleted checkpoints, and its trials failed on
    ``--resume`` (CI's crash-and-resume scenario). Listing one trial's folder is O(1) in the
    number of trials; a finished study keeps at most the folders superseded in its last
    two save periods."""

    def __init__(self) -> None:
        self.warned = False
        self.marked: dict[str, Any] = {}  # superseded since the last save: path → filesystem
        self.ready: dict[str, Any] = {}  # superseded before the last save: deleted at the next

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        own = _name(checkpoint.path)
        try:
            older = [p for p in _siblings(checkpoint) if _name(p) < own]
        except OSError as err:
            self._warn(trial, err)
            return
        for path in older:
            if path not in self.ready:
                self.marked[path] = checkpoint.filesystem

    def get_state(self) -> dict[str, Any] | None:
        """Called by every experiment-state save: delete what the previous save stopped
        naming, and hold what this one stops naming until the next. No state of its own."""
        ready, self.ready, self.marked = self.ready, self.marked, {}
        for path, fs in ready.items():
            try:
                fs.delete_dir(path)
            except FileNotFoundError:
                pass
            except OSError as err:  # a full or flaky storage: the study goes on, the disk fills
                self._warn(posixpath.basename(posixpath.dirname(path)), err)
        return None

    def _warn(self, trial: Any, err: OSError) -> None:
        if not self.warned:
            self.warned = True
            print(
                f"warning: could not delete trial {trial}'s older checkpoints ({err}); "
                "they are kept",
                file=sys.stderr,
                flush=True,
            )
