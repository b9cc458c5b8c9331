"""Study specs are validated in full before Ray starts; errors name the field."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rdlab.errors import SpecError
from rdlab.study.space import grid_points, parse_space, random_points, with_seeds
from rdlab.study.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "studies" / "specs").glob("*.yaml"))


def default() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())
    return data


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_specs_are_valid(path: Path) -> None:
    spec = parse_spec(yaml.safe_load(path.read_text()))
    assert spec.name


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    *head, last = dotted.split("/")
    for k in head:
        d = d[k]
    d[last] = value


BAD = [
    ("foo", 1, "foo"),
    ("search/algorithm", "bayes", "search.algorithm"),
    (
        "search/space/objective.beta",
        {"loguniform": [10, 0.01]},
        "search.space.objective.beta.loguniform",
    ),
    (
        "search/space/objective.beta",
        {"loguniform": [0, 1]},
        "search.space.objective.beta.loguniform",
    ),
    (
        "search/space/objective.sigma.policy",
        {"choice": ["fixed", "nope"]},
        "search.space.objective.sigma.policy",
    ),
    ("search/scheduler", {"name": "asha"}, "search.scheduler"),
    ("search/space/objective.betta", {"uniform": [0, 1]}, "search.space.objective.betta"),
    ("search/space/objective.beta", {"uniform": [-1, 1]}, "search.space.objective.beta"),
    ("search/space", {}, "search.space"),
    ("search/objectives", [{"metric": "nope", "mode": "min"}], "search.objectives.0.metric"),
    ("resources", {"cpu": 1, "gpu": -1}, "resources.gpu"),
    ("model/name", "zzz", "model.name"),
    ("objective/beta", float("nan"), "objective.beta"),
    ("objective/beta", -1.0, "objective.beta"),
    ("max_concurrent", "two", "max_concurrent"),
    ("seeds", [1, 1], "seeds"),
]


@pytest.mark.parametrize(("where", "value", "field"), BAD, ids=[b[2] for b in BAD])
def test_malformed_spec_names_the_field(where: str, value: Any, field: str) -> None:
    data = copy.deepcopy(default())
    _set(data, where, value)
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert err.value.field == field, str(err.value)


def test_cli_refuses_bad_spec_before_ray(tmp_path: Path) -> None:
    data = default()
    data["search"]["scheduler"] = {"name": "asha"}
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(data))
    storage = tmp_path / "runs"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies/rd_frontier.py"),
            "--spec",
            str(spec),
            "--storage",
            str(storage),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: search.scheduler:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not storage.exists()


def test_grid_crosses_conditionals_only_where_active() -> None:
    params = parse_space(
        {
            "objective.beta": {"choice": [0.1, 1.0]},
            "objective.sigma.policy": {"choice": ["fixed", "optimal_sample"]},
            "objective.sigma.value": {
                "choice": [0.5, 0.7071],
                "when": {"objective.sigma.policy": "fixed"},
            },
        }
    )
    pts = grid_points(params)
    assert len(pts) == 2 * (2 + 1)
    assert all(
        ("objective.sigma.value" in p) == (p["objective.sigma.policy"] == "fixed") for p in pts
    )
    assert len(with_seeds(pts, [0, 1, 2])) == 18


def test_random_points_are_seeded_and_in_range() -> None:
    params = parse_space(
        {"objective.beta": {"loguniform": [0.01, 10]}, "train.epochs": {"int": [1, 3]}}
    )
    a, b = random_points(params, 20, seed=3), random_points(params, 20, seed=3)
    assert a == b
    assert all(0.01 <= p["objective.beta"] <= 10 and p["train.epochs"] in (1, 2, 3) for p in a)


def test_conditions_are_ordered_after_their_dependency() -> None:
    params = parse_space(
        {
            "objective.sigma.value": {
                "uniform": [0.1, 1],
                "when": {"objective.sigma.policy": "fixed"},
            },
            "objective.sigma.policy": {"choice": ["fixed", "learned_scalar"]},
        }
    )
    assert [p.path for p in params] == ["objective.sigma.policy", "objective.sigma.value"]


def test_seed_replicates_follow_trial_ids_not_the_order_trials_finished_in() -> None:
    from rdlab.tune.outcome import TrialOutcome
    from rdlab.tune.runner import replicate_points

    spec = parse_spec({**default(), "seeds": [0, 5, 6]})
    runs = [
        TrialOutcome("s0002", {"objective.beta": 2.0}, "ok"),
        TrialOutcome("s0001", {"objective.beta": 1.0}, "ok"),
        TrialOutcome("s0003", {"objective.beta": 3.0}, "failed"),
    ]
    want = [
        {"objective.beta": 1.0, "train.seed": 5},
        {"objective.beta": 1.0, "train.seed": 6},
        {"objective.beta": 2.0, "train.seed": 5},
        {"objective.beta": 2.0, "train.seed": 6},
    ]
    assert replicate_points(spec, runs) == want
    assert replicate_points(spec, runs[::-1]) == want
