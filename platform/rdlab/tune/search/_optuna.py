"""What the Optuna algorithms share: Ray Tune's OptunaSearch, told the truth about trial
outcomes, over a define-by-run space, with the study kept in sqlite under the study folder
(so ``optuna-dashboard sqlite:///…/optuna.db`` opens it).

Imported only from ``build`` (it imports Ray Tune and Optuna at module level).
"""

from __future__ import annotations

import contextlib
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

from rdlab.study.algorithm import SearchPlan, SearchRequest
from rdlab.study.space import Param


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

    def __init__(self, params: tuple[Param, ...]) -> None:
        self.params = params

    def __call__(self, trial: optuna.Trial) -> None:
        point: dict[str, Any] = {}
        for p in self.params:
            if p.active(point):
                point[p.path] = p.domain.suggest(trial, p.path)


def optuna_plan(request: SearchRequest, sampler: optuna.samplers.BaseSampler) -> SearchPlan:
    """A plan whose Tune searcher asks ``sampler`` for one trial at a time. The Optuna
    study lives in ``request.state_url`` (sqlite beside a local study, PostgreSQL on a
    cluster), or in memory when it is None: then it is saved with Tune's searcher state
    in the study's storage, which is what a resumed study restores."""
    keys = [t.key for t in request.targets]
    modes: list[str] = [t.mode for t in request.targets]
    if request.replay and request.state_url:
        # Starting over: the stored study holds the dead driver's trials (one still
        # RUNNING for ever); the replayed points rebuild it, each told its result again.
        with contextlib.suppress(KeyError):  # none stored yet
            optuna.delete_study(study_name=request.study, storage=request.state_url)
    searcher = RDOptunaSearch(
        space=DefineByRun(request.params),
        metric=keys if len(keys) > 1 else keys[0],
        mode=modes if len(modes) > 1 else modes[0],
        sampler=sampler,
        storage=optuna.storages.RDBStorage(request.state_url) if request.state_url else None,
        study_name=request.study,
        points_to_evaluate=[dict(p) for p in request.replay] or None,
    )
    return SearchPlan(searcher=searcher, num_samples=request.num_samples)
