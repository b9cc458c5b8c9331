"""The in-project feature network of the Fréchet distance: a small classifier trained on the
dataset's own labels (no internet, no Inception weights), FID's recipe (Heusel et al.
2017) with the feature extractor swapped for one that knows the data.

An MLP D → 256 → 64 → classes with ReLUs; the 64 post-ReLU units of the penultimate layer
are the features. Training is deterministic (fixed seed, seeded shuffling, Adam, a fixed
step budget) on the training split; its accuracy on the test split is recorded with it.

Where a trial gets it (:class:`ClassifierSource`): :class:`CachedClassifier` — one weights
file per dataset identity (name, options, ``seed``, ``val_fraction``, ``test_fraction``,
which fix the splits, and :data:`VERSION`) in a cache folder, so only the first trial on a
dataset pays for training (``rdlab train``, ``rdlab eval``); or :class:`ShippedClassifier`
— the bytes a study driver trained once and sent to every trial through the Ray object
store, so the Fréchet distances of trials on different nodes share one feature space. Every
result records the sha256 of the classifier it used (``FrechetClassifier.digest``). Files
are written atomically and read with ``torch.load(weights_only=True)``; an unreadable file
is retrained and replaced, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdlab.config import TrialConfig
from rdlab.data import build_dataset
from rdlab.evaluate._util import eval_mode, seeded
from rdlab.storage import atomic_write

VERSION = 1  # bump when the architecture or the training recipe changes
FORMAT = f"rdlab-frechet-classifier-{VERSION}"
HIDDEN = (256, 64)
SEED = 0
STEPS = 4000  # minibatch steps at most; epochs = clamp(STEPS / batches per epoch, 2, 40)
BATCH = 128


class Labelled(Protocol):
    """A data source with class labels per split (``Digits.labels()``)."""

    def split(self, name: str) -> Tensor: ...
    def labels(self) -> dict[str, Tensor]: ...


class ClassifierNet(nn.Module):
    def __init__(self, in_dim: int, classes: int, hidden: tuple[int, ...] = HIDDEN) -> None:
        super().__init__()
        self.in_dim, self.classes, self.hidden = in_dim, classes, tuple(hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, classes)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate activations, [B, HIDDEN[-1]]: the Fréchet feature space."""
        f: Tensor = self.body(x)
        return f

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.out(self.body(x))
        return logits


@dataclass
class FrechetClassifier:
    net: ClassifierNet
    test_acc: float
    path: Path | None  # the cache file, when cached
    trained: bool  # False when loaded from the cache
    digest: str = ""  # sha256 of its serialised form: which feature space the distances used


def has_labels(data: object) -> bool:
    return callable(getattr(data, "labels", None))


def dataset_key(dataset: dict[str, Any]) -> str:
    """Cache key of a dataset config (``DatasetConfig.flat()``), the data root left out."""
    ident = {k: v for k, v in dataset.items() if k != "root"}
    blob = json.dumps({"dataset": ident, "version": VERSION}, sort_keys=True, default=str)
    name = str(dataset.get("name", "data"))
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def accuracy(net: ClassifierNet, x: Tensor, y: Tensor, batch_size: int = 4096) -> float:
    if x.shape[0] == 0:
        return math.nan
    correct = 0
    with eval_mode(net):
        for i in range(0, x.shape[0], batch_size):
            pred = net(x[i : i + batch_size]).argmax(dim=1)
            correct += int((pred == y[i : i + batch_size]).sum())
    return correct / x.shape[0]


def train_classifier(x: Tensor, y: Tensor, classes: int, seed: int = SEED) -> ClassifierNet:
    """Deterministic minibatch Adam on (x, y); returns the network in eval mode."""
    n = x.shape[0]
    per_epoch = max(1, math.ceil(n / BATCH))
    epochs = max(2, min(40, math.ceil(STEPS / per_epoch)))
    with seeded(seed, x.device):
        net = ClassifierNet(int(x[0].numel()), classes).to(x.device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
        g = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=g).to(x.device)
            for i in range(0, n, BATCH):
                idx = perm[i : i + BATCH]
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return net.eval()


