"""Search algorithms and schedulers from a validated spec.

``optuna-tpe`` / ``optuna-nsga2``: Optuna proposes trials define-by-run (conditional
parameters sampled only when their ``when`` holds), one or two objectives, the study kept
in sqlite under the study folder so ``optuna-dashboard sqlite:///…`` opens it.
``grid`` / ``random``: points enumerated by :mod:`rdlab.study.space`, run by Tune.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from rdlab.study.space import Param, grid_points, random_points, with_seeds
from rdlab.study.spec import StudySpec


class RDOptunaSearch(OptunaSearch):
    """Tells Optuna the truth about non-``ok`` trials.

    Ray's OptunaSearch reports an errored trial's last intermediate metrics as COMPLETE;
    a diverged trial would feed Optuna NaN-adjacent values. Here: ``ok`` → COMPLETE with
    the final values, ``diverged``/errored → FAIL, stopped by the scheduler → PRUNED.
    """

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        status = (result or {}).get("trial_status")
        if error or status == "diverged":
            super().on_trial_complete(trial_id, None, error=True)
        elif status == "ok":
            super().on_trial_complete(trial_id, result, error=False)
        else:
            super().on_trial_complete(trial_id, None, error=False)  # → PRUNED


class DefineByRun:
    """Optuna define-by-run space: a conditional parameter is suggested only when its
    ``when`` holds. A class, not a closure, because Tune pickles the searcher."""

    def __init__(self, params: list[Param]) -> None:
        self.params = params

    def __call__(self, trial: Any) -> None:
        point: dict[str, Any] = {}
        for p in self.params:
            if not p.active(point):
                continue
            lo, hi = ((*p.values, None, None))[:2]
            if p.kind == "loguniform":
                point[p.path] = trial.suggest_float(p.path, lo, hi, log=True)
            elif p.kind == "uniform":
                point[p.path] = trial.suggest_float(p.path, lo, hi)
            elif p.kind == "int":
                point[p.path] = trial.suggest_int(p.path, lo, hi)
            else:
                point[p.path] = trial.suggest_categorical(p.path, list(p.values))


def optuna_storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / 'optuna.db').resolve()}"


def build_search(
    spec: StudySpec, optuna_url: str | None, seed_override: int | None = None
) -> tuple[Any, dict[str, Any], int]:
    """(search_alg or None, param_space, num_samples) for the Tuner. ``optuna_url``: the
    Optuna storage (sqlite beside a local study, PostgreSQL on a cluster); None keeps the
    Optuna study in memory, saved with Tune's searcher state in the study's storage."""
    import optuna

    s = spec.search
    seeds = list(spec.model.seeds)
    if s.algorithm in ("grid", "random"):
        pts = (
            grid_points(spec.params)
            if s.algorithm == "grid"
            else random_points(spec.params, s.num_samples, s.seed)
        )
        from ray import tune

        return None, {"point": tune.grid_search(with_seeds(pts, seeds))}, 1
    sampler = (
        optuna.samplers.NSGAIISampler(seed=s.seed)
        if s.algorithm == "optuna-nsga2"
        else optuna.samplers.TPESampler(seed=s.seed, multivariate=True)
    )
    storage = optuna.storages.RDBStorage(optuna_url) if optuna_url else None
    metrics = [o.key for o in s.objectives]
    modes: list[str] = [o.mode for o in s.objectives]
    alg = RDOptunaSearch(
        space=DefineByRun(spec.params),
        metric=metrics if len(metrics) > 1 else metrics[0],
        mode=modes if len(modes) > 1 else modes[0],
        sampler=sampler,
        storage=storage,
        study_name=spec.name,
    )
    return alg, {}, s.num_samples


def build_scheduler(spec: StudySpec) -> Any:
    sch = spec.search.scheduler
    if sch is None:
        return None
    from ray.tune.schedulers import ASHAScheduler

    obj = spec.search.objectives[0]
    max_t = int(spec.base_config.train.epochs) + 1  # +1: the final-evaluation report
    return ASHAScheduler(
        metric=obj.key,
        mode=obj.mode,
        max_t=max_t,
        grace_period=min(sch.grace_period, max_t),
        reduction_factor=sch.reduction_factor,
    )
