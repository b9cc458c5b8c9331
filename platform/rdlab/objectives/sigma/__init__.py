"""σ policies (DESIGN §3), one per file.

Each module registers its policy with ``@SIGMA_POLICIES.register(name)``;
:data:`rdlab.registry.SIGMA_POLICIES` imports every public module here on its first
lookup, so a new policy is one new file (the contract suites in :mod:`rdlab.testing`
run it over every model).
"""

from __future__ import annotations

from rdlab.objectives.sigma.base import SIGMA_POLICIES, SigmaPolicy

__all__ = ["SIGMA_POLICIES", "SigmaPolicy", "build_policy"]


def build_policy(name: str, min_log_sigma: float | None, options: dict[str, object]) -> SigmaPolicy:
    """The σ policy ``name`` with its options validated (an unknown option is an error)."""
    cls = SIGMA_POLICIES.get(name, "objective.sigma.policy")
    opts = cls.Options(**options)
    return cls(min_log_sigma=min_log_sigma, **opts.model_dump())
