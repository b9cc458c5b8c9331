"""Deprecated accessors of the plugin registries: use :mod:`rdlab.registry` directly.

Kept only while ``train/trainer.py`` still calls :func:`model_registry` (issue 15's loop
refactor removes that call, and then this module).
"""

from __future__ import annotations

from typing import Any

from rdlab.registry import DATASETS, MODELS, SIGMA_POLICIES, Registry


def dataset_registry() -> Registry[Any]:
    return DATASETS


def model_registry() -> Registry[Any]:
    return MODELS


def sigma_registry() -> Registry[Any]:
    return SIGMA_POLICIES
