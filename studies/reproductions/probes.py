"""Measurements a claim needs beyond the RD table, read from each trial's final checkpoint.

- ``radius`` (004 Theorem 1): mean ‖μ_x‖ of the decoder means for prior draws z ~ N(0, I)
  (the components of the generative model p_θ(x), the theorem's μ) and for reconstructions
  z = μ_z(x), on the test split.
- ``posterior`` (002 §3.2): the individual posterior variances σ_ij² on the test split —
  geometric mean, arithmetic mean, and the fraction below 0.01 ("collapsed").

Every final checkpoint under the study folder is matched to its RD rows by its resolved
config (see :func:`checkpoints`); the trainer is rebuilt from that config, as ``rdlab eval``
does. The results are cached in ``<study>/probes.parquet`` (one row per trial).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from rdlab.config import trial_config
from rdlab.config_io import flatten
from rdlab.evaluate import Subject
from rdlab.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from rdlab.trial import Trial

PROBE_SEED = 20_240_004
SPLIT = "test"
CACHE = "probes.parquet"


def _norms(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).norm(dim=1)


@torch.no_grad()
def radius(trainer: Subject, split: str = SPLIT) -> dict[str, float]:
    model = trainer.model.eval()
    x = trainer.data.split(split)
    g = torch.Generator(device="cpu").manual_seed(PROBE_SEED)
    z = torch.randn(x.shape[0], model.latent_dim, generator=g).to(x.device, x.dtype)
    prior = _norms(model.decode(z)[0])
    mu, _ = model.encode(x)
    recon = _norms(model.decode(mu)[0])
    return {
        "radius_prior": float(prior.mean()),
        "radius_recon": float(recon.mean()),
        "radius_data": float(_norms(x).mean()),
    }


@torch.no_grad()
def posterior(trainer: Subject, split: str = SPLIT) -> dict[str, float]:
    model = trainer.model.eval()
    _, logvar = model.encode(trainer.data.split(split))
    var = logvar.exp()
    return {
        "post_var_geo": float(math.exp(float(logvar.double().mean()))),
        "post_var_mean": float(var.double().mean()),
        "post_var_small": float((var < 0.01).double().mean()),
    }


PROBES: dict[str, Callable[[Subject], dict[str, float]]] = {
    "radius": radius,
    "posterior": posterior,
}


def params_key(cfg: dict[str, object]) -> str:
    """A trial's identity as the RD rows store it (``params``: the flattened resolved config)."""
    return json.dumps(flatten(cfg), sort_keys=True, default=str)


def checkpoints(study_root: Path) -> dict[str, Path]:
    """``params`` key → one final checkpoint directory, for every trial of a study.

    Found by content, not by folder layout: a checkpoint holds the trial's resolved config,
    which is what the RD rows' ``params`` column holds, so packed members (one folder per
    member) and Tune's copies of the same checkpoint all map to their trial.
    """
    out: dict[str, Path] = {}
    for f in sorted(Path(study_root).rglob(CHECKPOINT_NAME)):
        state = load_checkpoint(f.parent, map_location="cpu")
        cfg = trial_config(state["config"], prefix="checkpoint config: ").to_dict()
        out.setdefault(params_key(cfg), f.parent)
    return out


def load_trainer(ckpt: Path, scratch: Path) -> Subject:
    state = load_checkpoint(ckpt, map_location="cpu")
    cfg = trial_config(state["config"], prefix="checkpoint config: ")
    trial = Trial(cfg, scratch, device="cpu")
    trial.loop.load_member(0, state)
    return trial.subject(0)


def run_probes(study_root: Path, kinds: tuple[str, ...]) -> pd.DataFrame:
    """One row per trial (key: ``params``) with the probes' columns, cached in the study."""
    cache = Path(study_root) / CACHE
    wanted = {k for kind in kinds for k in _columns(kind)}
    if cache.exists():
        cached = pd.read_parquet(cache)
        if wanted <= set(cached.columns):
            return cached
    rows = []
    with tempfile.TemporaryDirectory(prefix="rdlab-probe-") as scratch:
        for i, (key, ckpt) in enumerate(checkpoints(study_root).items()):
            trainer = load_trainer(ckpt, Path(scratch) / str(i))
            row: dict[str, object] = {"params": key}
            for kind in kinds:
                row.update(PROBES[kind](trainer))
            rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table.to_parquet(cache, index=False)
    return table


def _columns(kind: str) -> tuple[str, ...]:
    return {
        "radius": ("radius_prior", "radius_recon", "radius_data"),
        "posterior": ("post_var_geo", "post_var_mean", "post_var_small"),
    }[kind]
