"""Image datasets read by torchvision from a local root: ``mnist``, ``fashion_mnist``,
``cifar10``, ``celeba64``. Nothing is downloaded: missing files raise one message that
says where to put them (``dataset.root``, default ``$RDLAB_DATA`` or ``./data``).

Images are held as uint8 tensors and scaled to [0, 1] per batch (CelebA at 64×64 is
2.4 GB as uint8, four times that as float). 8-bit values: 256 levels, k/255, so a value's
bin is 1/255 wide; likelihood metrics dequantise over it and bits per dimension add
log₂ 255 (rdlab.data.base, rdlab.train.metrics.bits_per_dim).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from rdlab.data.base import DATASETS, TensorSource, split_indices
from rdlab.errors import DataNotFoundError


class ImageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_examples: int | None = Field(None, ge=1)  # cap the training set (quick studies)


def data_root(root: str | None) -> Path:
    return Path(root or os.environ.get("RDLAB_DATA") or "data").expanduser()


class TorchvisionSource(TensorSource):
    """Train/val come from the official training set, test from the official test set."""

    Options = ImageOptions
    is_image = True
    levels = 256  # 8-bit pixels
    tv_name: ClassVar[str]
    layout: ClassVar[str]

    def __init__(self, max_examples: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_examples = max_examples
        self.check_present()

    def check_present(self) -> None:
        path = data_root(self.root) / self.layout
        if not path.exists():
            raise self.not_found(f"{self.tv_name} files not found: expected {path}")

    def not_found(self, what: str) -> DataNotFoundError:
        return DataNotFoundError(
            "dataset.root",
            f"{what} (put the {self.tv_name} files there, or set dataset.root / "
            f"$RDLAB_DATA; rdlab never downloads data)",
        )

    def _open(self, train: bool) -> Any:
        raise NotImplementedError

    def _as_uint8(self, ds: Any) -> Tensor:
        data = getattr(ds, "data", None)
        if data is None:
            raise RuntimeError(f"{self.tv_name}: dataset object has no .data")
        x = torch.as_tensor(data)
        if x.dim() == 3:  # [N, H, W] grey
            x = x[:, None]
        elif x.shape[-1] in (1, 3):  # [N, H, W, C]
            x = x.permute(0, 3, 1, 2)
        return x.to(torch.uint8).contiguous()

    def load(self) -> dict[str, Tensor]:
        try:
            train, test = self._as_uint8(self._open(True)), self._as_uint8(self._open(False))
        except RuntimeError as err:  # torchvision's "Dataset not found" and integrity errors
            # Its message suggests download=True, which rdlab never does: keep the reason only.
            reason = str(err).split(" You can use download=True")[0].rstrip(". ")
            path = data_root(self.root) / self.layout
            raise self.not_found(
                f"{self.tv_name} files missing or incomplete under {path}: {reason}"
            ) from None
        if self.max_examples:
            train = train[: self.max_examples]
        idx = split_indices(train.shape[0], self.val_fraction, 0.0, self.seed)
        return {"train": train[idx["train"]], "val": train[idx["val"]], "test": test}


@DATASETS.register("mnist")
class MNIST(TorchvisionSource):
    tv_name = "MNIST"
    layout = "MNIST/raw"
    shape = (1, 28, 28)

    def _open(self, train: bool) -> Any:
        from torchvision.datasets import MNIST as TV

        return TV(str(data_root(self.root)), train=train, download=False)


@DATASETS.register("fashion_mnist")
class FashionMNIST(TorchvisionSource):
    tv_name = "FashionMNIST"
    layout = "FashionMNIST/raw"
    shape = (1, 28, 28)

    def _open(self, train: bool) -> Any:
        from torchvision.datasets import FashionMNIST as TV

        return TV(str(data_root(self.root)), train=train, download=False)


@DATASETS.register("cifar10")
class CIFAR10(TorchvisionSource):
    tv_name = "CIFAR-10"
    layout = "cifar-10-batches-py"
    shape = (3, 32, 32)

    def _open(self, train: bool) -> Any:
        from torchvision.datasets import CIFAR10 as TV

        return TV(str(data_root(self.root)), train=train, download=False)


@DATASETS.register("celeba64")
class CelebA64(TorchvisionSource):
    """CelebA aligned faces, centre-cropped to 148 and resized to 64×64 (as 000 does)."""

    tv_name = "CelebA"
    layout = "celeba/img_align_celeba"
    shape = (3, 64, 64)

    def _open(self, train: bool) -> Any:
        from torchvision import transforms
        from torchvision.datasets import CelebA as TV

        tf = transforms.Compose(
            [transforms.CenterCrop(148), transforms.Resize(64), transforms.PILToTensor()]
        )
        return TV(
            str(data_root(self.root)),
            split="train" if train else "test",
            transform=tf,
            download=False,
        )

    def _as_uint8(self, ds: Any) -> Tensor:
        n = len(ds) if self.max_examples is None else min(len(ds), self.max_examples)
        return torch.stack([ds[i][0] for i in range(n)]).to(torch.uint8)
