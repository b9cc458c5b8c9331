"""``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, shipped inside the
package, so nothing is downloaded), scaled from 0–16 to [0, 1]. The embedded default.

17 levels per pixel (0 … 16, scaled by 16): a value's bin is 1/16 wide, so likelihood
metrics dequantise with U(−1/32, 1/32) noise and bits per dimension add log₂ 16 = 4 bits
(not 8: these are not 8-bit images; rdlab.data.base, rdlab.train.metrics.bits_per_dim).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rdlab.data.base import DATASETS, TensorSource, split_indices, split_sizes

N_DIGITS = 1797


@DATASETS.register("digits")
class Digits(TensorSource):
    is_image = True
    levels = 17  # pixel values 0 … 16
    test_from_fraction = True  # the test split is carved out of the same 1,797 images
    shape = (1, 8, 8)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        split_sizes(N_DIGITS, self.val_fraction, self.test_fraction)  # refuse bad fractions now

    def load(self) -> dict[str, Tensor]:
        from sklearn.datasets import load_digits

        x = (
            torch.tensor(load_digits().data, dtype=torch.float32)
            .div_(16.0)
            .reshape(-1, *self.shape)
        )
        idx = split_indices(x.shape[0], self.val_fraction, self.test_fraction, self.seed)
        return {k: x[v].contiguous() for k, v in idx.items()}

    def labels(self) -> dict[str, Tensor]:
        """Class labels per split (the in-project Fréchet classifier trains on them)."""
        from sklearn.datasets import load_digits

        y = torch.tensor(load_digits().target, dtype=torch.long)
        idx = split_indices(y.shape[0], self.val_fraction, self.test_fraction, self.seed)
        return {k: y[v] for k, v in idx.items()}
