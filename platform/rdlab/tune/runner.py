"""Run a validated study on Ray Tune: local head by ``ray.init()``, or the cluster named
by ``RAY_ADDRESS`` (``ray job submit``). Finished trials are written to the RD Parquet as
they complete, so a driver crash loses no finished result; ``resume`` continues an
interrupted study with ``Tuner.restore`` without re-running finished trials.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler

from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.frontier.rows import trial_rows
from rdlab.storage import Storage, is_no_space
from rdlab.study.algorithm import SearchPlan
from rdlab.study.spec import StudySpec
from rdlab.tune.checkpoints import PruneCheckpoints, state_period
from rdlab.tune.outcome import TrialOutcome, outcomes_from_result
from rdlab.tune.pack import packed_space
from rdlab.tune.runtime import runtime_env
from rdlab.tune.trainable import StudyContext, recorded_points, resolve, run_trial

EXPERIMENT = "search"


def _error_text(trial: Any) -> str:
    """The last line of a trial's error trace, read from the study's storage (local or an
    object store, wherever the trial ran)."""
    try:
        text = trial.get_error()
    except (OSError, ValueError):
        text = None
    if text is None:
        path = getattr(trial, "error_file", None) or ""
        try:
            text = Path(path).read_text()
        except OSError:
            return "error"
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "error"


class RowsWriter(Callback):
    """Driver-side Tune callback: RD rows for each trial as soon as it ends."""

    def __init__(
        self,
        sink: Callable[[TrialOutcome], None],
        progress: Callable[[str], None],
        halt: Halt | None = None,
    ) -> None:
        self.sink = sink
        self.progress = progress
        self.halt = halt or Halt()
        self.done = 0

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the RunConfig (with its callbacks) into tuner.pkl; the sink holds a
        # lock and the progress function the driver's stdout, neither picklable. Only this
        # driver's instance ever runs: a restored Tuner gets a fresh writer (run_search).
        return {**self.__dict__, "sink": None, "progress": None}

    def _emit(self, trial: Any, error: str | None) -> None:
        for out in outcomes_from_result(str(trial), trial.config, trial.last_result, error):
            self._emit_one(trial, out)

    def _emit_one(self, trial: Any, out: TrialOutcome) -> None:
        self.sink(out)
        self.done += 1
        v = out.final.get("val", {})
        extra = (
            ""
            if not v
            else f"  rate {v.get('rate', float('nan')):.3f}  "
            f"nll_opt {v.get('nll_opt', float('nan')):.3f}"
        )
        desc = ", ".join(f"{k.split('.')[-1]}={_short(x)}" for k, x in out.overrides.items())
        status = out.status
        if status == "diverged":  # the user should see where; the values are the last finite
            status += f" at epoch {out.diverged_epoch or '?'}"
        if out.error:
            extra += f"  ({out.failure}: {out.error[:200]})"
        self.progress(f"[{self.done}] trial {out.trial_id} {status:<13} {desc}{extra}")

    def _check_space(self, trial: Any) -> None:
        text = _error_text(trial)
        if self.halt.reason is None and is_no_space(text):
            # Retrying would only fill the disk again: stop the search (HaltStopper).
            self.halt.reason = f"trial {trial}: {text}"

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check_space(trial)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._emit(trial, None)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check_space(trial)
        self._emit(trial, _error_text(trial))


class TrialNames:
    """Deterministic trial ids: ``s0003`` is the 3rd trial the search created (``r…`` in
    the replicate phase). Ray's own ids are random, so a study rerun with the same seeds,
    or a trial re-created after a driver crash, would otherwise get a new id (and a second
    MLflow run). The Tune trial directory is ``<id>_<ray id>``, unique even so."""

    def __init__(self, experiment: str, directory: bool = False) -> None:
        self.prefix = experiment[:1]
        self.directory = directory

    def __call__(self, trial: Any) -> str:
        index = int(str(trial.experiment_tag).split("_", 1)[0])  # Tune's creation counter
        name = f"{self.prefix}{index:04d}"
        return f"{name}_{trial.trial_id}" if self.directory else name


def tune_state_saved(experiment: Storage) -> bool:
    """Whether Tune can restore the experiment: it needs the ``tuner.pkl`` written when the
    Tuner is built and an ``experiment_state-*.json`` from its first save (at its first
    step, once the trials are created). ``Tuner.can_restore`` checks only the first; a
    restore without the second raises. A driver killed before both are stored (on an object
    store the folder's marker comes first) leaves a study that exists and cannot resume."""
    names = experiment.list()
    return "tuner.pkl" in names and bool(fnmatch.filter(names, "experiment_state-*.json"))


class StudyInterrupted(Exception):
    """Tune stopped before every trial ended (Ctrl-C, SIGTERM): resumable, and not a
    finished study. ``signum`` says which signal (the exit status is 128 + signum)."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum


class NoSpaceLeft(Exception):
    """A trial (or the driver) ran out of disk: the study stops instead of retrying."""


class Halt:
    """Why the search must stop (set by :class:`RowsWriter` from a trial's error), read by
    the Tune stopper. A plain object: Tune pickles the stopper with the run config."""

    def __init__(self) -> None:
        self.reason: str | None = None


class HaltStopper(tune.Stopper):
    """Stops every trial once :class:`Halt` has a reason (a full disk: retrying a trial
    would only fill it again)."""

    def __init__(self, halt: Halt) -> None:
        self.halt = halt

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.halt.reason is not None

    def stop_all(self) -> bool:
        return self.halt.reason is not None


def _sigint_default(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@dataclass
class _Fired:
    sigint: bool = False
    sigterm: bool = False


@contextmanager
def _interrupt_watch() -> Iterator[_Fired]:
    """After Ctrl-C, ``fit()`` returns normally (Ray saves the experiment and asks for a
    restore); that must not pass for a finished study, or its unfinished trials would be
    written up as stopped early. Ray's SIGINT handler puts back the handler it found when
    it fires, so a handler of ours still in place after ``fit()`` means it fired.

    SIGTERM (what Kubernetes sends on eviction, pre-emption, drain and RayJob deletion) is
    handled as Ctrl-C: it hands over to Tune's SIGINT handler, which saves the experiment
    state and stops the trials, instead of Ray's default, which aborts the process."""
    fired = _Fired()
    if threading.current_thread() is not threading.main_thread():
        yield fired  # signal handlers belong to the main thread
        return
    before = signal.getsignal(signal.SIGINT)
    before_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        fired.sigterm = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not _sigint_default:
            handler(signal.SIGINT, frame)  # Tune's: save state, stop trials, return
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _sigint_default)
    signal.signal(signal.SIGTERM, on_term)
    try:
        yield fired
    finally:
        fired.sigint = signal.getsignal(signal.SIGINT) is _sigint_default
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, before_term)


