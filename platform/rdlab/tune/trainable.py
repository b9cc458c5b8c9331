"""The function trainable: one rdlab trial under Ray Tune.

It restores from Tune's checkpoint first, reports metrics with a checkpoint each epoch,
and opens its MLflow child run itself (so it works on remote workers).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdlab.config import trial_config
from rdlab.config_io import set_path
from rdlab.train.checkpoint import atomic_write_bytes
from rdlab.train.trainer import EpochReport, Trainer, TrialResult
from rdlab.tune.outcome import overrides_of

# A trial's last Tune report, kept in its work folder once it has ended (see report_final).
FINAL_REPORT = "final_report.json"


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
    # The study folder (shared storage on a cluster). Each trial works in
    # <study_dir>/trials/<trial id>/: checkpoints and pictures live outside Tune's synced
    # trial dir (its syncer trips over half-written temp files) and outlive the worker.
    study_dir: str = ""


class ProgressMarks:
    """Fault-injection hook for tests ($RDLAB_TRIAL_MARKS=FILE on the worker): one line
    ``<trial id> <pid> <start|epoch|end> <epoch> <time>`` per event, so a test can find the
    process running a trial, kill it mid-epoch, and see where the retry resumed."""

    def __init__(self, path: str, trial_id: str) -> None:
        self.path = path
        self.trial_id = trial_id

    def _mark(self, event: str, epoch: int) -> None:
        with open(self.path, "a") as fh:  # one short append per line: atomic enough
            fh.write(f"{self.trial_id} {os.getpid()} {event} {epoch} {time.time():.3f}\n")

    def on_start(self, trainer: Trainer) -> None:
        self._mark("start", trainer.epoch)

    def on_epoch_end(self, trainer: Trainer, report: EpochReport) -> None:
        self._mark("epoch", report.epoch)

    def on_end(self, trainer: Trainer, result: TrialResult) -> None:
        self._mark("end", result.epochs_done)


def trial_dir(ctx: StudyContext, trial_id: str) -> Path | None:
    return Path(ctx.study_dir) / "trials" / trial_id if ctx.study_dir else None


def report_final(tune: Any, metrics: dict[str, Any], work: Path | None) -> None:
    """Tune's last report for a trial, written to its work folder first.

    Tune saves its experiment state every few seconds, not on every trial end; a driver
    killed in between restores a finished trial as unfinished and starts it again. The
    record lets that rerun hand back the finished result instead of training (and
    logging to MLflow) a second time, so every trial's result counts exactly once.
    """
    if work is not None:
        data = json.dumps(metrics).encode()
        atomic_write_bytes(work / FINAL_REPORT, lambda fh: fh.write(data))
    tune.report(metrics)


def replay_final(tune: Any, work: Path | None) -> bool:
    """Report a trial's recorded final result again; False if it never finished."""
    path = None if work is None else work / FINAL_REPORT
    if path is None or not path.is_file():
        return False
    tune.report(json.loads(path.read_text()))
    return True


def resolve(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    data = base
    for path, value in overrides.items():
        data = set_path(data, path, value)
    return data


class TuneReporter:
    """Trainer callback: report each epoch (with the checkpoint) and the final outcome."""

    def __init__(self, tune: Any, study_dir: str = "") -> None:
        self.tune = tune
        self.study_dir = Path(study_dir).resolve() if study_dir else None

    def _common(self, trainer: Trainer) -> dict[str, Any]:
        return {"mlflow_run_id": trainer.extra_state.get("mlflow_run_id", "")}

    def _artifacts(self, trainer: Trainer) -> list[str]:
        """Artifact paths relative to the study folder (the report's artifact root)."""
        out = []
        for a in trainer.extra_state.get("artifacts", []):
            p = (trainer.out_dir / a).resolve()
            root = self.study_dir
            out.append(str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p))
        return out

    def on_epoch_end(self, trainer: Trainer, report: EpochReport) -> None:
        ckpt = None
        if report.checkpoint_dir is not None:
            ckpt = self.tune.Checkpoint.from_directory(str(report.checkpoint_dir))
        self.tune.report({**report.metrics, **self._common(trainer)}, checkpoint=ckpt)

    def on_end(self, trainer: Trainer, result: TrialResult) -> None:
        last = result.history[-1] if result.history else {}
        final_val = result.final.get("val", {})
        metrics = {
            **last,
            **{f"val/{k}": v for k, v in final_val.items()},
            **self._common(trainer),
            "trial_status": result.status,
            "trial_wall_s": result.wall_s,
            "epochs_done": result.epochs_done,
            "diverged_epoch": result.diverged_epoch or 0,
            "final_json": json.dumps(result.final),
            "history_json": json.dumps(result.history),
            "artifacts_json": json.dumps(self._artifacts(trainer)),
        }
        report_final(self.tune, metrics, trainer.out_dir if self.study_dir else None)


def run_trial(config: dict[str, Any], ctx: StudyContext) -> None:
    from ray import tune

    if replay_final(tune, trial_dir(ctx, tune.get_context().get_trial_name())):
        return  # it ended before a driver crash that Tune's saved state did not see
    if "pack" in config:  # several trials as one batched computation (spec ``pack``)
        from rdlab.tune.packed import run_packed_trial

        return run_packed_trial(config, ctx)
    import torch

    torch.set_num_threads(max(1, ctx.threads))
    overrides = overrides_of(config)
    if ctx.fail_if:
        path, _, value = ctx.fail_if.partition("=")
        if str(overrides.get(path)) == value:
            log = os.environ.get("RDLAB_FAIL_LOG")
            if log:  # lets a test count the attempts Tune made
                with open(log, "a") as fh:
                    fh.write(f"{tune.get_context().get_trial_name()}\n")
            raise RuntimeError(f"injected failure ({ctx.fail_if})")
    cfg = trial_config(resolve(ctx.base, overrides))
    tctx = tune.get_context()
    trial_id = tctx.get_trial_name()  # rdlab's deterministic id (runner.TrialNames)
    out_dir = trial_dir(ctx, trial_id) or Path(tempfile.mkdtemp(prefix=f"rdlab-{trial_id}-"))
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
    callbacks.append(TuneReporter(tune, ctx.study_dir))
    if os.environ.get("RDLAB_TRIAL_MARKS"):
        callbacks.append(ProgressMarks(os.environ["RDLAB_TRIAL_MARKS"], trial_id))
    trainer = Trainer(cfg, out_dir, callbacks=callbacks)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            trainer.try_resume(Path(d))
    trainer.run(resume=False)