def load_or_train(
    data: Labelled, dataset: dict[str, Any], cache_dir: Path | None
) -> FrechetClassifier:
    """The cached classifier of this dataset, or a freshly trained one (then cached)."""
    labels = data.labels()
    x_train = data.split("train")
    device = x_train.device
    path = None if cache_dir is None else Path(cache_dir) / f"{dataset_key(dataset)}.pt"
    if path is not None:
        cached = _load(path, device)
        if cached is not None:
            return cached
    y_train = labels["train"].to(device)
    classes = int(max(int(v.max()) for v in labels.values() if v.numel()) + 1)
    net = train_classifier(x_train, y_train, classes)
    acc = accuracy(net, data.split("test"), labels["test"].to(device))
    raw = to_bytes(net, acc, dataset)
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only cache costs the next trial a retraining
            atomic_write(path, lambda fh: fh.write(raw))
    return FrechetClassifier(
        net=net, test_acc=acc, path=path, trained=True, digest=hashlib.sha256(raw).hexdigest()
    )


def to_bytes(net: ClassifierNet, acc: float, dataset: dict[str, Any]) -> bytes:
    """The classifier's weights file, as bytes (what the cache holds and a study ships)."""
    blob = {
        "format": FORMAT,
        "state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "in_dim": net.in_dim,
        "classes": net.classes,
        "hidden": list(net.hidden),
        "test_acc": float(acc),
        "dataset": json.dumps(dataset, sort_keys=True, default=str),
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    return buf.getvalue()


def from_bytes(
    raw: bytes, device: torch.device, path: Path | None = None
) -> FrechetClassifier | None:
    """A classifier from its weights file's bytes; None if they are not one."""
    try:
        blob = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            return None
        net = ClassifierNet(int(blob["in_dim"]), int(blob["classes"]), tuple(blob["hidden"]))
        net.load_state_dict(blob["state"])
    except Exception:  # truncated or foreign: retrain and replace rather than trust it
        return None
    return FrechetClassifier(
        net=net.to(device).eval(),
        test_acc=float(blob["test_acc"]),
        path=path,
        trained=False,
        digest=hashlib.sha256(raw).hexdigest(),
    )


def _load(path: Path, device: torch.device) -> FrechetClassifier | None:
    if not path.is_file():
        return None
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return from_bytes(raw, device, path)


class ClassifierSource(Protocol):
    """Where a trial's evaluation gets the Fréchet classifier of its (labelled) data."""

    def get(self, data: Labelled, dataset: dict[str, Any]) -> FrechetClassifier: ...


@dataclass(frozen=True)
class CachedClassifier:
    """Load it from ``<cache_dir>/<dataset key>.pt``, or train and cache it."""

    cache_dir: Path | None

    def get(self, data: Labelled, dataset: dict[str, Any]) -> FrechetClassifier:
        return load_or_train(data, dataset, self.cache_dir)


@dataclass(frozen=True)
class ShippedClassifier:
    """The classifier a study driver trained once: its bytes travel with the trial (Ray's
    object store), so every trial on every node uses exactly that network. A trial on
    another dataset (a search over ``dataset.*``) falls back to ``fallback``."""

    raw: bytes
    key: str  # dataset_key() of the dataset it was trained on
    fallback: CachedClassifier | None = None

    def get(self, data: Labelled, dataset: dict[str, Any]) -> FrechetClassifier:
        if dataset_key(dataset) == self.key:
            clf = from_bytes(self.raw, data.split("train").device)
            if clf is not None:
                return clf
        return (self.fallback or CachedClassifier(None)).get(data, dataset)


CACHE_ENV = "RDLAB_CACHE"


def resolve_cache_dir(out_dir: Path, cache_dir: Path | str | None = None) -> Path:
    """The cache root for a trial writing to ``out_dir`` (``frechet/`` holds the classifier):
    ``cache_dir`` when given, else ``$RDLAB_CACHE``, else ``<out_dir>/../.cache``."""
    for candidate in (cache_dir, os.environ.get(CACHE_ENV)):
        if candidate:
            return Path(candidate).expanduser()
    return Path(out_dir).resolve().parent / ".cache"


def warm_cache(cfg: TrialConfig, cache_dir: Path) -> FrechetClassifier | None:
    """The classifier a trial of ``cfg`` will use, trained now if not cached (None when the
    trial computes no Fréchet distance in a classifier space).

    A study calls it once before its trials start: otherwise the first trials (two at a
    time by default) each train the same classifier, inside their measured evaluation.
    """
    if not cfg.eval.frechet:
        return None
    data = build_dataset(cfg.dataset)
    if not has_labels(data):
        return None
    return load_or_train(cast(Labelled, data), cfg.dataset.flat(), cache_dir)
