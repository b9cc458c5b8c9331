"""The trial loop: 1..K members over an engine (STYLE §13). Resume, the epoch loop,
per-member divergence, validation, checkpoint timing, history, metrics and hook dispatch
exist here once, for a trial alone and for a pack alike.

A NaN/inf in a member's training sums, weights or validation metrics ends that member as
``diverged`` at that epoch; the others go on. A member's checkpoint is an ordinary trial
checkpoint (``<ckpt>/last.pt`` alone, ``<ckpt>/m<k>/last.pt`` in a pack), written
atomically once ``train.checkpoint_interval_s`` of training has passed (or every
``train.checkpoint_every`` epochs) and always after the last epoch. Resuming restores
weights, optimiser and RNG state, so an interrupted trial ends with the metrics it would
have had.

The loop trains; it does not evaluate (train never imports evaluate): its owner
(:mod:`rdlab.trial`) evaluates each member afterwards and hands the results back through
:meth:`TrialLoop.finish`, which dispatches the end hooks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rdlab.errors import SpecError
from rdlab.train.checkpoint import checkpoint_due, has_checkpoint, load_checkpoint, save_checkpoint
from rdlab.train.engine import Engine
from rdlab.train.hooks import (
    STATUS_DIVERGED,
    Callback,
    EpochReport,
    MemberRecord,
    TrainResult,
    TrialResult,
)
from rdlab.train.member import Member
from rdlab.train.packed import PackedEngine, pack_key, vmap_blocker
from rdlab.train.single import SingleEngine


def make_engine(members: list[Member], vmap: bool = True, grouped: bool = True) -> Engine:
    """The packed engine when there are several members and it can vmap them, else the
    plain one. Members of one loop must share everything but ``objective.*`` and the seed.
    ``grouped``: the model's grouped GEMMs where it has them (False: vmap regardless)."""
    if len({pack_key(m.cfg) for m in members}) > 1:
        raise SpecError(
            "pack",
            "packed trials may differ only in objective.* and train.seed; these differ in "
            "more (data, model, batch size, epochs or lr)",
        )
    if vmap and len(members) > 1 and vmap_blocker(members) is None:
        return PackedEngine(members, grouped=grouped)
    return SingleEngine(members)


def _prefixed(prefix: str, m: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in m.items()}


def _finite(m: dict[str, float]) -> bool:
    return all(v == v and abs(v) != float("inf") for v in m.values())


