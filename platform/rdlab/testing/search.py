"""Contract of search algorithms (:class:`rdlab.study.algorithm.SearchAlgorithm`).

Each algorithm builds a search over two small spaces (choices only, and a mixed one with a
conditional parameter; an algorithm whose ``check`` refuses a space skips it) without
running a trial: every proposal lies in the space and respects its ``when`` conditions,
gives a valid trial config, and the same seed gives the same proposals. An adaptive
algorithm returns a Tune searcher (asked with ``suggest``, as Tune does, no Ray cluster
needed); any other returns its points, crossed with the seeds.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from rdlab.config import trial_config
from rdlab.config_io import set_path
from rdlab.errors import SpecError
from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan
from rdlab.study.spec import Search, StudySpec, describe, parse_spec
from rdlab.testing.cases import Options, params, selected

PROPOSALS = 6
BASE: dict[str, Any] = {
    "study": "contract",
    "dataset": {"name": "toy_manifold"},
    "model": {"name": "mlp_resnet", "hidden": 8, "blocks": 1},
    "train": {"epochs": 1},
}
SPACES: dict[str, dict[str, Any]] = {
    "choices": {
        "objective.beta": {"choice": [0.5, 1.0, 2.0]},
        "objective.sigma.policy": {"choice": ["fixed", "optimal_sample"]},
        "objective.sigma.value": {
            "choice": [0.5, 0.7071],
            "when": {"objective.sigma.policy": "fixed"},
        },
    },
    "mixed": {
        "objective.beta": {"loguniform": [0.01, 10.0]},
        "train.lr": {"uniform": [1e-4, 1e-2]},
        "train.batch_size": {"int": [16, 64]},
        "objective.sigma.policy": {"choice": ["fixed", "learned_scalar"]},
        "objective.sigma.value": {
            "loguniform": [0.1, 1.0],
            "when": {"objective.sigma.policy": "fixed"},
        },
    },
}


def proposals(plan: SearchPlan, n: int) -> list[dict[str, Any]]:
    """The first ``n`` configurations a plan runs (a searcher is asked as Tune asks it)."""
    if plan.searcher is None:
        return [dict(p) for p in plan.points[:n]]
    out = []
    for i in range(n):
        config = plan.searcher.suggest(f"contract_{i:04d}")
        assert isinstance(config, dict), f"suggest gave {config!r}"
        out.append(dict(config))
    return out


class SearchAlgorithmContract:
    """Subclass as ``Test…``; set ``algorithms`` to test only those (default: all registered)."""

    algorithms: ClassVar[Sequence[str] | None] = None
    options: ClassVar[Options] = {}  # search.options per algorithm

    @classmethod
    def algorithm_names(cls) -> list[str]:
        return selected(SEARCH_ALGORITHMS, cls.algorithms)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "algorithm_name" in metafunc.fixturenames:
            names = self.algorithm_names()
            metafunc.parametrize("algorithm_name", params(names, names))
        if "space_name" in metafunc.fixturenames:
            metafunc.parametrize("space_name", params(list(SPACES), list(SPACES)))

    def spec_data(self, name: str, space: str, **search: Any) -> dict[str, Any]:
        data = copy.deepcopy(BASE)
        options = dict(self.options.get(name, {}))
        data["search"] = {
            "algorithm": name,
            "options": options,
            "num_samples": PROPOSALS,
            "space": copy.deepcopy(SPACES[space]),
            **search,
        }
        return data

    def spec(self, name: str, space: str, **search: Any) -> StudySpec:
        try:
            return parse_spec(self.spec_data(name, space, **search))
        except SpecError as err:
            if err.field.startswith("search.space."):  # its check() refuses this space
                pytest.skip(f"{name} cannot search the {space} space: {err}")
            raise

    def plan(self, spec: StudySpec, study_dir: Path) -> SearchPlan:
        study_dir.mkdir(parents=True, exist_ok=True)
        return spec.algorithm.build(spec.request(f"sqlite:///{study_dir / 'optuna.db'}"))

    def test_options_are_closed(self, algorithm_name: str) -> None:
        cls = SEARCH_ALGORITHMS.get(algorithm_name)
        assert issubclass(cls, SearchAlgorithm)
        with pytest.raises(ValidationError):
            Search(algorithm=algorithm_name, options={"no_such_option": 1})
        defaults = Search(algorithm=algorithm_name)
        assert set(defaults.options) == set(cls.Options.model_fields)

    def test_a_spec_accepts_it(self, algorithm_name: str, space_name: str) -> None:
        spec = self.spec(algorithm_name, space_name)
        assert isinstance(spec.algorithm, SEARCH_ALGORITHMS.get(algorithm_name))
        assert spec.algorithm.size(spec.request()) >= 1
        assert algorithm_name in describe(spec)

    def test_proposals_lie_in_the_space_and_give_valid_configs(
        self, algorithm_name: str, space_name: str, tmp_path: Path
    ) -> None:
        spec = self.spec(algorithm_name, space_name)
        plan = self.plan(spec, tmp_path / "study")
        if spec.algorithm.adaptive:
            assert plan.searcher is not None and plan.num_samples == PROPOSALS
        else:
            assert plan.searcher is None and plan.points and plan.num_samples == 1
        by_path = {p.path: p for p in spec.params}
        for point in proposals(plan, PROPOSALS):
            assert set(point) <= set(by_path), point
            for path, param in by_path.items():
                assert (path in point) == param.active(point), (path, point)
                if path in point:
                    assert param.domain.contains(point[path]), (path, point[path], param.values)
            data = spec.base
            for path, value in point.items():
                data = set_path(data, path, value)
            trial_config(data)

    def test_the_same_seed_proposes_the_same_trials(
        self, algorithm_name: str, space_name: str, tmp_path: Path
    ) -> None:
        spec = self.spec(algorithm_name, space_name)
        a = proposals(self.plan(spec, tmp_path / "a"), PROPOSALS)
        b = proposals(self.plan(spec, tmp_path / "b"), PROPOSALS)
        assert a == b

    def test_seeds_are_crossed_with_points_known_up_front(
        self, algorithm_name: str, tmp_path: Path
    ) -> None:
        spec = self.spec(algorithm_name, "choices")
        if spec.algorithm.adaptive:
            pytest.skip("an adaptive search repeats finished trials per seed afterwards")
        one = self.plan(spec, tmp_path / "one").points
        data = self.spec_data(algorithm_name, "choices")
        data["seeds"] = [3, 4]
        two = self.plan(parse_spec(data), tmp_path / "two").points
        assert len(two) == 2 * len(one)
        assert sorted(p["train.seed"] for p in two) == [3] * len(one) + [4] * len(one)
