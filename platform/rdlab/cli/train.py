"""``rdlab train``: one trial into a directory — ``metrics.json``, ``curve.parquet``, and
the checkpoint it resumes from. Progress: a bar on a TTY, plain lines otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from rdlab.config import TrialConfig
from rdlab.evaluate import CachedClassifier, resolve_cache_dir
from rdlab.storage import atomic_write
from rdlab.train.hooks import Callback, EpochReport, TrialResult
from rdlab.train.member import Member
from rdlab.trial import Trial


class Progress(Callback):
    """Epoch progress: tqdm on a TTY, one line per epoch otherwise (logs, CI)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.bar: Any = None

    def on_start(self, member: Member) -> None:
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=member.epoch,
                unit="epoch",
                file=self.stream,
                dynamic_ncols=True,
            )
        elif member.epoch:
            print(f"resuming at epoch {member.epoch}/{self.total}", file=self.stream)

    def on_epoch_end(self, member: Member, r: EpochReport) -> None:
        m = r.metrics
        text = (
            f"rate {m['val/rate']:.3f}  nll_opt {m['val/nll_opt']:.3f}  "
            f"elbo {m['val/elbo']:.3f}  log σ {m['val/log_sigma_x']:.3f}"
        )
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)
        else:
            print(f"epoch {r.epoch}/{self.total}  val: {text}", file=self.stream, flush=True)

    def on_end(self, member: Member, result: TrialResult) -> None:
        if self.bar is not None:
            self.bar.close()


def write_outputs(out: Path, cfg: TrialConfig, result: TrialResult) -> None:
    import pandas as pd

    summary = {
        "status": result.status,
        "epochs_done": result.epochs_done,
        "diverged_epoch": result.diverged_epoch,
        "wall_s": result.wall_s,
        "eval_wall_s": result.eval_wall_s,
        "frechet_classifier": result.frechet_classifier,
        "artifacts": result.artifacts,
        "splits": result.final,
    }
    atomic_write(out / "metrics.json", lambda fh: fh.write(json.dumps(summary, indent=2).encode()))
    atomic_write(
        out / "config.yaml",
        lambda fh: fh.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode()),
    )
    df = pd.DataFrame(result.history)
    atomic_write(out / "curve.parquet", lambda fh: df.to_parquet(fh, index=False))


def run_train(cfg: TrialConfig, out: Path, device: str | None = None, resume: bool = True) -> int:
    trial = Trial(
        cfg,
        out,
        callbacks=[Progress(cfg.train.epochs)],
        device=device,
        classifier=CachedClassifier(resolve_cache_dir(out) / "frechet"),
    )
    result = trial.run(resume=resume)[0]
    write_outputs(out, cfg, result)
    status = result.status
    where = f" at epoch {result.diverged_epoch}" if result.diverged_epoch else ""
    print(f"{status}{where}: {result.epochs_done} epochs in {result.wall_s:.1f}s → {out}")
    for split, m in result.final.items():
        print(f"  {split:<5} " + "  ".join(f"{k} {v:.4g}" for k, v in m.items()))
    return 0
