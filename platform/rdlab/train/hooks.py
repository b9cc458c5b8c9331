"""What a trial loop tells the outside world, and what it keeps between processes.

:class:`Callback` is the one hook interface (Lightning's ``Callback``): every method is a
no-op here, a callback overrides the ones it needs, and the loop calls them directly (no
``getattr`` discovery, so a misspelt hook is a type error, not a hook that never fires).
Member hooks receive the :class:`~rdlab.train.member.Member` they concern; loop hooks
(``on_loop_*``) see every member of a pack at once — for a single trial, a pack of one.

:class:`MemberRecord` is the typed state a trial carries across retries besides its
weights: its tracking run and the metric batches not yet delivered. It is saved in the
member's checkpoint; the tracker's sender thread and the checkpoint writer share it
through its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdlab.train.member import Member

STATUS_OK, STATUS_DIVERGED = "ok", "diverged"


@dataclass
class EpochReport:
    epoch: int  # 1-based count of finished epochs
    metrics: dict[str, float]  # "train/rate", "val/nll_opt", "policy/sigma", …
    checkpoint_dir: Path | None  # set when the member's checkpoint was written at this epoch


@dataclass
class TrainResult:
    """How training of one member ended (before its evaluation)."""

    status: str  # ok | diverged
    epochs_done: int
    history: list[dict[str, float]]
    wall_s: float
    diverged_epoch: int | None = None


@dataclass
class TrialResult:
    """One trial, trained and evaluated: what the trackers and the study record."""

    status: str
    epochs_done: int
    final: dict[str, dict[str, float]]  # split → metrics (the last finite val if diverged)
    history: list[dict[str, float]]
    wall_s: float
    diverged_epoch: int | None = None
    artifacts: list[str] = field(default_factory=list)  # relative to the trial's folder
    eval_wall_s: float = 0.0
    frechet_classifier: str | None = None  # sha256 of the classifier the Fréchet distances used
    checkpoint: str | None = None  # the final checkpoint file (trackers publish it)


class MemberRecord:
    """A trial's tracking run and its undelivered metric batches (``{"step", "ts",
    "metrics", "tags"?}``), in order. Appended by the training thread, taken from the
    front by a tracker's sender thread, snapshotted into every checkpoint."""

    def __init__(self, run_id: str | None = None, pending: Sequence[dict[str, Any]] = ()) -> None:
        self.run_id = run_id
        self._pending: list[dict[str, Any]] = list(pending)
        self._lock = threading.Lock()

    def add(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(item)

    def peek(self) -> list[dict[str, Any]]:
        """The pending batches, oldest first (a copy)."""
        with self._lock:
            return list(self._pending)

    def drop(self, n: int) -> None:
        """Forget the ``n`` oldest batches (they were delivered)."""
        with self._lock:
            del self._pending[:n]

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {"run_id": self.run_id, "pending": [dict(p) for p in self._pending]}

    @classmethod
    def from_state(cls, st: dict[str, Any] | None) -> MemberRecord:
        st = st or {}
        return cls(st.get("run_id"), st.get("pending", ()))


class Callback:
    """Hooks of a trial loop. Subclass and override what you need; all are no-ops here.

    Order per member: ``on_start``; per finished epoch ``on_epoch_metrics`` (before the
    checkpoint, so state a callback keeps in ``member.record`` is in it), then
    ``on_epoch_end`` (with the checkpoint, if one was written); after training, while the
    evaluation runs, ``on_artifacts`` (pictures ready to upload); ``on_end`` with the
    evaluated result. Loop hooks follow the member hooks of the same step.
    """

    def on_start(self, member: Member) -> None:
        """Training starts (or resumes at ``member.epoch``)."""

    def on_epoch_metrics(self, member: Member, epoch: int, metrics: dict[str, float]) -> None:
        """An epoch finished with finite metrics (before its checkpoint)."""

    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        """An epoch finished; ``report.checkpoint_dir`` is set if a checkpoint was written."""

    def on_artifacts(self, member: Member, paths: list[str]) -> None:
        """The evaluation wrote these files (relative to ``member.out_dir``)."""

    def on_end(self, member: Member, result: TrialResult) -> None:
        """The trial is trained and evaluated (or diverged)."""

    def on_loop_epoch_end(
        self, members: list[Member], reports: list[EpochReport | None], checkpoint: Path | None
    ) -> None:
        """Every member's report of this epoch (None for a member that has stopped)."""

    def on_loop_end(self, members: list[Member], results: list[TrialResult]) -> None:
        """Every member has ended."""
