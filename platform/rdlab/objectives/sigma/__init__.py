"""σ policies (DESIGN §3), one per file; importing this package registers them all."""

from __future__ import annotations

from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy
from rdlab.objectives.sigma.fixed import Fixed
from rdlab.objectives.sigma.learned_pixel import LearnedPixel
from rdlab.objectives.sigma.learned_scalar import LearnedScalar
from rdlab.objectives.sigma.learned_vector import LearnedVector
from rdlab.objectives.sigma.optimal_global import OptimalGlobal
from rdlab.objectives.sigma.optimal_sample import OptimalSample
from rdlab.objectives.sigma.staged import Staged

__all__ = [
    "SIGMA_POLICIES",
    "Fixed",
    "LearnedPixel",
    "LearnedScalar",
    "LearnedVector",
    "OptimalGlobal",
    "OptimalSample",
    "SigmaPolicy",
    "Staged",
]


def build_policy(name: str, min_log_sigma: float | None, options: dict[str, object]) -> SigmaPolicy:
    cls = SIGMA_POLICIES.get(name, "objective.sigma.policy")
    opts = cls.Options(**options)
    policy: SigmaPolicy = cls(min_log_sigma=min_log_sigma, **opts.model_dump())
    return policy
