"""Every registered search algorithm (rdlab.study.algorithm.SearchAlgorithm)."""

from __future__ import annotations

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.testing import SearchAlgorithmContract


class TestSearchAlgorithms(SearchAlgorithmContract):
    pass


def test_the_design_algorithms_are_registered() -> None:
    assert {"optuna-tpe", "optuna-nsga2", "grid", "random"} <= set(SEARCH_ALGORITHMS.names())
