"""Parametrizes the contract suite from the plugin table in :mod:`plugin_cases`.

A test asking for ``vae_case`` runs once per VAE model and data shape it supports,
``refused_case`` once per model and shape it must refuse, ``disc_case`` once per
discriminator and image shape, and ``policy_case`` once per registered σ policy and
VAE model (at the model's first supported shape).
"""

from __future__ import annotations

from typing import Any

import pytest
from rdlab.plugins import sigma_registry

from tests.contracts.plugin_cases import MODELS, SHAPES, PolicyCase, discriminators, vae_models


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """Every contract test runs with one torch thread (see tests/conftest.py)."""


def _shape_id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    params: list[Any]
    if "vae_case" in names:
        params = [
            pytest.param((c, s), id=f"{c.name}-{_shape_id(s)}")
            for c in vae_models()
            for s in c.shapes
        ]
        metafunc.parametrize("vae_case", params)
    if "refused_case" in names:
        params = [
            pytest.param((c, s), id=f"{c.name}-{_shape_id(s)}")
            for c in MODELS
            for s in SHAPES
            if s not in c.shapes
        ]
        metafunc.parametrize("refused_case", params)
    if "disc_case" in names:
        params = [
            pytest.param((c, s), id=f"{c.name}-{_shape_id(s)}")
            for c in discriminators()
            for s in c.shapes
        ]
        metafunc.parametrize("disc_case", params)
    if "policy_case" in names:
        params = [
            pytest.param(PolicyCase(p, c, c.shapes[0]), id=f"{p}-{c.name}")
            for p in sigma_registry().names()
            for c in vae_models()
        ]
        metafunc.parametrize("policy_case", params)
