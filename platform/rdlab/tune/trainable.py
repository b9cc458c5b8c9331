"""The function trainable: one rdlab trial under Ray Tune.

It restores from Tune's checkpoint first, reports metrics with a checkpoint each epoch,
and opens its MLflow child run itself (so it works on remote workers).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdlab.config import set_path, trial_config
from rdlab.train.trainer import EpochReport, Trainer, TrialResult
from rdlab.tune.outcome import overrides_of


@dataclass(frozen=True)
class StudyContext:
    """Everything a trial needs besides its sampled parameters; pickled to the workers."""

    study: str
    base: dict[str, Any]
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    threads: int = 1
    # Fault injection for tests: "path=value" — a trial whose parameter has that value
    # raises on every attempt (set through $RDLAB_FAIL_IF on the driver).
    fail_if: str = ""


def resolve(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    data = base
    for path, value in overrides.items():
        data = set_path(data, path, value)
    return data


class TuneReporter:
    """Trainer callback: report each epoch (with the checkpoint) and the final outcome."""

    def __init__(self, tune: Any) -> None:
        self.tune = tune

    def _common(self, trainer: Trainer) -> dict[str, Any]:
        return {"mlflow_run_id": trainer.extra_state.get("mlflow_run_id", "")}

    def on_epoch_end(self, trainer: Trainer, report: EpochReport) -> None:
        ckpt = None
        if report.checkpoint_dir is not None:
            ckpt = self.tune.Checkpoint.from_directory(str(report.checkpoint_dir))
        self.tune.report({**report.metrics, **self._common(trainer)}, checkpoint=ckpt)

    def on_end(self, trainer: Trainer, result: TrialResult) -> None:
        last = result.history[-1] if result.history else {}
        final_val = result.final.get("val", {})
        self.tune.report(
            {
                **last,
                **{f"val/{k}": v for k, v in final_val.items()},
                **self._common(trainer),
                "trial_status": result.status,
                "trial_wall_s": result.wall_s,
                "epochs_done": result.epochs_done,
                "diverged_epoch": result.diverged_epoch or 0,
                "final_json": json.dumps(result.final),
                "history_json": json.dumps(result.history),
                "artifacts_json": json.dumps(trainer.extra_state.get("artifacts", [])),
            }
        )


def run_trial(config: dict[str, Any], ctx: StudyContext) -> None:
    import torch
    from ray import tune

    torch.set_num_threads(max(1, ctx.threads))
    overrides = overrides_of(config)
    if ctx.fail_if:
        path, _, value = ctx.fail_if.partition("=")
        if str(overrides.get(path)) == value:
            log = os.environ.get("RDLAB_FAIL_LOG")
            if log:  # lets a test count the attempts Tune made
                with open(log, "a") as fh:
                    fh.write(f"{tune.get_context().get_trial_id()}\n")
            raise RuntimeError(f"injected failure ({ctx.fail_if})")
    cfg = trial_config(resolve(ctx.base, overrides))
    tctx = tune.get_context()
    trial_id = tctx.get_trial_id()
    out_dir = Path(tctx.get_trial_dir() or tempfile.mkdtemp(prefix="rdlab-trial-"))
    callbacks: list[Any] = []
    if ctx.tracking_uri and ctx.experiment_id and ctx.parent_run_id:
        from rdlab.track import TrialTracker

        callbacks.append(
            TrialTracker(
                ctx.tracking_uri,
                ctx.experiment_id,
                ctx.parent_run_id,
                trial_id,
                tctx.get_trial_name(),
                ctx.study,
            )
        )
    callbacks.append(TuneReporter(tune))
    trainer = Trainer(cfg, out_dir / "work", callbacks=callbacks)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            trainer.try_resume(Path(d))
    trainer.run(resume=False)
