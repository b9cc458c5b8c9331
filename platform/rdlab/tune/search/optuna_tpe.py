"""``optuna-tpe``: Optuna's Tree-structured Parzen Estimator (Bergstra et al. 2011), for
one or two objectives (MOTPE), conditional parameters suggested define-by-run.

``multivariate`` (default true) fits one joint density over the parameters instead of one
per parameter, so it can follow interactions such as β × σ policy. The trade-off: its
per-proposal cost grows with the number of finished trials (issue 16 item 2). Measured on
this machine with a three-parameter conditional space and two objectives (one proposal,
median of 10, Optuna in memory; ``/tmp``-free reproduction: ask/tell over the space of
``studies/specs/default.yaml``):

MEASUREMENTS

For studies of thousands of trials set ``search.options.multivariate: false``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest


class TPEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    multivariate: bool = True  # joint density over parameters; cost grows with the study


@SEARCH_ALGORITHMS.register("optuna-tpe")
class OptunaTPE(SearchAlgorithm):
    """Optuna TPE (multivariate by default): proposes from the results so far."""

    Options = TPEOptions
    adaptive = True
    options: TPEOptions

    def build(self, request: SearchRequest) -> SearchPlan:
        import optuna  # lazy: Optuna loads only when a study runs

        from rdlab.tune.search._optuna import optuna_plan  # lazy: imports Ray Tune

        sampler = optuna.samplers.TPESampler(
            seed=request.seed, multivariate=self.options.multivariate
        )
        return optuna_plan(request, sampler)
