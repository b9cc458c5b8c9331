"""Contract suites for rdlab plugins, shipped with the package (STYLE §6).

Every σ policy, model, discriminator, dataset and search algorithm must pass the suite of
its kind. rdlab's own ``tests/contracts/`` run them over every registered plugin; an
outside plugin package runs them on its plugins with one line in a test module::

    from rdlab.testing import SigmaPolicyContract

    class TestMyPolicy(SigmaPolicyContract):
        policies = ("my_policy",)  # None (the default): every registered policy

Each suite is a base class for pytest (collected through the ``Test…`` subclass); its
class variables choose the plugins and the small options that keep the suite fast.
Requires pytest (rdlab's ``dev`` extra).
"""

from __future__ import annotations

from rdlab.testing.cases import BATCH, EPOCHS, IMAGES, LATENT, SHAPES, VECTOR
from rdlab.testing.datasets import DatasetContract
from rdlab.testing.models import DiscriminatorContract, ModelContract
from rdlab.testing.search import SearchAlgorithmContract
from rdlab.testing.sigma_policies import SigmaPolicyContract

__all__ = [
    "BATCH",
    "EPOCHS",
    "IMAGES",
    "LATENT",
    "SHAPES",
    "VECTOR",
    "DatasetContract",
    "DiscriminatorContract",
    "ModelContract",
    "SearchAlgorithmContract",
    "SigmaPolicyContract",
]
