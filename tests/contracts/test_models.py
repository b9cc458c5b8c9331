"""Every registered VAE model plugin (rdlab.model.VAEModel) on every data shape it accepts."""

from __future__ import annotations

import json

import pytest
from rdlab.testing import IMAGES, SHAPES, ModelContract
from rdlab.testing.cases import ModelCase

from tests.contracts import small


class TestModels(ModelContract):
    options = small.MODELS


@pytest.mark.parametrize(
    ("name", "shapes"),
    [("mlp_resnet", SHAPES), ("multirate_mlp", SHAPES), ("conv", IMAGES), ("resnet_v2", IMAGES)],
)
def test_built_in_models_accept_the_shapes_they_are_for(
    name: str, shapes: tuple[tuple[int, ...], ...]
) -> None:
    case = ModelCase(name, json.dumps(small.MODELS[name]))
    assert [s for s in SHAPES if case.accepts(s)] == list(shapes)
