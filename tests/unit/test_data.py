"""Dataset plugins (DESIGN §8): ranges, shapes, splits, determinism, and no downloads."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import torch
from rdlab.config import DatasetConfig
from rdlab.data import DATASETS, DataSource, build_dataset
from rdlab.data.base import split_indices
from rdlab.data.torchvision_sets import TorchvisionSource
from rdlab.errors import DataNotFoundError, SpecError


def _source(**cfg: Any) -> DataSource:
    return build_dataset(DatasetConfig(**cfg))


def test_digits_in_unit_range_with_image_shape() -> None:
    src = _source(name="digits")
    assert src.is_image and src.shape == (1, 8, 8) and src.dim == 64
    sizes = {}
    for name in ("train", "val", "test"):
        x = src.split(name)
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8)
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        sizes[name] = x.shape[0]
    assert float(src.split("train").max()) == 1.0  # scaled by 16, not by 255
    assert sum(sizes.values()) == 1797
    assert sizes["val"] == sizes["test"] == round(1797 * 0.1)


def test_digits_splits_are_disjoint_rows_of_the_dataset() -> None:
    from sklearn.datasets import load_digits

    full = torch.tensor(load_digits().data, dtype=torch.float32).div(16).reshape(-1, 1, 8, 8)
    src = _source(name="digits", seed=3)
    idx = split_indices(full.shape[0], 0.1, 0.1, seed=3)
    seen: set[int] = set()
    for name in ("train", "val", "test"):
        ids = set(idx[name].tolist())
        assert not ids & seen
        seen |= ids
        torch.testing.assert_close(src.split(name), full[idx[name]])
    assert seen == set(range(full.shape[0]))
    # Another seed, another partition; the same seed, the same one.
    assert not torch.equal(_source(name="digits", seed=4).split("val"), src.split("val"))
    torch.testing.assert_close(_source(name="digits", seed=3).split("val"), src.split("val"))


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.1), (0.6, 0.5), (0.7, 0.3)])
def test_digits_refuses_fractions_leaving_a_split_empty(val: float, test: float) -> None:
    # Every trial trains and validates: an empty train or val split is refused up front.
    with pytest.raises(SpecError) as err:
        _source(name="digits", val_fraction=val, test_fraction=test)
    assert err.value.field == "dataset.val_fraction"


def test_tensor_source_batches_cover_train_once_per_epoch() -> None:
    src = _source(name="digits", dequantize_train=False)
    train = src.split("train")
    batches = list(src.train_batches(epoch=0, batch_size=100))
    assert all(b.shape[0] == 100 for b in batches[:-1])
    got = torch.cat(batches)
    assert got.shape == train.shape
    key = lambda t: sorted(map(tuple, t.reshape(t.shape[0], -1).tolist()))  # noqa: E731
    assert key(got) == key(train)
    again = torch.cat(list(src.train_batches(epoch=0, batch_size=100)))
    assert torch.equal(got, again)  # deterministic per (seed, epoch)
    assert not torch.equal(got, torch.cat(list(src.train_batches(epoch=1, batch_size=100))))


def test_each_dataset_declares_its_levels() -> None:
    # Digits take 17 values (0 … 16, scaled by 16); 8-bit images 256 (scaled by 255);
    # generated data are continuous.
    assert DATASETS.get("digits").levels == 17
    for name in ("mnist", "fashion_mnist", "cifar10", "celeba64", "celebahq256"):
        assert DATASETS.get(name).levels == 256, name
    for name in ("toy_manifold", "hypersphere"):
        assert DATASETS.get(name).levels is None, name
    assert _source(name="digits").bin_width == 1 / 16
    assert _source(name="toy_manifold").bin_width is None


def test_digits_training_batches_are_dequantised_within_each_bin() -> None:
    src = _source(name="digits")
    raw = _source(name="digits", dequantize_train=False)
    for epoch in (0, 1):
        got = torch.cat(list(src.train_batches(epoch, 100)))
        clean = torch.cat(list(raw.train_batches(epoch, 100)))  # the same order
        noise = (got - clean) * 16  # in units of one bin
        assert float(noise.abs().max()) <= 0.5
        assert abs(float(noise.mean())) < 0.01 and 0.08 < float(noise.var()) < 0.09  # U(−½, ½)
        assert torch.equal(torch.round(got * 16) / 16, clean)
    again = torch.cat(list(src.train_batches(0, 100)))
    assert torch.equal(again, torch.cat(list(src.train_batches(0, 100))))  # deterministic


def test_likelihood_splits_are_dequantised_once_per_split() -> None:
    src = _source(name="digits")
    val = src.likelihood_split("val")
    assert torch.equal(val, _source(name="digits").likelihood_split("val"))  # fixed draw
    assert float(((val - src.split("val")) * 16).abs().max()) <= 0.5
    assert not torch.equal(val, src.split("val"))
    toy = _source(name="toy_manifold")
    assert torch.equal(toy.likelihood_split("val"), toy.split("val"))  # continuous


def test_toy_manifold_fresh_per_batch_deterministic_per_seed_and_epoch() -> None:
    def epoch(seed: int, e: int) -> list[torch.Tensor]:
        src = _source(name="toy_manifold", seed=seed, batches_per_epoch=4, n_eval=50)
        return list(src.train_batches(e, 32))

    e0 = epoch(0, 0)
    assert len(e0) == 4 and all(b.shape == (32, 2) for b in e0)
    for i in range(len(e0)):  # fresh samples for every batch
        for j in range(i):
            assert not torch.equal(e0[i], e0[j])
    for a, b in zip(e0, epoch(0, 0), strict=True):  # a new source, same (seed, epoch)
        assert torch.equal(a, b)
    assert not torch.equal(e0[0], epoch(0, 1)[0])
    assert not torch.equal(e0[0], epoch(1, 0)[0])


def test_toy_manifold_lies_near_the_curve_with_fixed_eval_splits() -> None:
    src = _source(name="toy_manifold", n_eval=3000)
    val, test = src.split("val"), src.split("test")
    assert val.shape == (3000, 2) and not torch.equal(val, test)
    assert torch.equal(val, _source(name="toy_manifold", n_eval=3000).split("val"))
    t = val[:, 0].clamp(-1, 1)
    resid = (val[:, 1] - torch.sin(torch.pi * t)).abs()
    # Noise stds (0.05, 0.01, 0.1) on the thirds (x-noise, through a slope up to π, adds
    # to the vertical residual): small in the middle, moderate on the left, large on the right.
    left, mid, right = (resid[m].median() for m in (t < -0.5, t.abs() < 0.2, t > 0.5))
    assert float(mid) < 0.035 < float(left) < 0.095 < float(right) < 0.2


def test_hypersphere_points_have_norm_radius() -> None:
    src = _source(name="hypersphere", dim=16, radius=2.5, batches_per_epoch=3, n_eval=100)
    assert src.shape == (16,) and not src.is_image
    for x in [src.split("val"), *src.train_batches(0, 64)]:
        torch.testing.assert_close(x.norm(dim=1), torch.full((x.shape[0],), 2.5))
    # Uniform on the sphere: the mean direction vanishes as samples grow.
    big = torch.cat(list(src.train_batches(1, 2000)))
    assert float(big.mean(dim=0).norm()) < 0.15


TORCHVISION = ["mnist", "fashion_mnist", "cifar10", "celeba64"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_sets_without_files_name_the_path(
    name: str, tmp_path: Path, no_network: None
) -> None:
    with pytest.raises(DataNotFoundError) as err:
        _source(name=name, root=str(tmp_path))
    assert err.value.field == "dataset.root"
    assert str(tmp_path) in err.value.message
    assert isinstance(err.value, SpecError)
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing fetched


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_sets_with_empty_folder_name_the_path(
    name: str, tmp_path: Path, no_network: None
) -> None:
    # The expected folder exists but holds no files: loading fails the same way.
    cls = DATASETS.get(name)
    assert issubclass(cls, TorchvisionSource)
    layout = cls.layout
    (tmp_path / layout).mkdir(parents=True)
    source = _source(name=name, root=str(tmp_path))
    with pytest.raises(DataNotFoundError) as err:
        source.split("train")
    assert str(tmp_path) in err.value.message
    assert "download=True" not in err.value.message  # rdlab never downloads


def test_data_root_defaults_to_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("RDLAB_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DataNotFoundError, match="elsewhere"):
        _source(name="mnist")


def _faces(folder: Path, n: int) -> list[Any]:
    """n small synthetic 'faces': PNGs at 256×256 and JPEGs at 64×64 (resized on load)."""
    from PIL import Image

    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    written = []
    for i in range(n):
        size = 256 if i % 2 == 0 else 64
        pixels = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8)
        img = Image.fromarray(pixels.numpy())
        img.save(folder / (f"{i:05d}.png" if size == 256 else f"{i:05d}.jpg"))
        written.append(pixels)
    (folder / "README.txt").write_text("not an image: skipped")
    return written


def test_celebahq256_reads_a_folder_of_images(tmp_path: Path) -> None:
    written = _faces(tmp_path / "celeba_hq_256", 10)
    cfg = DatasetConfig(name="celebahq256", root=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    src = build_dataset(cfg)
    assert src.shape == (3, 256, 256) and src.is_image
    sizes = {s: src.split(s).shape[0] for s in ("train", "val", "test")}
    assert sizes == {"train": 6, "val": 2, "test": 2}
    every = torch.cat([src.split(s) for s in ("train", "val", "test")])
    assert (
        every.shape[1:] == (3, 256, 256) and 0.0 <= float(every.min()) <= float(every.max()) <= 1.0
    )
    # the 256×256 PNGs come back pixel for pixel (lossless, not resized)
    first = (written[0].permute(2, 0, 1).float() / 255.0)[None]
    assert any(torch.equal(first[0], row) for row in every)
    capped = DatasetConfig(
        name="celebahq256", root=str(tmp_path), val_fraction=0.25, test_fraction=0.25,
        max_examples=4,
    )  # fmt: skip
    assert sum(build_dataset(capped).split(s).shape[0] for s in ("train", "val", "test")) == 4


def test_celebahq256_gpu_spec_validates_and_its_model_runs_at_256(tmp_path: Path) -> None:
    """002's cluster spec (studies/reproductions/gpu) checks against real files, and its
    ResNetV2 builds for 256×256 faces and decodes a batch of the same shape."""
    import yaml
    from rdlab.model import build_model
    from rdlab.study.spec import parse_spec

    _faces(tmp_path / "celeba_hq_256", 6)
    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "studies/reproductions/gpu/mixture_celebahq256.yaml").read_text())
    data["dataset"]["root"] = str(tmp_path)
    data["train"]["device"] = "cpu"
    spec = parse_spec(data)
    model = build_model("resnet_v2", (3, 256, 256), 16, spec.base_config.model.options())
    with torch.no_grad():
        out = model(torch.rand(2, 3, 256, 256))
    assert out.x_mean.shape == (2, 3, 256, 256) and out.mu_z.shape == (2, 16)


def test_celebahq256_without_images_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        build_dataset(DatasetConfig(name="celebahq256", root=str(tmp_path)))
    assert err.value.field == "dataset.root"
    assert str(tmp_path / "celeba_hq_256") in err.value.message
