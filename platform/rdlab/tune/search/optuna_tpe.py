"""``optuna-tpe``: Optuna's Tree-structured Parzen Estimator (Bergstra et al. 2011), for
one or two objectives (MOTPE), conditional parameters suggested define-by-run.

``search.options.multivariate`` (default true) fits one joint density over the parameters
instead of one per parameter, so it can follow interactions such as β × σ policy;
parameters behind a ``when:`` are still sampled on their own (Optuna's ``group`` mode,
not exposed here, would be needed for them). The cost: every proposal refits the
estimators to all finished trials, so its time grows with the study (issue 16 item 2) —
in both modes. ``python studies/benchmarks/bench_tpe.py`` (the default spec's space, two
objectives, Optuna in memory) measured on this 2-core machine, shared (load 4–12), median
ms per proposal at 100 / 1,000 / 3,000 finished trials: multivariate 1.1 / 13 / 33,
independent 1.9 / 6.6 / 37. Through rdlab's searcher with the study's sqlite store
(``bench_scale.py --proposals``, docs/performance.md) at 100 / 1,000 / 5,000:
multivariate 18 / 24 / 164 ms, independent a flat ~140 ms. Against trials of seconds that
is small up to a few thousand trials; for many thousands of short trials use
``multivariate: false``, ``optuna-nsga2`` or ``random``, whose cost per trial stays flat.
Set ``multivariate: false`` also for the classic independent TPE (e.g. to compare with
published TPE runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.tune.search._sampler import OptunaSampler

if TYPE_CHECKING:
    import optuna


class TPEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    multivariate: bool = True  # joint density over parameters; cost grows with the study


@SEARCH_ALGORITHMS.register("optuna-tpe")
class OptunaTPE(OptunaSampler):
    """Optuna TPE (multivariate by default): proposes from the results so far."""

    Options = TPEOptions
    options: TPEOptions

    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna  # lazy: Optuna loads only when a study runs

        return optuna.samplers.TPESampler(seed=seed, multivariate=self.options.multivariate)
