"""Where the default study's validation ``sigma_gap`` comes from (issue 14; docs/conventions.md).

One ``learned_scalar`` trial with the default study's trial config
(``studies/specs/default.yaml``: digits, residual MLP 4 × 200, 30 epochs) per β and weight
decay given; prints one JSON line each with the training and validation split's mse, ELBO
and ``sigma_gap``, and the validation gap split into its two parts:

    gap_val = log σ − ½ log(mse_val / D)
            = [log σ − ½ log(mse_train / D)] − ½ log(mse_val / mse_train)
            =            lag (σ's own)       +     generalisation (the model's)

A learned σ is fitted on the training split, so only the lag is σ's to close.

``--weight-decay`` is a diagnostic, not an rdlab option: the trial's Adam becomes AdamW with
that decoupled decay on the model's parameters (none on σ), in this process only.

    python studies/probes/val_gap.py --beta 0.12 --weight-decay 0 1e-3 0.1 1
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from rdlab.config import trial_config
from rdlab.config_io import apply_overrides
from rdlab.train import single
from rdlab.train.member import Member
from rdlab.trial import Trial

DEFAULT_SPEC = Path(__file__).resolve().parents[1] / "specs" / "default.yaml"
TRIAL_KEYS = ("dataset", "model", "train", "objective")


def adamw(weight_decay: float) -> Any:
    """``single.member_optimizer`` with decoupled weight decay on the model's parameters."""

    def build(m: Member) -> torch.optim.Optimizer:
        groups = [{"params": list(m.model.parameters()), "weight_decay": weight_decay}]
        for params, lr in m.policy.sigma_parameters():
            ps = list(params)
            if ps:
                groups.append({"params": ps, "lr": lr or m.cfg.train.lr, "weight_decay": 0.0})
        return torch.optim.AdamW(groups, lr=m.cfg.train.lr, foreach=True)

    return build


def run(beta: float, weight_decay: float, sets: list[str]) -> dict[str, Any]:
    base = yaml.safe_load(DEFAULT_SPEC.read_text())
    data = {k: base[k] for k in TRIAL_KEYS}
    data["eval"] = {"splits": ["train", "val"], "iwae_k": 0, "frechet": False, "pictures": False}
    more = ["objective.sigma.policy=learned_scalar", f"objective.beta={beta}", *sets]
    cfg = trial_config(apply_overrides(data, more))
    default = single.member_optimizer
    if weight_decay > 0:
        single.member_optimizer = adamw(weight_decay)  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            trial = Trial(cfg, d)
            (res,) = trial.run(resume=False)
    finally:
        single.member_optimizer = default
    tr, va = res.final["train"], res.final["val"]
    generalisation = -0.5 * math.log(va["mse"] / tr["mse"])
    params = sum(float(p.detach().pow(2).sum()) for p in trial.members[0].model.parameters())
    return {
        "beta": beta,
        "weight_decay": weight_decay,
        "set": sets,
        "train": {k: round(tr[k], 4) for k in ("mse", "elbo", "rate", "sigma_gap")},
        "val": {k: round(va[k], 4) for k in ("mse", "elbo", "rate", "sigma_gap")},
        "lag": round(va["sigma_gap"] - generalisation, 4),
        "generalisation": round(generalisation, 4),
        "param_norm": round(math.sqrt(params), 2),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--beta", type=float, nargs="+", default=[0.12])
    ap.add_argument("--weight-decay", type=float, nargs="+", default=[0.0])
    ap.add_argument("--set", action="append", default=[], help="key=value, as rdlab train")
    ap.add_argument("--smoke-test", action="store_true", help="2 epochs")
    a = ap.parse_args()
    sets = [*a.set, "train.epochs=2"] if a.smoke_test else a.set
    for beta in a.beta:
        for wd in a.weight_decay:
            print(json.dumps(run(beta, wd, sets)), flush=True)


if __name__ == "__main__":
    main()
