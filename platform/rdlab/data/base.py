"""The dataset interface. Small data lives as one tensor on the training device and
batches are index slices: no per-example Python, no worker processes (issue 8 measures it).

Every source has fixed ``val`` and ``test`` splits; ``train_batches`` yields an epoch's
batches, either slices of a fixed training tensor or fresh samples for generated data
(004's "large sample limit": 100 new points per batch). Shuffling and sampling use a
generator seeded by (seed, epoch), so a resumed trial sees exactly the same batches.

Discrete data and dequantisation. A dataset of discrete values declares ``levels``: each
dimension takes the values k/(levels − 1), k = 0 … levels − 1 (digits: 17 levels, 0–16 →
[0, 1]; 8-bit images: 256 levels, /255), so one value stands for the bin of width
Δ = 1/(levels − 1) around it. A Gaussian decoder is a density, and a density can put
unbounded mass on a discrete point, so its likelihood of discrete data means nothing;
spread uniformly over each bin (y = x + (u − ½)·Δ, u ~ U[0, 1)), the data have a density
and −E log p(y) − D·log Δ ≥ −log P(x) bounds the discrete model's code length (Theis, van
den Oord & Bethge 2016). So the splits used for likelihood metrics are dequantised with one
fixed, seeded draw per split (:meth:`DataSource.likelihood_split`), and training batches
are dequantised too (``dataset.dequantize_train``, default on, fresh noise every epoch):
trained on the point masses, a learned σ — per pixel above all, where a border pixel is 0
in every training image — fits the points themselves and is then scored on the bins, which
the paper-style raw training (``dequantize_train: false``, as 000/002/003/004 train)
allows but does not make a density of the data. Generated data have no levels: nothing is
dequantised and there is no bits-per-dimension.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from rdlab.errors import SpecError
from rdlab.registry import DATASETS

__all__ = ["DATASETS", "SPLITS", "DataSource", "GeneratedSource", "TensorSource"]

SPLITS = ("train", "val", "test")


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEQUANT_SALT = 31_337  # the training noise's stream, apart from the shuffling's
SPLIT_SALT = {"train": 11, "val": 12, "test": 13}  # one fixed dequantisation per split


def epoch_generator(seed: int, epoch: int, salt: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + epoch * 7_919 + salt) % (2**63 - 1))
    return g


def dequantize(x: Tensor, bin_width: float, generator: torch.Generator) -> Tensor:
    """x + (u − ½)·Δ, u ~ U[0, 1): each discrete value spread uniformly over its bin.

    The noise is drawn on the CPU (``generator`` is a CPU generator, so the draw is the same
    on every device) and moved to x's device.
    """
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    return x + (u.to(x.device) - 0.5) * bin_width


class DataSource(ABC):
    """Base class of dataset plugins. ``shape`` is one example's shape; values are floats
    (images scaled to [0, 1])."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    is_image: ClassVar[bool] = False
    # True when the test split is carved out of the same examples by ``test_fraction``
    # (so ``test_fraction: 0`` leaves no test split), False when it is a fixed set.
    test_from_fraction: ClassVar[bool] = False
    # Discrete values per dimension, k/(levels − 1) for k = 0 … levels − 1; None: continuous.
    levels: ClassVar[int | None] = None
    shape: tuple[int, ...]

    def __init__(
        self,
        *,
        val_fraction: float,
        test_fraction: float,
        seed: int,
        root: str | None,
        dequantize_train: bool = True,
    ) -> None:
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.root = root
        self.dequantize_train = dequantize_train
        self.device = torch.device("cpu")

    @abstractmethod
    def split(self, name: str) -> Tensor:
        """The whole split as one float tensor [N, *shape] on ``self.device``."""

    @abstractmethod
    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Tensor]:
        """One epoch of training batches, deterministic in (seed, epoch)."""

    def to(self, device: torch.device) -> DataSource:
        self.device = device
        return self

    @property
    def bin_width(self) -> float | None:
        """Δ = 1/(levels − 1), the width of one value's bin in data units; None: continuous."""
        return None if self.levels is None else 1.0 / (self.levels - 1)

    @property
    def train_bin_width(self) -> float | None:
        """Δ when training batches are dequantised (their bits per dimension mean something)."""
        return self.bin_width if self.dequantize_train else None

    def likelihood_split(self, name: str) -> Tensor:
        """The split as likelihood metrics see it: dequantised with one fixed draw per split
        for discrete data (so a metric does not move between epochs with the noise), the
        split itself for continuous data."""
        x = self.split(name)
        if self.bin_width is None:
            return x
        return dequantize(x, self.bin_width, epoch_generator(self.seed, -1, SPLIT_SALT[name]))

    @property
    def dim(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class TensorSource(DataSource):
    """A dataset held in memory: subclasses implement :meth:`load` → {split: tensor}."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._splits: dict[str, Tensor] | None = None

    @abstractmethod
    def load(self) -> dict[str, Tensor]:
        """All three splits, float (or uint8 for 8-bit images, scaled on use)."""

    def _data(self) -> dict[str, Tensor]:
        if self._splits is None:
            self._splits = {k: v.to(self.device) for k, v in self.load().items()}
        return self._splits

    def to(self, device: torch.device) -> DataSource:
        super().to(device)
        if self._splits is not None:
            self._splits = {k: v.to(device) for k, v in self._splits.items()}
        return self

    @staticmethod
    def _float(x: Tensor) -> Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def split(self, name: str) -> Tensor:
        return self._float(self._data()[name])

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Tensor]:
        data = self._data()["train"]
        perm = torch.randperm(data.shape[0], generator=epoch_generator(self.seed, epoch))
        perm = perm.to(data.device)
        width = self.train_bin_width
        noise = epoch_generator(self.seed, epoch, DEQUANT_SALT) if width is not None else None
        for i in range(0, data.shape[0], batch_size):
            x = self._float(data[perm[i : i + batch_size]])
            yield x if noise is None or width is None else dequantize(x, width, noise)

    def num_train(self) -> int:
        return int(self._data()["train"].shape[0])


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(n_test, n_val) of n examples; a SpecError when the train or val split would be empty
    (every trial trains, and validates after each epoch)."""
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    if n_val < 1:
        raise SpecError(
            "dataset.val_fraction",
            f"must leave at least one validation example, got {val_fraction} of {n} examples",
        )
    if n - n_test - n_val < 1:
        raise SpecError(
            "dataset.val_fraction",
            f"val_fraction + test_fraction must leave training examples, got "
            f"{val_fraction} + {test_fraction} of {n} examples",
        )
    return n_test, n_val


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, Tensor]:
    """A seeded random partition of range(n) into train/val/test; train must not be empty."""
    n_test, n_val = split_sizes(n, val_fraction, test_fraction)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    return {
        "test": perm[:n_test],
        "val": perm[n_test : n_test + n_val],
        "train": perm[n_test + n_val :],
    }


class GeneratedSource(DataSource):
    """Data drawn from a known distribution: fresh samples every batch, fixed val/test."""

    batches_per_epoch: int
    n_eval: int

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n fresh examples [n, *shape] (on CPU)."""

    def split(self, name: str) -> Tensor:
        if name == "train":
            return self.sample(self.n_eval, epoch_generator(self.seed, -1, salt=1)).to(self.device)
        salt = {"val": 2, "test": 3}[name]
        return self.sample(self.n_eval, epoch_generator(self.seed, -1, salt=salt)).to(self.device)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Tensor]:
        g = epoch_generator(self.seed, epoch)
        for _ in range(self.batches_per_epoch):
            yield self.sample(batch_size, g).to(self.device)
