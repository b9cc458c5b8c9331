"""Model selection on the validation split for the reproductions on small image data.

The reproductions train every trial ≥ 10⁴ optimisation steps (issue 14). On ``digits``
(1,437 training images) that is ~850 epochs, and every model whose decoder variance adapts
(learned, closed-form, per-sample σ) overfits long before: in calibration the validation
ELBO of a learned scalar σ peaked near 30 nats around step 500–2,000 and fell below −80 by
step 10⁴, its σ² still shrinking to the training error. Reporting the last epoch would
compare how much each setting overfits, not what 000, 002 and 003 claim (they trained on
MNIST/CelebA, tens of thousands of images). So these trials train their full budget and are
*evaluated* at the epoch where their own objective was best on the validation split — early
stopping without stopping, the usual model selection for VAEs.

:class:`BestValidation` is a trial callback (spec ``callbacks:``): after every epoch it
scores each member on the validation split by the Gaussian part of its own training
objective, ``nll + β·rate`` (:func:`validation_objective`: −ELBO at β = 1; the mixture and
PatchGAN terms are not in the per-epoch metrics, so for 002's runs it is their Gaussian
NLL, a reconstruction criterion, plus β·rate), and keeps a copy of the weights (model and
σ policy) of its best epoch; after the last epoch it puts them back, before the final
checkpoint is written, so the evaluation, the checkpoint and the probes all see the selected
model. The per-epoch history keeps the whole trajectory; :func:`selected_epoch` recomputes
the choice from it for the report. A trial resumed mid-way tracks its best from the resumed
epoch on (the reproductions never resume: an interrupted study is rerun from scratch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from rdlab.config import TrialConfig
from rdlab.train import Callback, Member
from torch import Tensor

CALLBACK = "studies.reproductions.selection:BestValidation"  # as a spec names it


def validation_objective(
    cfg: TrialConfig, metrics: Mapping[str, float], prefix: str = "val/"
) -> float:
    """``nll + β·rate`` on the validation split (nats per example; lower is better)."""
    nll, rate = metrics.get(prefix + "nll", math.nan), metrics.get(prefix + "rate", math.nan)
    return float(nll) + cfg.objective.beta * float(rate)


def selected_epoch(cfg: TrialConfig, history: Sequence[Mapping[str, float]]) -> int | None:
    """The epoch :class:`BestValidation` restores: the first with the lowest finite
    validation objective (None without one)."""
    best: tuple[float, int] | None = None
    for h in history:
        score = validation_objective(cfg, h)
        if math.isfinite(score) and (best is None or score < best[0]):
            best = (score, int(h["epoch"]))
    return None if best is None else best[1]


def selected_steps(points: pd.DataFrame, steps_per_epoch: dict[str, int]) -> pd.Series:
    """Per trial (index ``trial_id``): the optimisation step whose weights
    :class:`BestValidation` restored, from the per-epoch validation rows (β from the row,
    ``steps_per_epoch`` by trial id)."""
    ep = points[points["epoch"].notna() & (points["split"] == "val")]
    out = {}
    for tid, g in ep.groupby("trial_id"):
        g = g.sort_values("epoch")
        score = g["nll"].to_numpy(float) + g["beta"].to_numpy(float) * g["rate"].to_numpy(float)
        ok = [i for i, v in enumerate(score) if math.isfinite(v)]
        if ok:
            best = min(ok, key=lambda i: (score[i], i))
            out[tid] = int(g["epoch"].iloc[best]) * steps_per_epoch.get(str(tid), 1)
    return pd.Series(out, dtype=float)


@dataclass
class _Best:
    score: float
    epoch: int
    model: dict[str, Tensor]
    policy: dict[str, Tensor]


class BestValidation(Callback):
    """Keep each member's best-validation weights; restore them after its last epoch."""

    def __init__(self) -> None:
        self.best: dict[int, _Best] = {}  # by id(member): one callback hears a whole pack

    def on_start(self, member: Member) -> None:
        self.best.pop(id(member), None)

    def score(self, member: Member, metrics: Mapping[str, float]) -> float:
        """The selection criterion of an epoch (lower is better)."""
        return validation_objective(member.cfg, metrics)

    def on_epoch_metrics(self, member: Member, epoch: int, metrics: dict[str, float]) -> None:
        score = self.score(member, metrics)
        best = self.best.get(id(member))
        if math.isfinite(score) and (best is None or score < best.score):
            self.best[id(member)] = _Best(
                score,
                epoch,
                {n: t.detach().clone() for n, t in member.model.state_dict().items()},
                {n: t.detach().clone() for n, t in member.policy.state_dict().items()},
            )
        if epoch >= member.cfg.train.epochs:  # the last: put the selected weights back
            chosen = self.best.pop(id(member), None)
            if chosen is not None and chosen.epoch != epoch:
                # load_state_dict copies into the tensors in place, so a packed member's
                # views into the stacked weights are restored too (rdlab.train.packed).
                member.model.load_state_dict(chosen.model)
                member.policy.load_state_dict(chosen.policy)
