"""``random``: ``search.num_samples`` points drawn from the space, seeded by ``search.seed``,
each with every seed. Known up front, so the trials can be packed."""

from __future__ import annotations

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest
from rdlab.study.space import random_points, with_seeds


@SEARCH_ALGORITHMS.register("random")
class Random(SearchAlgorithm):
    """num_samples points drawn independently from the space."""

    def build(self, request: SearchRequest) -> SearchPlan:
        points = random_points(list(request.params), request.num_samples, request.seed)
        return SearchPlan(points=tuple(with_seeds(points, list(request.seeds))))
