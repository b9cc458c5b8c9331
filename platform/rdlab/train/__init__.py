"""Training without Ray, MLflow or evaluation: one loop (:mod:`.loop`) for one trial or a
pack of K over an engine (:mod:`.single`, :mod:`.packed`), typed hooks (:mod:`.hooks`),
atomic checkpoints (:mod:`.checkpoint`)."""

from __future__ import annotations

from rdlab.train.hooks import Callback, EpochReport, MemberRecord, TrainResult, TrialResult
from rdlab.train.loop import TrialLoop, make_engine
from rdlab.train.member import Member

__all__ = [
    "Callback",
    "EpochReport",
    "Member",
    "MemberRecord",
    "TrainResult",
    "TrialLoop",
    "TrialResult",
    "make_engine",
]
