"""``celebahq256``: CelebA-HQ faces at 256×256, the dataset of 002 (Rivera 2022).

Read from a folder of image files, ``<root>/celeba_hq_256/`` (``dataset.root``, default
``$RDLAB_DATA`` or ``./data``): the 30,000 faces as distributed at 256×256 (``00000.jpg`` …;
any ``.jpg``/``.jpeg``/``.png``, taken in name order). Files of another size are resized
(bilinear, antialiased) and converted to RGB. Nothing is downloaded. CelebA-HQ has no
official split: train/val/test is the seeded random partition of ``val_fraction`` and
``test_fraction`` every in-memory dataset uses. Held as uint8 (30,000 × 3 × 256 × 256 is
5.9 GB; ``max_examples`` caps it), scaled to [0, 1] per batch: 256 levels (k/255), whose
1/255-wide bins likelihood metrics dequantise over (rdlab.data.base).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from rdlab.data.base import DATASETS, TensorSource, split_indices
from rdlab.data.torchvision_sets import data_root
from rdlab.errors import DataNotFoundError

LAYOUT = "celeba_hq_256"
SUFFIXES = (".jpg", ".jpeg", ".png")
SIZE = 256


class CelebAHQOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_examples: int | None = Field(None, ge=1)  # the first N files in name order


@DATASETS.register("celebahq256")
class CelebAHQ256(TensorSource):
    Options = CelebAHQOptions
    shape = (3, SIZE, SIZE)
    is_image = True
    levels = 256  # 8-bit pixels

    def __init__(self, max_examples: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_examples = max_examples
        self.files = self._files()

    def _files(self) -> list[Path]:
        folder = data_root(self.root) / LAYOUT
        files = (
            sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
            if folder.is_dir()
            else []
        )
        if not files:
            raise DataNotFoundError(
                "dataset.root",
                f"CelebA-HQ images not found: expected {', '.join(SUFFIXES)} files in {folder} "
                "(put the 256×256 CelebA-HQ files there, or set dataset.root / $RDLAB_DATA; "
                "rdlab never downloads data)",
            )
        return files[: self.max_examples] if self.max_examples else files

    def load(self) -> dict[str, Tensor]:
        x = torch.stack([read_image(p) for p in self.files])
        idx = split_indices(x.shape[0], self.val_fraction, self.test_fraction, self.seed)
        return {k: x[v] for k, v in idx.items()}


def read_image(path: Path, size: int = SIZE) -> Tensor:
    """One image file as uint8 [3, size, size]; a file PIL cannot read names itself."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        raise DataNotFoundError("dataset.root", f"cannot read image {path}: {err}") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return (
        torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
        .reshape(size, size, 3)
        .permute(2, 0, 1)
        .contiguous()
    )