class TrialLoop:
    """Trains ``engine.members``; ``member_callbacks[k]`` hear about member k, ``callbacks``
    about the loop (and every member)."""

    def __init__(
        self,
        engine: Engine,
        ckpt_dir: Path | str,
        member_callbacks: Sequence[Sequence[Callback]] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.engine = engine
        self.members: list[Member] = engine.members
        self.ckpt_dir = Path(ckpt_dir)
        self.member_callbacks = [list(cbs) for cbs in (member_callbacks or [[]] * self.k)]
        if len(self.member_callbacks) != self.k:
            raise ValueError(f"{len(self.member_callbacks)} callback lists for {self.k} members")
        self.callbacks = list(callbacks)
        self.epoch = 0
        self.wall_s = 0.0
        self.train = self.members[0].cfg.train

    @property
    def k(self) -> int:
        return len(self.members)

    def _hooks(self, k: int) -> list[Callback]:
        return [*self.member_callbacks[k], *self.callbacks]

    # ------------------------------------------------------------------ checkpoints
    def member_ckpt(self, k: int) -> Path:
        return self.ckpt_dir if self.k == 1 else self.ckpt_dir / f"m{k}"

    def save(self) -> Path:
        """Every active member's checkpoint (atomically); returns the loop's folder."""
        for k, m in enumerate(self.members):
            if m.active:
                save_checkpoint(self.member_ckpt(k), {**m.bookkeeping(), **self.engine.state(k)})
        return self.ckpt_dir

    def try_resume(self, source: Path | None = None) -> bool:
        """Restore every member from ``source`` (a loop checkpoint folder) or this loop's
        own; all members or none."""
        src = Path(source or self.ckpt_dir)
        dirs = [src if self.k == 1 else src / f"m{k}" for k in range(self.k)]
        if not all(has_checkpoint(d) for d in dirs):
            return False
        for k, (m, d) in enumerate(zip(self.members, dirs, strict=True)):
            st = load_checkpoint(d, map_location=m.device)
            if st["config"] != m.cfg.to_dict():
                raise SpecError(
                    str(d), "holds a checkpoint of a different config; use a new output directory"
                )
            self.load_member(k, st)
        epochs = {m.epoch for m in self.members}
        if len(epochs) != 1:
            raise SpecError(str(src), f"members checkpointed at different epochs {epochs}")
        self.epoch = epochs.pop()
        self.wall_s = self.members[0].wall_s
        return True

    def load_member(self, k: int, st: dict[str, object]) -> None:
        """Member ``k`` from a loaded checkpoint (weights, optimiser, RNG, bookkeeping)."""
        m = self.members[k]
        self.engine.load_state(k, st)
        m.epoch = int(st["epoch"])  # type: ignore[call-overload]
        m.history = list(st["history"])  # type: ignore[call-overload]
        m.wall_s = float(st["wall_s"])  # type: ignore[arg-type]
        m.record = MemberRecord.from_state(st.get("record"))  # type: ignore[arg-type]
        self.epoch = max(self.epoch, m.epoch)

    # ------------------------------------------------------------------ the loop
    def active(self) -> list[int]:
        return [k for k, m in enumerate(self.members) if m.active]

    def run(self, resume: bool = True, resume_from: Path | None = None) -> list[TrainResult]:
        if resume:
            self.try_resume(resume_from)
        for k, m in enumerate(self.members):
            for cb in self._hooks(k):
                cb.on_start(m)
        saved_at = self.wall_s  # training wall time at the last checkpoint (or the start)
        while self.epoch < self.train.epochs and self.active():
            t0 = time.perf_counter()
            train_m = self.engine.train_epoch(self.epoch)
            vals = self.engine.validate([k for k in self.active() if train_m[k] is not None])
            for k in self.active():
                if train_m[k] is None or not _finite(vals.get(k, {"x": float("nan")})):
                    self.members[k].status = STATUS_DIVERGED
                    self.members[k].diverged_at = self.epoch + 1
                    vals.pop(k, None)
            self.epoch += 1
            self.wall_s += time.perf_counter() - t0
            reports: list[EpochReport | None] = [None] * self.k
            for k, val in vals.items():
                reports[k] = self._epoch_metrics(k, train_m[k] or {}, val)
            ckpt = None
            if vals and checkpoint_due(self.train, self.epoch, self.wall_s - saved_at):
                ckpt, saved_at = self.save(), self.wall_s
            for k, r in enumerate(reports):
                if r is not None:
                    r.checkpoint_dir = None if ckpt is None else self.member_ckpt(k)
                    for cb in self._hooks(k):
                        cb.on_epoch_end(self.members[k], r)
            for cb in self.callbacks:
                cb.on_loop_epoch_end(self.members, reports, ckpt)
        return [m.train_result() for m in self.members]

    def _epoch_metrics(
        self, k: int, train_m: dict[str, float], val: dict[str, float]
    ) -> EpochReport:
        m = self.members[k]
        m.epoch = self.epoch
        m.wall_s = self.wall_s  # a member lasts as long as its loop
        metrics = {
            "epoch": float(self.epoch),
            **_prefixed("train", train_m),
            **_prefixed("val", val),
            **{f"policy/{n}": v for n, v in m.policy.describe().items()},
        }
        m.history.append(metrics)
        for cb in self._hooks(k):  # before the checkpoint, so buffers they keep are in it
            cb.on_epoch_metrics(m, self.epoch, metrics)
        return EpochReport(self.epoch, metrics, None)

    # ------------------------------------------------------------------ the end
    def notify_artifacts(self, k: int, paths: list[str]) -> None:
        for cb in self._hooks(k):
            cb.on_artifacts(self.members[k], list(paths))

    def finish(self, results: list[TrialResult]) -> None:
        """Hand every member's evaluated result to its hooks, then the loop's."""
        for k, (m, r) in enumerate(zip(self.members, results, strict=True)):
            for cb in self._hooks(k):
                cb.on_end(m, r)
        for cb in self.callbacks:
            cb.on_loop_end(self.members, results)