def trial_id_of_dir(path: str) -> str:
    return Path(path).name.split("_", 1)[0]


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class _OneLineErrors(logging.Filter):
    """Ray Tune logs a failed trial (and a failed state save) with its whole traceback on
    the driver's stderr. The study's progress line already names the trial and its error's
    last line, and the full trace stays in the trial's ``error.txt`` in the storage; the
    record keeps its message and loses the traceback, so a full disk or a failing trial
    reads as a few lines, not pages."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text:
            first = record.exc_info[1] if record.exc_info else None
            if first is not None:  # a remote error's text carries its traceback: last line
                lines = [ln for ln in str(first).strip().splitlines() if ln.strip()]
                record.msg = (
                    f"{record.getMessage()}: {lines[-1] if lines else type(first).__name__}"
                )
                record.args = ()
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_tracebacks() -> None:
    """On the handlers Ray's loggers write through (a logger's own filters would miss the
    records of its children, ``ray.tune.execution.tune_controller`` and the like)."""
    for name in ("ray", ""):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _OneLineErrors) for f in handler.filters):
                handler.addFilter(_OneLineErrors())


def _keep_credentials_out_of_runtime_envs() -> None:
    """Ray Tune copies the driver's AWS_* credentials into every trial actor's runtime_env,
    and Ray's runtime-env agent logs runtime_envs in plain text (runtime_env_agent.log).
    rdlab's trials need no object-store credentials (artifacts go through the MLflow
    server; local workers inherit the driver's environment anyway), so they stay out."""
    from ray.tune.execution import class_cache

    names = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if isinstance(names, set | frozenset):
        class_cache.ENV_VARS_TO_PROPAGATE = {n for n in names if not n.startswith("AWS_")}


