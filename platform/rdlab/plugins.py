"""Registry accessors that make sure the built-in plugins have registered themselves.

Built-ins register by decorator when their module is imported; outside packages register
through entry points (group ``rdlab.models`` for models, ``rdlab.datasets``,
``rdlab.sigma_policies``), loaded on first lookup.
"""

from __future__ import annotations

from typing import Any

from rdlab.registry import Registry


def dataset_registry() -> Registry[Any]:
    from rdlab.data import DATASETS

    return DATASETS


def model_registry() -> Registry[Any]:
    import rdlab.models  # noqa: F401  (registers the built-in model plugins)
    from rdlab.model import MODELS

    return MODELS


def sigma_registry() -> Registry[Any]:
    from rdlab.objectives.sigma import SIGMA_POLICIES

    return SIGMA_POLICIES
