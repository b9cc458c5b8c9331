"""Every registered σ policy (rdlab.objectives.sigma) over every VAE model plugin."""

from __future__ import annotations

from rdlab.registry import SIGMA_POLICIES
from rdlab.testing import SigmaPolicyContract

from tests.contracts import small


class TestSigmaPolicies(SigmaPolicyContract):
    model_options = small.MODELS


def test_the_design_policies_are_registered() -> None:
    design = {"fixed", "learned_scalar", "learned_pixel", "learned_vector", "optimal_global"}
    assert design | {"optimal_sample", "staged"} <= set(SIGMA_POLICIES.names())
