"""The β sweep of a β-conditioned model (Bae et al. 2023's multi-rate VAE): one trained
network evaluated at every β of its grid gives a whole rate–distortion curve.

At each β the model is conditioned on log β (:meth:`BetaConditioned.conditioned`) and the
ordinary per-split evaluation runs unchanged (:func:`rdlab.evaluate.trial.split_metrics`,
with its own context: the GMM of the aggregate posterior and the shared σ* both depend on
β). The results go under :func:`rdlab.frontier.rows.sweep_key` (``val/beta_0.01``), each with
``beta_eval`` set, and become one RD row per (split, β). Pictures are drawn once, at the
model's default β, by the caller.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rdlab.config import EvalConfig
from rdlab.frontier.rows import sweep_key
from rdlab.model import as_beta_conditioned

if TYPE_CHECKING:
    from rdlab.train.trainer import Trainer


def beta_sweep(
    trainer: Trainer, ev: EvalConfig, frechet_cache: Path
) -> dict[str, dict[str, float]]:
    """{sweep_key(split, β): metrics} for every β of the model's grid and every split."""
    from rdlab.evaluate.trial import split_metrics, trial_context

    model = as_beta_conditioned(trainer.model)
    if model is None:
        return {}
    no_pictures = ev.model_copy(update={"pictures": False})
    out: dict[str, dict[str, float]] = {}
    for beta in model.sweep_betas():
        with model.conditioned(math.log(beta)):
            ctx = trial_context(trainer, no_pictures, frechet_cache)
            for i, split in enumerate(ev.splits):
                m = split_metrics(trainer, no_pictures, ctx, split, salt=i)
                out[sweep_key(split, beta)] = {**m, "beta_eval": beta}
    return out
