"""``rdlab eval CHECKPOINT [--k K] [--examples N] [--splits val,test] [--json] [--pictures DIR]``

Re-evaluates a saved trial: the checkpoint's resolved config rebuilds the trial, its weights
are loaded, and :func:`rdlab.evaluate.evaluate_trial` prints the same numbers the trial
reported at its end (the evaluation is seeded; a larger ``--k`` tightens ``iwae``).
CHECKPOINT is a checkpoint file, a checkpoint directory, or a trial directory holding
``checkpoint/``. Nothing is written unless ``--pictures`` is given, except the Fréchet
classifier's cache (``$RDLAB_CACHE`` or ``<trial dir>/../.cache``), as in training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rdlab.config import trial_config
from rdlab.errors import SpecError

MAX_K = 5000
MAIN_KEYS = (
    "rate", "mse", "nll", "nll_opt", "elbo", "bpd", "iwae", "iwae_elbo", "log_sigma_x",
    "active_units", "agg_kl", "fd_recon", "fd_prior", "fd_gmm", "fid_recon", "fid_prior",
    "fid_gmm",
)  # fmt: skip


def register(subparsers: Any, name: str) -> None:
    p = subparsers.add_parser(name, help="re-evaluate a saved trial from its checkpoint")
    p.add_argument("checkpoint", help="checkpoint file or directory, or a trial directory")
    p.add_argument("--k", type=int, default=None, help="IWAE samples (default: eval.iwae_k)")
    p.add_argument("--examples", type=int, default=None, help="IWAE examples per split")
    p.add_argument("--splits", default=None, help="comma-separated splits (default: eval.splits)")
    p.add_argument("--json", action="store_true", help="print one JSON object (NaN → null)")
    p.add_argument(
        "--pictures",
        metavar="DIR",
        default=None,
        help="also draw the pictures, under DIR/artifacts",
    )
    p.add_argument("--no-frechet", action="store_true", help="skip the Fréchet distances")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.set_defaults(func=cmd_eval)


def locate(path: str) -> tuple[Path, Path]:
    """(checkpoint path, trial directory) for a file, checkpoint dir or trial dir."""
    from rdlab.train.checkpoint import CHECKPOINT_NAME  # lazy: torch, only for this command

    p = Path(path).expanduser()
    if not p.exists():
        raise SpecError("CHECKPOINT", f"{p}: no such file or directory")
    if p.is_file():
        return p, p.parent.parent if p.parent.name == "checkpoint" else p.parent
    if (p / CHECKPOINT_NAME).is_file():
        return p, p.parent
    if (p / "checkpoint" / CHECKPOINT_NAME).is_file():
        return p / "checkpoint", p
    raise SpecError("CHECKPOINT", f"{p}: holds no {CHECKPOINT_NAME} (nor checkpoint/)")


def eval_overrides(cfg_eval: Any, args: argparse.Namespace) -> Any:
    """The trial's EvalConfig with the command line's changes, each checked by flag name."""
    from rdlab.data import SPLITS  # lazy: torch, only for this command

    upd: dict[str, Any] = {"pictures": args.pictures is not None}
    if args.k is not None:
        if not 0 <= args.k <= MAX_K:
            raise SpecError("--k", f"must be between 0 and {MAX_K}, got {args.k}")
        upd["iwae_k"] = args.k
    if args.examples is not None:
        if args.examples < 1:
            raise SpecError("--examples", f"must be ≥ 1, got {args.examples}")
        upd["iwae_examples"] = args.examples
    if args.splits is not None:
        splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
        bad = [s for s in splits if s not in SPLITS]
        if bad or not splits:
            raise SpecError("--splits", f"unknown split {bad or args.splits!r}; allowed: {SPLITS}")
        upd["splits"] = splits
    if args.no_frechet:
        upd["frechet"] = False
    return cfg_eval.model_copy(update=upd)


def cmd_eval(args: argparse.Namespace) -> int:
    from rdlab.evaluate.trial import as_jsonable, evaluate_trial, resolve_cache_dir  # lazy: torch
    from rdlab.train.checkpoint import load_checkpoint  # lazy: torch
    from rdlab.train.trainer import Trainer  # lazy: torch

    ckpt, trial_dir = locate(args.checkpoint)
    state = load_checkpoint(ckpt)
    cfg = trial_config(state["config"], prefix="checkpoint config: ")
    ev = eval_overrides(cfg.eval, args)
    out_dir = Path(args.pictures) if args.pictures else trial_dir
    trainer = Trainer(cfg, out_dir, device=args.device)
    # The stored config resolves to ``cfg``; a checkpoint written before a release that
    # fills more defaults into ``to_dict()`` must still load, so compare resolved forms.
    trainer.load_state({**state, "config": cfg.to_dict()})
    t0 = time.perf_counter()
    results = evaluate_trial(trainer, ev, cache_dir=resolve_cache_dir(trial_dir))
    wall = time.perf_counter() - t0
    if args.json:
        blob = {
            "checkpoint": str(ckpt),
            "epoch": trainer.epoch,
            "iwae_k": ev.iwae_k,
            "eval_wall_s": wall,
            "artifacts": trainer.extra_state.get("artifacts", []) if args.pictures else [],
            "splits": as_jsonable(results),
        }
        print(json.dumps(blob, indent=2))
        return 0
    pol = cfg.objective.sigma.policy
    print(
        f"{ckpt}: epoch {trainer.epoch}, {cfg.dataset.name}/{cfg.model.name}, σ policy {pol}, "
        f"K={ev.iwae_k} ({wall:.1f}s)"
    )
    for split, m in results.items():
        print(f"  {split:<5} " + "  ".join(f"{k} {m[k]:.4g}" for k in MAIN_KEYS if k in m))
        dims = [m[k] for k in sorted(m, key=_dim_index) if k.startswith("rate_dim_")]
        print(f"  {'':<5} rate_dim " + " ".join(f"{v:.3g}" for v in dims))
    if args.pictures:
        for rel in trainer.extra_state.get("artifacts", []):
            print(f"  wrote {out_dir / rel}", file=sys.stderr)
    return 0


def _dim_index(key: str) -> int:
    return int(key.rsplit("_", 1)[1]) if key.startswith("rate_dim_") else -1