def init_ray(quiet: bool = True) -> None:
    """Connect to ``RAY_ADDRESS`` when set (cluster / ``ray job submit``), else start a
    local head. The dashboard stays off locally; when on, Ray binds it to 127.0.0.1."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "log_to_driver": not quiet,
        "configure_logging": True,
        "logging_level": "WARNING",
    }
    if os.environ.get("RAY_ADDRESS"):
        # The driver's rdlab (the submitted tree) on every worker: rdlab.tune.runtime.
        ray.init(runtime_env=runtime_env(), **kwargs)
    else:
        # No per-node Prometheus exporter: it listens on 0.0.0.0 and answers without
        # Ray's token, and nothing of a local study reads it (issue 7 §7).
        ray.init(
            include_dashboard=False,
            _system_config={"enable_metrics_collection": False},
            **kwargs,
        )


def alive_nodes() -> int:
    """Nodes of the connected Ray cluster that are alive."""
    return sum(1 for n in ray.nodes() if n.get("Alive"))


TUNE_DIR = "tune"


def tune_storage(study: Storage) -> tuple[str, Any]:
    """Tune's ``storage_path`` and ``storage_filesystem`` for a study folder: Tune writes its
    experiment state and every trial's checkpoints there, from whichever node."""
    tune_dir = study.child(TUNE_DIR)
    if study.is_local:
        return tune_dir.root, None
    return tune_dir.root, tune_dir.fs


def replicate_points(spec: StudySpec, outcomes: list[TrialOutcome]) -> list[dict[str, Any]]:
    """Optuna proposes with the first seed; every finished configuration is then repeated
    for the other seeds (``seeds: [..]``), so each configuration has every seed. In trial-id
    order, not the order trials finished in: the replicates' ids (``r0000``, …) must name
    the same runs when a driver that died before Tune saved them starts them over."""
    seeds = list(spec.model.seeds)[1:]
    done = sorted((o for o in outcomes if o.status == "ok"), key=lambda o: o.trial_id)
    configs = [o.overrides for o in done]
    return [{**c, "train.seed": s} for c in configs for s in seeds]


