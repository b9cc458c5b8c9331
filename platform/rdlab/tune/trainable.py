"""The function trainable: one rdlab trial — or a pack of K (spec ``pack``) — under Ray Tune.

It restores from Tune's checkpoint first, reports metrics with a checkpoint each epoch
(Tune persists it to the study's storage, so a retry on any node resumes from it), opens
each member's MLflow child run itself (so it works on remote workers), and publishes what
the driver reads — pictures and the final report — to the study's storage, never only to
the worker's disk. A trial works in ``<study>/trials/<trial id>/`` on a local storage and in
a scratch folder on an object store.

Member k of the Tune trial ``s0003`` is trial ``s0003-m<k>`` when packed; alone, the member
is the trial. Per-epoch reports carry the first active member's metrics (Tune needs one
set of numbers; Optuna and ASHA never see packs), the final report every member's outcome.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import math
import os
import pickle
import socket
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdlab.config import TrialConfig, trial_config
from rdlab.config_io import set_path
from rdlab.evaluate import ShippedClassifier
from rdlab.frontier.dataset import POINTS_DIR, trial_file_name
from rdlab.frontier.io import trial_points_bytes
from rdlab.frontier.rows import trial_rows
from rdlab.storage import Storage
from rdlab.train.device import Placement
from rdlab.train.hooks import Callback, EpochReport, TrialResult
from rdlab.train.member import Member
from rdlab.trial import Trial
from rdlab.tune.checkpoints import newest_first
from rdlab.tune.outcome import overrides_of
from rdlab.version import code_version

# A trial's last Tune report, kept in its folder once it has ended (see TrialFiles).
FINAL_REPORT = "final_report.json"
MEMBER_SEP = "-m"
# Written by the driver at the study root; a trial that cannot see it is on a node that
# does not share the study's local folder.
STUDY_MARKER = ".rdlab-study"


@dataclass(frozen=True)
class StudyContext:
    """Everything a trial needs besides its sampled parameters; pickled to the workers."""

    study: str
    base: dict[str, Any]
    storage: Storage  # the study's folder (a local path or an object-store URI)
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    threads: int = 1
    splits: tuple[str, ...] = ("val", "test")
    classifier: ShippedClassifier | None = None
    log_checkpoint: bool = True
    callbacks: tuple[str, ...] = ()  # "module:Class" trial callbacks named by the spec
    gpu: float = 0.0  # GPUs each trial reserved (a fraction caps its CUDA memory)


def member_id(trial_id: str, k: int) -> str:
    return f"{trial_id}{MEMBER_SEP}{k}"


def resolve(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    data = base
    for path, value in overrides.items():
        data = set_path(data, path, value)
    return data


def load_callback(path: str) -> Callback:
    """A trial callback from its import path ``module:Class`` (spec ``callbacks``)."""
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    cb = cls()
    if not isinstance(cb, Callback):
        raise TypeError(f"{path} is not an rdlab.train.hooks.Callback")
    return cb


class TrialFiles:
    """Where trial ``trial_id`` works (a local folder) and publishes (the study storage)."""

    def __init__(self, storage: Storage, trial_id: str) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.rel = f"trials/{trial_id}"
        if storage.is_local:
            self.work = storage.local_path(self.rel)
        else:  # scratch: what matters is published to the storage below
            tag = f"{zlib.crc32(storage.uri.encode()):08x}"
            self.work = Path(tempfile.gettempdir()) / "rdlab-trials" / tag / trial_id

    def check_visible(self) -> None:
        """A local storage must be the same folder on every node (a shared volume)."""
        if self.storage.is_local and not self.storage.exists(STUDY_MARKER):
            raise RuntimeError(
                f"--storage {self.storage.uri} is not visible from node "
                f"{socket.gethostname()} (no {STUDY_MARKER} there): on a multi-node cluster "
                "use an object store (--storage s3://bucket/prefix) or a volume every node mounts"
            )

    def publish(self, rel_paths: list[str]) -> None:
        """Copy files of the work folder to the study storage (no-op on a local storage)."""
        if self.storage.is_local:
            return
        for rel in rel_paths:
            src = self.work / rel
            if src.exists():
                self.storage.upload(src, f"{self.rel}/{rel}")

    def record_timeout(self, message: str) -> None:
        self.storage.write_bytes(f"{self.rel}/{TIMEOUT_RECORD}", message.encode())

    def recorded_timeout(self) -> str | None:
        path = f"{self.rel}/{TIMEOUT_RECORD}"
        return self.storage.read_bytes(path).decode() if self.storage.is_file(path) else None

    def claim(self, points: list[dict[str, Any]]) -> None:
        """Record the configuration(s) this id runs, or check a recorded one is the same.

        Ids are Tune's creation counter (TrialNames): a search that starts over after a
        driver died before Tune's first save recreates them, and replays the recorded
        points in id order (:func:`recorded_points`) so each id gets its own configuration
        back. Were one to get another, its recorded result and rows would be attributed to
        the wrong point: refused instead."""
        path = f"{self.rel}/{POINT_RECORD}"
        if self.storage.is_file(path):
            recorded = json.loads(self.storage.read_bytes(path))
            if recorded != json.loads(json.dumps(points)):
                raise RuntimeError(
                    f"trial {self.trial_id} ran {recorded} under an earlier driver and is "
                    f"now proposed {points}; its result is kept: start the study afresh "
                    "under another name to run the new point"
                )
            return
        self.storage.write_bytes(path, json.dumps(points).encode())

    def record_final(self, metrics: dict[str, Any]) -> None:
        self.storage.write_bytes(f"{self.rel}/{FINAL_REPORT}", json.dumps(metrics).encode())

    def recorded_final(self) -> dict[str, Any] | None:
        path = f"{self.rel}/{FINAL_REPORT}"
        if not self.storage.is_file(path):
            return None
        data: dict[str, Any] = json.loads(self.storage.read_bytes(path))
        return data


class TrialTimeout(RuntimeError):
    """A trial ran past ``train.max_trial_seconds`` or ``train.max_epoch_seconds``."""


TIMEOUT_RECORD = "timeout.json"
POINT_RECORD = "point.json"  # the overrides this trial id runs (a pack: one per member)
TIMEOUT_GRACE_S = 5.0  # after the exception is raised in the trial, before the hard stop


def recorded_points(storage: Storage, prefix: str) -> list[dict[str, Any]]:
    """The points that a searcher's trials ``<prefix>0001``, ``<prefix>0002``, … recorded, in
    id order, up to the first id without one: what a search that starts over replays (grid
    and random plans recreate their ids and points deterministically)."""
    out: list[dict[str, Any]] = []
    first = 1  # a searcher's trials count from 1 (Tune's SearchGenerator), a grid's from 0
    while True:
        path = f"trials/{prefix}{first + len(out):04d}/{POINT_RECORD}"
        if not storage.is_file(path):
            return out
        recorded = json.loads(storage.read_bytes(path))
        if len(recorded) != 1:
            return out
        out.append(recorded[0])


class Watchdog(Callback):
    """Ends a trial that runs past its time limits, even one that hangs (issue 17 §4).

    A thread checks the limits every half second. Past one, it records the timeout in the
    trial's folder on the study storage, raises :class:`TrialTimeout` in the training
    thread and, if that thread is stuck in C (a deadlock) and still alive after a grace
    period, ends the worker process. Every later attempt of the trial finds the record and
    fails at once with the same reason, so the study goes on without retrying it.
    """

    def __init__(self, files: TrialFiles, max_trial_s: float | None, max_epoch_s: float | None):
        self.files = files
        self.max_trial_s = max_trial_s
        self.max_epoch_s = max_epoch_s
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.target = 0
        self.t0 = self.last = 0.0
        self.trained_s = 0.0

    def on_start(self, member: Member) -> None:
        if self.thread is not None or (self.max_trial_s is None and self.max_epoch_s is None):
            return
        self.target = threading.get_ident()
        self.t0 = self.last = time.monotonic()
        self.trained_s = member.wall_s  # a resumed trial has already spent this much
        self.thread = threading.Thread(target=self._watch, name="rdlab-watchdog", daemon=True)
        self.thread.start()

    def on_epoch_end(self, member: Member, report: EpochReport) -> None:
        self.last = time.monotonic()

    def on_loop_end(self, members: list[Member], results: list[TrialResult]) -> None:
        self.stop.set()

    def _breach(self) -> str | None:
        now = time.monotonic()
        spent = self.trained_s + now - self.t0
        if self.max_trial_s is not None and spent > self.max_trial_s:
            return f"train.max_trial_seconds={self.max_trial_s:g} (ran {spent:.1f}s)"
        if self.max_epoch_s is not None and now - self.last > self.max_epoch_s:
            ran = now - self.last
            return f"train.max_epoch_seconds={self.max_epoch_s:g} (an epoch ran {ran:.1f}s)"
        return None

    def _watch(self) -> None:
        while not self.stop.wait(0.5):
            why = self._breach()
            if why is None:
                continue
            message = f"trial {self.files.trial_id} exceeded {why}"
            self.files.record_timeout(message)
            print(f"error: TrialTimeout: {message}", file=sys.stderr, flush=True)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.target), ctypes.py_object(TrialTimeout)
            )
            if not self.stop.wait(TIMEOUT_GRACE_S):
                os._exit(3)  # stuck in C: only ending the process frees the trial's slot
            return


class TuneReporter(Callback):
    """Loop callback: one Tune report per epoch (with the loop's checkpoint), and the final
    report with every member's outcome — recorded in the study storage first.

    Tune saves its experiment state every few seconds, not on every trial end; a driver
    killed in between restores a finished trial as unfinished and starts it again. The
    record lets that rerun hand back the finished result instead of training (and logging
    to MLflow) a second time, so every trial's result counts exactly once.
    """

    def __init__(
        self, tune: Any, files: TrialFiles, ids: list[str], points: list[dict[str, Any]]
    ) -> None:
        self.tune = tune
        self.files = files
        self.ids = ids
        self.points = points

    def on_loop_epoch_end(
        self, members: list[Member], reports: list[EpochReport | None], checkpoint: Path | None
    ) -> None:
        first = next((r for r in reports if r is not None), None)
        if first is None:
            return  # every member stopped (diverged) this epoch: the final report follows
        ckpt = None if checkpoint is None else self.tune.Checkpoint.from_directory(str(checkpoint))
        lead = next((m for m, r in zip(members, reports, strict=True) if r is not None), members[0])
        metrics = {
            **first.metrics,
            "mlflow_run_id": lead.record.run_id or "",
            "pack_size": len(members),
            "pack_active": sum(r is not None for r in reports),
        }
        self.tune.report(metrics, checkpoint=ckpt)

    def _artifacts(self, member: Member, result: TrialResult) -> list[str]:
        """Artifact paths relative to the study folder (the report's artifact root)."""
        sub = member.out_dir.relative_to(self.files.work).as_posix()
        prefix = self.files.rel if sub == "." else f"{self.files.rel}/{sub}"
        return [f"{prefix}/{a}" for a in result.artifacts]

    def on_loop_end(self, members: list[Member], results: list[TrialResult]) -> None:
        outcomes = []
        for m, res, tid, point in zip(members, results, self.ids, self.points, strict=True):
            sub = m.out_dir.relative_to(self.files.work).as_posix()
            self.files.publish(
                [a if sub == "." else f"{sub}/{a}" for a in res.artifacts]
            )  # pictures reach the storage before anyone is told about them
            outcomes.append(
                {
                    "trial_id": tid,
                    "overrides": point,
                    "status": res.status,
                    "final": res.final,
                    "history": res.history,
                    "run_id": m.record.run_id,
                    "wall_s": res.wall_s,
                    "artifacts": self._artifacts(m, res),
                    "diverged_epoch": res.diverged_epoch,
                    "frechet_classifier": res.frechet_classifier,
                    "code_version": code_version(),
                }
            )
        lead, r0 = members[0], results[0]
        last = r0.history[-1] if r0.history else {}
        metrics = {
            **last,
            **{f"val/{k}": v for k, v in r0.final.get("val", {}).items() if _number(v)},
            "mlflow_run_id": lead.record.run_id or "",
            # Alone, the trial's own status (Optuna reads it); a pack ran if it got here.
            "trial_status": r0.status if len(members) == 1 else "ok",
            "trial_wall_s": r0.wall_s,
            "epochs_done": r0.epochs_done,
            "diverged_epoch": r0.diverged_epoch or 0,
            "pack_size": len(members),
            "members_json": json.dumps(outcomes),
        }
        self.files.record_final(metrics)
        self.tune.report(metrics)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(float(v))


def _points_artifact(ctx: StudyContext, trial_id: str, prefix: str) -> Any:
    """The trial's own RD rows as a Parquet artifact of its run (rdlab frontier --experiment)."""

    def make(member: Member, result: TrialResult, run_id: str) -> tuple[str, str, bytes]:
        rows = trial_rows(
            study=ctx.study,
            trial_id=trial_id,
            run_id=run_id,
            status=result.status,
            cfg=member.cfg.to_dict(),
            history=result.history,
            final=result.final,
            splits=list(ctx.splits),
            wall_s=result.wall_s,
            artifacts=[f"{prefix}/{a}" for a in result.artifacts],
            extra={
                "code_version": code_version(),
                "frechet_classifier": result.frechet_classifier,
            },
        )
        return POINTS_DIR, trial_file_name(trial_id), trial_points_bytes(rows)

    return make


def _placement(ctx: StudyContext) -> Placement:
    import ray  # lazy: only inside a Ray worker

    ids = tuple(str(i) for i in ray.get_gpu_ids())
    return Placement(gpu_ids=ids, gpu_fraction=min(1.0, ctx.gpu) if ctx.gpu > 0 else 1.0)


def run_trial(config: dict[str, Any], ctx: StudyContext) -> None:
    import torch  # lazy: the driver pickles this function without needing torch's state
    from ray import tune  # lazy: Ray Tune's API lives in this package only

    trial_id = tune.get_context().get_trial_name()  # rdlab's deterministic id (TrialNames)
    files = TrialFiles(ctx.storage, trial_id)
    points: list[dict[str, Any]] = (
        list(config["pack"]) if "pack" in config else [overrides_of(config)]
    )
    files.check_visible()
    files.claim(points)
    recorded = files.recorded_final()
    if recorded is not None:  # it ended before a driver crash Tune's saved state missed
        tune.report(recorded)
        return
    timed_out = files.recorded_timeout()
    if timed_out is not None:  # an earlier attempt ran out of time: fail at once, same reason
        raise TrialTimeout(timed_out)
    torch.set_num_threads(max(1, ctx.threads))
    cfgs: list[TrialConfig] = [trial_config(resolve(ctx.base, p)) for p in points]
    ids = [trial_id] if len(points) == 1 else [member_id(trial_id, k) for k in range(len(points))]
    member_cbs: list[list[Callback]] = [[] for _ in cfgs]
    if ctx.tracking_uri and ctx.experiment_id and ctx.parent_run_id:
        from rdlab.track import TrialTracker  # lazy: mlflow is heavy

        for k, tid in enumerate(ids):
            sub = "" if len(ids) == 1 else f"/m{k}"
            member_cbs[k].append(
                TrialTracker(
                    ctx.tracking_uri,
                    ctx.experiment_id,
                    ctx.parent_run_id,
                    tid,
                    ctx.study,
                    tags={"rdlab.code_version": code_version()},
                    log_checkpoint=ctx.log_checkpoint,
                    points=_points_artifact(ctx, tid, f"{files.rel}{sub}"),
                )
            )
    train = cfgs[0].train
    callbacks: list[Callback] = [
        Watchdog(files, train.max_trial_seconds, train.max_epoch_seconds),
        TuneReporter(tune, files, ids, points),
    ]
    callbacks += [load_callback(p) for p in ctx.callbacks]
    trial = Trial(
        cfgs,
        files.work,
        member_callbacks=member_cbs,
        callbacks=callbacks,
        placement=_placement(ctx),
        classifier=ctx.classifier,
        trial_ids=ids,
    )
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        resume_newest(trial, checkpoint)
    os.makedirs(files.work, exist_ok=True)
    trial.run(resume=False)


def resume_newest(trial: Trial, checkpoint: Any) -> bool:
    """Restore from the newest of the trial's checkpoints at or after the one Tune names
    (rdlab.tune.checkpoints); one that cannot be read (a copy cut short by a crash) gives
    way to the one before it. False: none could be read, the trial starts afresh."""
    for ckpt in newest_first(checkpoint):
        try:
            with ckpt.as_directory() as d:
                if trial.loop.try_resume(Path(d)):
                    return True
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
            msg = f"checkpoint {ckpt.path} unreadable ({err}); trying an older one"
            print(f"warning: {msg}", file=sys.stderr, flush=True)
    return False
