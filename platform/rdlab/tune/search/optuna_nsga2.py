"""``optuna-nsga2``: Optuna's NSGA-II, a genetic algorithm for one or two objectives
(Deb et al. 2002). It proposes generation by generation, so the first ``population_size``
trials are random; with fewer samples than that it is random search."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest


class NSGA2Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    population_size: int = Field(50, ge=2)  # trials per generation (Optuna's default)


@SEARCH_ALGORITHMS.register("optuna-nsga2")
class OptunaNSGA2(SearchAlgorithm):
    """Optuna NSGA-II: a genetic algorithm, one generation of trials at a time."""

    Options = NSGA2Options
    adaptive = True
    options: NSGA2Options

    def build(self, request: SearchRequest) -> SearchPlan:
        import optuna  # lazy: Optuna loads only when a study runs

        from rdlab.tune.search._optuna import optuna_plan  # lazy: imports Ray Tune

        sampler = optuna.samplers.NSGAIISampler(
            seed=request.seed, population_size=self.options.population_size
        )
        return optuna_plan(request, sampler)
