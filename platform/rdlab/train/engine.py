"""The engine interface of the trial loop (STYLE §13: one loop, many engines).

An engine computes one training epoch for every active member of a loop and owns the
tensors that change while training (optimiser state, RNG streams, the packed weights).
The loop (:mod:`rdlab.train.loop`) owns everything else: epochs, divergence, validation,
checkpoint timing, history, hooks. Two engines: :class:`~rdlab.train.single.SingleEngine`
(members one after another, each its own model and optimiser — a trial alone is a pack of
one) and :class:`~rdlab.train.packed.PackedEngine` (the members' weights stacked and run
as one vmapped computation).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rdlab.model import ModelStack
from rdlab.train.member import Member


class Engine(ABC):
    """Trains ``members`` one epoch at a time; see the module docstring."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members

    @abstractmethod
    def train_epoch(self, epoch: int) -> list[dict[str, float] | None]:
        """One epoch (0-based ``epoch``) for every active member: per member the summed
        training metrics (:func:`rdlab.train.metrics.summarise`), None if a loss or a
        weight went non-finite, and None for members that have already stopped."""

    def stack(self, ks: list[int]) -> ModelStack | None:
        """Members ``ks``' models as one :class:`~rdlab.model.ModelStack` for evaluation, or
        None when this engine does not batch them (each is then evaluated alone)."""
        return None

    def validate(self, ks: list[int]) -> dict[int, dict[str, float]]:
        """Validation metrics of members ``ks``; an engine may batch them."""
        return {k: self.members[k].validate("val") for k in ks}

    @abstractmethod
    def state(self, k: int) -> dict[str, Any]:
        """Member ``k``'s tensors for its checkpoint: ``model``, ``policy``, ``opt``,
        ``rng_cpu`` (and ``rng_cuda``, ``disc``, ``disc_opt``, ``scaler`` when used), in
        the format of a trial trained alone, so any checkpoint opens anywhere."""

    @abstractmethod
    def load_state(self, k: int, st: dict[str, Any]) -> None:
        """Restore member ``k`` from :meth:`state`'s output."""
