"""``grid``: every combination of the space's ``choice`` values, each with every seed.

Conditional values cross only where their ``when`` holds (:func:`rdlab.study.space.grid_points`);
``search.num_samples`` is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest
from rdlab.study.space import Param, grid_points, with_seeds


@SEARCH_ALGORITHMS.register("grid")
class Grid(SearchAlgorithm):
    """Every combination of choice values (num_samples ignored)."""

    needs_space = False  # an empty space is the base config, once per seed

    def check(self, params: Sequence[Param]) -> None:
        grid_points(list(params))  # refuses non-choice domains, naming the parameter

    def size(self, request: SearchRequest) -> int:
        return len(grid_points(list(request.params)))

    def build(self, request: SearchRequest) -> SearchPlan:
        points = grid_points(list(request.params))
        return SearchPlan(points=tuple(with_seeds(points, list(request.seeds))))
