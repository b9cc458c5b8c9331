"""Dataset plugins, one per file.

Each module registers its source with ``@DATASETS.register(name)``;
:data:`rdlab.registry.DATASETS` imports every public module here on its first lookup, so a
new dataset is one new file.
"""

from __future__ import annotations

from rdlab.config import DatasetConfig
from rdlab.data.base import DATASETS, SPLITS, DataSource, GeneratedSource, TensorSource

__all__ = [
    "DATASETS",
    "SPLITS",
    "DataSource",
    "GeneratedSource",
    "TensorSource",
    "build_dataset",
    "check_data",
]


def build_dataset(cfg: DatasetConfig) -> DataSource:
    """A DataSource from a validated :class:`rdlab.config.DatasetConfig` (loads nothing yet)."""
    cls = DATASETS.get(cfg.name, "dataset.name")
    opts = cls.Options(**cfg.options())
    return cls(
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        root=cfg.root,
        dequantize_train=cfg.dequantize_train,
        **opts.model_dump(),
    )


def check_data(cfg: DatasetConfig) -> None:
    """Refuse, before anything runs, a dataset whose files are missing or whose splits would
    be empty: building a source checks both and loads nothing. This is file I/O, so it is
    not part of config validation; the spec parser and ``rdlab train`` call it."""
    build_dataset(cfg)
