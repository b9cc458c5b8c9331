"""The base of the Optuna-sampler plugins: a subclass names its sampler, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest

if TYPE_CHECKING:
    import optuna


class OptunaSampler(SearchAlgorithm):
    """An Optuna sampler behind Tune's OptunaSearch: proposes from the results so far."""

    adaptive: ClassVar[bool] = True

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def build(self, request: SearchRequest) -> SearchPlan:
        from rdlab.tune.search._optuna import optuna_plan  # lazy: imports Ray Tune and Optuna

        # A search that starts over replays its recorded points without drawing from the
        # sampler; seeded as at first, it would then propose its first points again.
        seed = request.seed + 1_000_003 * len(request.replay)
        return optuna_plan(request, self.sampler(seed % 2**32))
