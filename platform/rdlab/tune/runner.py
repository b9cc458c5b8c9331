"""Run a validated study on Ray Tune: local head by ``ray.init()``, or the cluster named
by ``RAY_ADDRESS`` (``ray job submit``). Finished trials are written to the RD Parquet as
they complete, so a driver crash loses no finished result; ``resume`` continues an
interrupted study with ``Tuner.restore`` without re-running finished trials.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback

from rdlab.config import trial_config
from rdlab.errors import SpecError
from rdlab.study.rows import trial_rows
from rdlab.study.spec import StudySpec
from rdlab.tune.outcome import TrialOutcome, outcome_from_result
from rdlab.tune.search import build_scheduler, build_search
from rdlab.tune.trainable import StudyContext, resolve, run_trial

EXPERIMENT = "search"


def _error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None) or ""
    try:
        lines = Path(path).read_text().strip().splitlines()
        return lines[-1][:500] if lines else "error"
    except OSError:
        return "error"


class RowsWriter(Callback):
    """Driver-side Tune callback: RD rows for each trial as soon as it ends."""

    def __init__(
        self, sink: Callable[[TrialOutcome], None], progress: Callable[[str], None]
    ) -> None:
        self.sink = sink
        self.progress = progress
        self.done = 0

    def _emit(self, trial: Any, error: str | None) -> None:
        out = outcome_from_result(trial.trial_id, trial.config, trial.last_result, error)
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
        self.progress(f"[{self.done}] trial {out.trial_id} {out.status:<13} {desc}{extra}")

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._emit(trial, None)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._emit(trial, _error_text(trial))


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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
        ray.init(**kwargs)
    else:
        ray.init(include_dashboard=False, **kwargs)


def tune_path(study_dir: Path) -> Path:
    return Path(study_dir).resolve() / "tune"


def replicate_points(spec: StudySpec, outcomes: list[TrialOutcome]) -> list[dict[str, Any]]:
    """Optuna proposes with the first seed; every finished configuration is then repeated
    for the other seeds (``seeds: [..]``), so each configuration has every seed."""
    seeds = list(spec.model.seeds)[1:]
    configs = [o.overrides for o in outcomes if o.status == "ok"]
    return [{**c, "train.seed": s} for c in configs for s in seeds]


def run_search(
    spec: StudySpec,
    study_dir: Path,
    ctx: StudyContext,
    sink: Callable[[TrialOutcome], None],
    resume: bool,
    progress: Callable[[str], None] = print,
    experiment: str = EXPERIMENT,
    points: list[dict[str, Any]] | None = None,
) -> list[TrialOutcome]:
    """Run (or resume) one Tune experiment; every trial's outcome also goes to ``sink``.

    ``points`` runs exactly those configurations (the seed-replicate phase) instead of
    the spec's search.
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Per-epoch checkpoints of small trials are frequent by design; the warning is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    res = spec.model.resources
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, ctx=ctx), {"cpu": res.cpu, "gpu": res.gpu}
    )
    writer = RowsWriter(sink, progress)
    path = tune_path(study_dir)
    resumable = tune.Tuner.can_restore(str(path / experiment))
    if resume and resumable:
        progress(f"resuming the Tune experiment at {path / experiment}")
        tuner = tune.Tuner.restore(
            str(path / experiment), trainable, resume_unfinished=True, resume_errored=True
        )
    elif resume and experiment == EXPERIMENT:
        raise SpecError("--resume", f"nothing to resume: no Tune experiment at {path}")
    else:
        resume = False
        if points is None:
            alg, space, num_samples = build_search(spec, study_dir)
        else:
            alg, space, num_samples = None, {"point": tune.grid_search(points)}, 1
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
            ),
            run_config=tune.RunConfig(
                name=experiment,
                storage_path=str(path),
                failure_config=tune.FailureConfig(max_failures=spec.model.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[writer],
                verbose=0,
            ),
        )
    if resume:
        # A restored Tuner unpickles its old RunConfig; give it this driver's callback.
        internal = tuner._local_tuner
        assert internal is not None, "restore on a remote Ray client is not supported"
        internal.get_run_config().callbacks = [writer]
    grid = tuner.fit()
    outcomes: list[TrialOutcome] = []
    for i in range(len(grid)):
        r = grid[i]
        m = r.metrics or {}
        tid = m.get("trial_id") or Path(r.path).name
        err = None if r.error is None else str(r.error).strip().splitlines()[-1][:500]
        outcomes.append(outcome_from_result(str(tid), r.config or {}, m, err))
    return outcomes


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