def run_search(
    spec: StudySpec,
    study: Storage,
    ctx: StudyContext,
    sink: Callable[[TrialOutcome], None],
    resume: bool,
    progress: Callable[[str], None] = print,
    experiment: str = EXPERIMENT,
    points: list[dict[str, Any]] | None = None,
    optuna_url: str | None = None,
) -> list[TrialOutcome]:
    """Run (or resume) one Tune experiment; every trial's outcome also goes to ``sink``.

    ``points`` runs exactly those configurations (the seed-replicate phase) instead of
    the spec's search.
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    _keep_credentials_out_of_runtime_envs()
    _quiet_tracebacks()
    # Per-epoch checkpoints of small trials are frequent by design; the warning is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune keeps every checkpoint in its books (rdlab.tune.checkpoints); the metrics of
    # each, copied into every experiment-state save, are not needed (a restore reads the
    # latest checkpoint's, which Tune keeps whole).
    os.environ.setdefault("TUNE_ONLY_STORE_CHECKPOINT_SCORE_ATTRIBUTE", "1")
    res = spec.model.resources
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, ctx=ctx),
        {"cpu": res.cpu, "gpu": res.gpu, **dict(res.custom)},
    )
    halt = Halt()
    writer = RowsWriter(sink, progress, halt)
    callbacks: list[Callback] = [writer, PruneCheckpoints()]
    planned = len(points) if points is not None else spec.algorithm.size(spec.request())
    path, fs = tune_storage(study)
    exp = study.child(TUNE_DIR, experiment)
    if resume and tune_state_saved(exp):
        progress(f"resuming the Tune experiment at {exp.uri}")
        tuner = tune.Tuner.restore(
            exp.uri if fs is None else exp.path(),
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            storage_filesystem=fs,
        )
    else:
        if resume and experiment == EXPERIMENT:
            # The last driver died before Tune's first experiment-state save (its trials
            # may have uploaded checkpoints already). Nothing of Tune's is left to resume,
            # and refusing would strand the study: without --resume it is refused as
            # existing. Trial ids are deterministic (TrialNames), so a trial that had
            # finished gets its own id again and is handed its recorded final result.
            progress(
                f"no Tune state was saved at {exp.uri} before the last driver stopped: "
                "the search starts over"
            )
        replay: tuple[dict[str, Any], ...] = ()
        if resume and experiment == EXPERIMENT and spec.algorithm.adaptive:
            replay = tuple(recorded_points(study, TrialNames(experiment).prefix))
            if replay:
                progress(f"replaying the points its first {len(replay)} trials recorded")
        resume = False
        plan = (
            spec.algorithm.build(spec.request(optuna_url, replay=replay))
            if points is None
            else SearchPlan(points=tuple(points))
        )
        alg, num_samples = plan.searcher, plan.num_samples
        space = {} if alg is not None else {"point": tune.grid_search(list(plan.points))}
        if alg is None and spec.model.pack > 1:  # points → packs (rdlab.tune.pack)
            space = packed_space(spec, space)
        first = spec.search.objectives[0]
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                search_alg=alg,
                scheduler=build_scheduler(spec),
                num_samples=num_samples,
                max_concurrent_trials=spec.model.max_concurrent,
                metric=None if alg is not None or spec.search.scheduler else first.key,
                mode=None if alg is not None or spec.search.scheduler else first.mode,
                trial_name_creator=TrialNames(experiment),
                trial_dirname_creator=TrialNames(experiment, directory=True),
                # One worker process per concurrent slot, kept for the next trial: a fresh
                # process re-imports torch, MLflow and sklearn (~10 s a trial here, more
                # than a default trial's training; issue 8's profile).
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=experiment,
                storage_path=path,
                storage_filesystem=fs,
                failure_config=tune.FailureConfig(max_failures=spec.model.max_failures),
                # Not num_to_keep=1: Tune would save its whole experiment state after every
                # trial checkpoint; PruneCheckpoints keeps the newest instead.
                checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                callbacks=callbacks,
                stop=HaltStopper(halt),
                verbose=0,
            ),
        )
    if resume:
        # A restored Tuner unpickles its old RunConfig; give it this driver's callback.
        internal = tuner._local_tuner
        assert internal is not None, "restore on a remote Ray client is not supported"
        internal.get_run_config().callbacks = callbacks
        internal.get_run_config().stop = HaltStopper(halt)
        # A study started before PruneCheckpoints: its Tune keeps one checkpoint per trial
        # itself, and saves its state at each (the old cost, for the rest of that study).
    with _interrupt_watch() as fired, state_period(planned):
        grid = tuner.fit()
    if fired.sigterm:
        raise StudyInterrupted(
            "the study was terminated (SIGTERM); finished trials are kept in the RD "
            "points, rerun with --resume to continue the others",
            signal.SIGTERM,
        )
    if fired.sigint:
        raise StudyInterrupted(
            "the study was interrupted (Ctrl-C); finished trials are kept in the RD "
            "points, rerun with --resume to continue the others"
        )
    if halt.reason is not None:
        raise NoSpaceLeft(halt.reason)
    outcomes: list[TrialOutcome] = []
    for i in range(len(grid)):
        r = grid[i]
        m = r.metrics or {}
        tid = trial_id_of_dir(r.path)
        err = None if r.error is None else str(r.error).strip().splitlines()[-1][:500]
        outcomes += outcomes_from_result(tid, r.config or {}, m, err)
    return outcomes


def build_scheduler(spec: StudySpec) -> ASHAScheduler | None:
    """ASHA on the first objective when the spec asks for it (``search.scheduler``)."""
    sch = spec.search.scheduler
    if sch is None:
        return None
    obj = spec.search.objectives[0]
    max_t = int(spec.base_config.train.epochs) + 1  # +1: the final-evaluation report
    return ASHAScheduler(
        metric=obj.key,
        mode=obj.mode,
        max_t=max_t,
        grace_period=min(sch.grace_period, max_t),
        reduction_factor=sch.reduction_factor,
    )


def outcome_rows(spec: StudySpec, out: TrialOutcome) -> list[dict[str, Any]]:
    data = resolve(spec.base, out.overrides)
    try:
        cfg = trial_config(data).to_dict()
    except SpecError:
        cfg = data
    return trial_rows(
        study=spec.name,
        trial_id=out.trial_id,
        run_id=out.run_id,
        status=out.status,
        cfg=cfg,
        history=out.history,
        final=out.final,
        splits=list(spec.base_config.eval.splits),
        wall_s=out.wall_s,
        artifacts=out.artifacts,
        extra={
            "code_version": out.code_version,
            "frechet_classifier": out.frechet_classifier,
            "failure": out.failure,
        },
    )


def summary_line(outcomes: list[TrialOutcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)
