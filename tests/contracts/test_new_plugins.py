"""A new plugin is one file (issue 15): a σ policy, a model and a search algorithm written
to a temporary package, registered only through entry points (as an outside package would
be, with no rdlab file edited), get their contract suites from ``rdlab.testing`` in one
line each, and a trial config and a study spec accept them by name.

The plugins run in a separate pytest process: registering them here would add them to
this session's registries, and to every other contract test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = "rdlab_throwaway"
SIGMA = '''
"""σ = ``scale``, fixed (a throw-away plugin)."""
from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from rdlab.model import VAEOutput
from rdlab.objectives.sigma.base import SigmaPolicy
from rdlab.registry import SIGMA_POLICIES


class ScaleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scale: float = Field(0.5, gt=0.0)


@SIGMA_POLICIES.register("throwaway_sigma")
class Scale(SigmaPolicy):
    Options = ScaleOptions

    def __init__(self, min_log_sigma: float | None = -6.0, scale: float = 0.5) -> None:
        super().__init__(min_log_sigma)
        self.scale = scale

    def log_sigma(self, x: torch.Tensor, out: VAEOutput) -> torch.Tensor:
        return self.floor(torch.full((1,) * x.dim(), math.log(self.scale)))
'''
MODEL = '''
"""A one-layer VAE for vector data (a throw-away plugin)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from rdlab.errors import SpecError
from rdlab.model import VAEModel
from rdlab.registry import MODELS
from torch import Tensor, nn


class TinyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = Field(16, ge=1)


@MODELS.register("throwaway_vae")
class Tiny(VAEModel):
    Options = TinyOptions

    def __init__(self, data_shape: tuple[int, ...], latent_dim: int, width: int = 16) -> None:
        super().__init__(data_shape, latent_dim)
        if len(self.data_shape) != 1:
            raise SpecError("model.name", f"'throwaway_vae' needs vectors, got {data_shape}")
        self.width = width
        self.encoder = nn.Linear(self.data_shape[0], 2 * latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, width), nn.Tanh())
        self.mean_head = self.make_output_head()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_features(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def make_output_head(self) -> nn.Module:
        return nn.Linear(self.width, self.data_shape[0])
'''
SEARCH = '''
"""Each parameter at its first value, then its last, and so on (a throw-away plugin)."""
from __future__ import annotations

from typing import Any

from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchPlan, SearchRequest
from rdlab.study.space import with_seeds


@SEARCH_ALGORITHMS.register("throwaway_search")
class Corners(SearchAlgorithm):
    def build(self, request: SearchRequest) -> SearchPlan:
        points = []
        for k in range(request.num_samples):
            point: dict[str, Any] = {}
            for p in request.params:
                if p.active(point):
                    values = p.representatives()
                    point[p.path] = values[-1] if k % 2 else values[0]
            points.append(point)
        return SearchPlan(points=tuple(with_seeds(points, list(request.seeds))))
'''
ENTRY_POINTS = f"""
[rdlab.sigma_policies]
throwaway_sigma = {PACKAGE}.sigma:Scale

[rdlab.models]
throwaway_vae = {PACKAGE}.model:Tiny

[rdlab.search_algorithms]
throwaway_search = {PACKAGE}.search:Corners
"""
TESTS = '''
"""The contract suites and the configs, on the throw-away plugins."""
from __future__ import annotations

import pytest
from pydantic import ValidationError
from rdlab.config import ModelConfig, ObjectiveConfig, SigmaConfig, TrialConfig
from rdlab.study.spec import parse_spec
from rdlab.testing import ModelContract, SearchAlgorithmContract, SigmaPolicyContract


class TestSigma(SigmaPolicyContract):
    policies, models = ("throwaway_sigma",), ("throwaway_vae",)


class TestModel(ModelContract):
    models = ("throwaway_vae",)


class TestSearch(SearchAlgorithmContract):
    algorithms = ("throwaway_search",)


def test_the_default_suites_pick_them_up() -> None:
    assert "throwaway_sigma" in SigmaPolicyContract.policy_names()
    assert "throwaway_vae" in [c.name for c in ModelContract.model_cases()]
    assert "throwaway_search" in SearchAlgorithmContract.algorithm_names()


def test_a_trial_config_and_a_spec_accept_them() -> None:
    cfg = TrialConfig(
        model=ModelConfig(name="throwaway_vae", width="8"),
        objective=ObjectiveConfig(sigma=SigmaConfig(policy="throwaway_sigma", scale=0.25)),
        dataset={"name": "toy_manifold"},
    )
    assert cfg.model.options() == {"width": 8}  # normalised to the declared type
    assert cfg.objective.sigma.options() == {"scale": 0.25}
    with pytest.raises(ValidationError, match="unknown key for 'throwaway_sigma'"):
        SigmaConfig(policy="throwaway_sigma", bogus=3)
    spec = parse_spec(
        {
            "study": "throwaway",
            "dataset": {"name": "toy_manifold"},
            "model": {"name": "throwaway_vae"},
            "search": {
                "algorithm": "throwaway_search",
                "num_samples": 2,
                "space": {"objective.sigma.scale": {"uniform": [0.1, 1.0]}},
            },
            "objective": {"sigma": {"policy": "throwaway_sigma"}},
        }
    )
    points = spec.algorithm.build(spec.request()).points
    assert [p["objective.sigma.scale"] for p in points] == [0.1, 1.0]
'''


def _write_package(root: Path) -> None:
    pkg = root / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, source in (("sigma", SIGMA), ("model", MODEL), ("search", SEARCH)):
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    dist = root / f"{PACKAGE}-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)


def test_throwaway_plugins_get_the_contract_suites_and_configs_accept_them(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _write_package(site)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_throwaway.py").write_text(TESTS)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", str(tests)],
        cwd=tmp_path,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for test_id in (
        "TestSigma::test_nll_is_the_gaussian_of_its_log_sigma[throwaway_sigma-throwaway_vae]",
        "TestModel::test_forward_returns_vae_output_of_the_right_shapes[throwaway_vae-2]",
        "TestModel::test_refuses_unsupported_data_shapes_by_name[throwaway_vae-1x8x8]",
        "TestSearch::test_proposals_lie_in_the_space_and_give_valid_configs[throwaway_search-"
        "mixed]",
        "test_a_trial_config_and_a_spec_accept_them",
    ):
        assert f"{test_id} PASSED" in out, (test_id, out[-4000:])
