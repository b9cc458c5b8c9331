"""``optuna-nsga2``: Optuna's NSGA-II, a genetic algorithm for one or two objectives
(Deb et al. 2002). It proposes generation by generation, so the first ``population_size``
trials are random; with fewer samples than that it is random search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.tune.search._sampler import OptunaSampler

if TYPE_CHECKING:
    import optuna


class NSGA2Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    population_size: int = Field(50, ge=2)  # trials per generation (Optuna's default)


@SEARCH_ALGORITHMS.register("optuna-nsga2")
class OptunaNSGA2(OptunaSampler):
    """Optuna NSGA-II: a genetic algorithm, one generation of trials at a time."""

    Options = NSGA2Options
    options: NSGA2Options

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna  # lazy: Optuna loads only when a study runs

        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=self.options.population_size
        )
