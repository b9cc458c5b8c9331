"""Benchmark 2, the data path: rdlab's TensorSource (the split as one tensor on the training
device, batches as index slices of a seeded randperm) against a torchvision-style
``DataLoader`` over a ``Dataset`` (per-example ``__getitem__``, default collate).

    python studies/benchmarks/bench_data.py [--epochs 6] [--json OUT]

Two measurements, each alternating the sides epoch by epoch so load falls on both alike:

- data only — one epoch of batches, nothing done with them, on digits (1,437 training
  images 1×8×8) and on an MNIST-shaped set (60,000 × 1×28×28 uint8, generated: nothing is
  downloaded); the loader with ``num_workers`` 0 and 2;
- training — an epoch of the default study's trial (digits, mlp_resnet 4×200, batch 128,
  one thread) fed by each path.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import torch
from _common import median, one_thread, parser, print_ratios, write_record
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

BATCH = 128


class ArrayDataset(Dataset[Tensor]):
    """torchvision style: examples stored as a uint8/float array, converted one at a time
    (``ToTensor`` scales uint8 to [0, 1])."""

    def __init__(self, x: Tensor) -> None:
        self.x = x.numpy()

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> Tensor:
        t = torch.from_numpy(self.x[i])
        return t.float().div_(255.0) if t.dtype == torch.uint8 else t


class Synthetic:
    """An MNIST-shaped TensorSource stand-in: 60,000 uint8 images, the rdlab batch path."""

    def __init__(self, n: int = 60_000) -> None:
        from rdlab.data.base import TensorSource

        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)

        class Mnistish(TensorSource):
            shape = (1, 28, 28)
            is_image = True

            def load(self) -> dict[str, Tensor]:
                return {"train": images, "val": images[:1], "test": images[:1]}

        self.source = Mnistish(val_fraction=0.0, test_fraction=0.0, seed=0, root=None)
        self.images = images


def loader(x: Tensor, workers: int) -> DataLoader[Tensor]:
    return DataLoader(
        ArrayDataset(x),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )


def drain(batches: Iterable[Tensor]) -> float:
    t0 = time.perf_counter()
    n = 0
    for b in batches:
        n += b.shape[0]
    assert n > 0
    return time.perf_counter() - t0


def _drain_source(src: Any, epoch: int) -> float:
    return drain(src.train_batches(epoch, BATCH))


def _drain_loader(dl: DataLoader[Tensor], epoch: int) -> float:
    return drain(dl)


def _cut(it: Iterable[Tensor], n: int | None) -> Iterable[Tensor]:
    return it if n is None else itertools.islice(it, n)


def _source_batches(src: Any, n: int | None, epoch: int) -> Iterable[Tensor]:
    return _cut(src.train_batches(epoch, BATCH), n)


def _loader_batches(dl: DataLoader[Tensor], n: int | None, epoch: int) -> Iterable[Tensor]:
    return _cut(iter(dl), n)


def alternate(sides: dict[str, Callable[[int], float]], epochs: int) -> dict[str, list[float]]:
    """Run one epoch of each side in turn, rotating who goes first."""
    out: dict[str, list[float]] = {k: [] for k in sides}
    names = list(sides)
    for e in range(epochs):
        k = e % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(sides[name](e))
    return out


def paired_ratio(times: dict[str, list[float]], fast: str, slow: str) -> float:
    """Median over epochs (after the first) of slow time / fast time: the throughput ratio of
    ``fast`` over ``slow`` from epochs run back to back, so under the same load."""
    return median([s / f for f, s in zip(times[fast][1:], times[slow][1:], strict=True)])


def data_only(epochs: int) -> dict[str, Any]:
    from rdlab.config import DatasetConfig
    from rdlab.data import build_dataset

    digits = build_dataset(DatasetConfig(name="digits"))
    mnist = Synthetic()
    res: dict[str, Any] = {}
    for name, src, raw in [
        ("digits", digits, digits.split("train")),
        ("mnist_shaped", mnist.source, mnist.images),
    ]:
        loaders = {w: loader(raw, w) for w in (0, 2)}
        for it in loaders.values():  # start the workers before timing
            drain(it)
        times = alternate(
            {
                "rdlab_index_slices": partial(_drain_source, src),
                "dataloader_w0": partial(_drain_loader, loaders[0]),
                "dataloader_w2": partial(_drain_loader, loaders[2]),
            },
            epochs,
        )
        n = int(raw.shape[0])
        res[name] = {
            "examples": n,
            "epoch_s": times,
            "examples_per_s": {k: n / median(v[1:]) for k, v in times.items()},
        }
    return res


def training(epochs: int, steps: int) -> dict[str, Any]:
    """Training epochs fed by each path: (1) the default study's trial (digits, mlp_resnet
    4×200); (2) a small mlp_resnet (2×64) on the MNIST-shaped set, ``steps`` batches an epoch,
    where the data path is a larger share of a step."""
    from bench_overhead import vae_terms
    from rdlab.config import DatasetConfig
    from rdlab.data import build_dataset
    from rdlab.model import build_model

    def run(
        shape: tuple[int, ...], opts: dict[str, Any], batches: Callable[[int], Iterable[Tensor]]
    ) -> Callable[[int], float]:
        torch.manual_seed(0)
        model = build_model("mlp_resnet", shape, 8, opts)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def epoch(e: int) -> float:
            t0 = time.perf_counter()
            for x in batches(e):
                nll, rate = vae_terms(model, x)
                loss = nll.mean() + rate.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return time.perf_counter() - t0

        return epoch

    digits = build_dataset(DatasetConfig(name="digits"))
    mnist = Synthetic()
    dl_digits = loader(digits.split("train"), 0)
    dl_mnist = loader(mnist.images, 0)
    big = {"hidden": 200, "blocks": 4}
    small = {"hidden": 64, "blocks": 2}
    out: dict[str, Any] = {}
    for name, shape, opts, n_steps, src, dl in [
        ("digits_mlp4x200", (1, 8, 8), big, None, digits, dl_digits),
        ("mnist_shaped_mlp2x64", (1, 28, 28), small, steps, mnist.source, dl_mnist),
    ]:
        times = alternate(
            {
                "rdlab_index_slices": run(shape, opts, partial(_source_batches, src, n_steps)),
                "dataloader_w0": run(shape, opts, partial(_loader_batches, dl, n_steps)),
            },
            epochs,
        )
        n = n_steps or math.ceil(src.split("train").shape[0] / BATCH)
        out[name] = {
            "steps_per_epoch": n,
            "epoch_s": times,
            "steps_per_s": {k: n / median(v[1:]) for k, v in times.items()},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser("bench_data", __doc__)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--steps", type=int, default=100, help="batches per MNIST-shaped epoch")
    args = p.parse_args(argv)
    one_thread()
    d = data_only(args.epochs)
    t = training(args.epochs, args.steps)
    fast = "rdlab_index_slices"
    ratios = {
        f"{name} data: rdlab / DataLoader(w={w})": paired_ratio(
            r["epoch_s"], fast, f"dataloader_w{w}"
        )
        for name, r in d.items()
        for w in (0, 2)
    }
    for name, r in t.items():
        ratios[f"{name} training: rdlab / DataLoader(w=0)"] = paired_ratio(
            r["epoch_s"], fast, "dataloader_w0"
        )
    write_record(args.json, {"benchmark": "data", "data_only": d, "training": t, "ratios": ratios})
    for name, r in d.items():
        print(f"{name} ({r['examples']:,} examples), examples/s:")
        for k, v in r["examples_per_s"].items():
            print(f"  {k:<22} {v:14,.0f}")
    for name, r in t.items():
        print(f"training {name}, batch {BATCH}, steps/s:")
        for k, v in r["steps_per_s"].items():
            print(f"  {k:<22} {v:14.1f}")
    print(f"record: {args.json}")
    print_ratios(
        "data path (throughput ratio, > 1: rdlab faster)", [(k, v, "") for k, v in ratios.items()]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
