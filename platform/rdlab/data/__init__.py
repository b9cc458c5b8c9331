"""Dataset plugins; importing this package registers the built-ins."""

from __future__ import annotations

from typing import Any

from rdlab.data.base import DATASETS, SPLITS, DataSource, GeneratedSource, TensorSource
from rdlab.data.celebahq import CelebAHQ256
from rdlab.data.digits import Digits
from rdlab.data.hypersphere import Hypersphere
from rdlab.data.torchvision_sets import CIFAR10, MNIST, CelebA64, FashionMNIST
from rdlab.data.toy_manifold import ToyManifold

__all__ = [
    "CIFAR10",
    "DATASETS",
    "MNIST",
    "SPLITS",
    "CelebA64",
    "CelebAHQ256",
    "DataSource",
    "Digits",
    "FashionMNIST",
    "GeneratedSource",
    "Hypersphere",
    "TensorSource",
    "ToyManifold",
    "build_dataset",
]


def build_dataset(cfg: Any) -> DataSource:
    """A DataSource from a validated :class:`rdlab.config.DatasetConfig`."""
    cls = DATASETS.get(cfg.name, "dataset.name")
    opts = cls.Options(**cfg.options())
    source: DataSource = cls(
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        root=cfg.root,
        dequantize_train=cfg.dequantize_train,
        **opts.model_dump(),
    )
    return source
