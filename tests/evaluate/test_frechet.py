"""Fréchet distances (closed form, self ≈ 0, noise ≫ 0) and the in-project digits classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rdlab.config import DatasetConfig
from rdlab.data import build_dataset
from rdlab.data.digits import Digits
from rdlab.evaluate.classifier import FrechetClassifier, dataset_key, load_or_train
from rdlab.evaluate.frechet import (
    batched_features,
    frechet_between,
    frechet_distance,
    frechet_interval,
    gaussian_stats,
    raw_features,
)

Fixture = tuple[Digits, DatasetConfig, Path, FrechetClassifier]


def _digits(cfg: DatasetConfig) -> Digits:
    data = build_dataset(cfg)
    assert isinstance(data, Digits)
    return data


@pytest.fixture(scope="module")
def digits_classifier(cache_root: Path) -> Fixture:
    cfg = DatasetConfig()
    data = _digits(cfg)
    cache = cache_root / "frechet"
    return data, cfg, cache, load_or_train(data, cfg.flat(), cache)


def test_closed_form_for_diagonal_gaussians() -> None:
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
    exact = float(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2))
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(exact, rel=1e-10)


def test_rotation_invariant_closed_form_for_full_covariances() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    c1 = a @ a.T + np.eye(4)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    c2 = q @ c1 @ q.T  # same spectrum: FD = ‖Δm‖² + 2 Tr C − 2 Tr (C^½ Q C Qᵀ C^½)^½
    fd = frechet_distance(np.zeros(4), c1, np.zeros(4), c1)
    assert fd == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(np.zeros(4), c1, np.ones(4), c2) > 4.0 - 1e-9


def test_stats_and_raw_features() -> None:
    x = torch.arange(12.0).reshape(3, 2, 2)
    mean, cov = gaussian_stats(raw_features(x))
    assert mean.shape == (4,) and cov.shape == (4, 4)
    assert np.allclose(mean, x.reshape(3, 4).mean(0).numpy())


def test_digits_classifier_is_accurate_and_cached(digits_classifier: Fixture) -> None:
    data, cfg, cache, clf = digits_classifier
    assert clf.test_acc > 0.9
    assert clf.path == cache / f"{dataset_key(cfg.flat())}.pt" and clf.path.is_file()
    again = load_or_train(data, cfg.flat(), cache)
    assert not again.trained and again.test_acc == clf.test_acc
    x = data.split("test")
    assert torch.equal(again.net.features(x), clf.net.features(x))


def test_cache_key_depends_on_the_splits_not_the_root() -> None:
    base = DatasetConfig().flat()
    assert dataset_key(base) == dataset_key({**base, "root": "/elsewhere"})
    assert dataset_key(base) != dataset_key({**base, "seed": 1})
    assert dataset_key(base) != dataset_key({**base, "val_fraction": 0.2})


def test_corrupt_cache_is_retrained(tmp_path: Path) -> None:
    cfg = DatasetConfig(val_fraction=0.2)
    data = _digits(cfg)
    path = tmp_path / f"{dataset_key(cfg.flat())}.pt"
    path.write_bytes(b"not a checkpoint")
    clf = load_or_train(data, cfg.flat(), tmp_path)
    assert clf.trained and clf.test_acc > 0.9
    assert not load_or_train(data, cfg.flat(), tmp_path).trained


def test_fd_of_a_split_to_itself_is_zero_and_to_noise_large(digits_classifier: Fixture) -> None:
    data, _, _, clf = digits_classifier
    test, train = data.split("test"), data.split("train")
    feats = lambda x: batched_features(clf.net.features, x, 256)  # noqa: E731
    self_fd = frechet_between(feats(test), feats(test))
    train_fd = frechet_between(feats(test), feats(train))
    noise = torch.rand(test.shape, generator=torch.Generator().manual_seed(0))
    noise_fd = frechet_between(feats(test), feats(noise))
    assert self_fd == pytest.approx(0.0, abs=1e-6)
    assert noise_fd > 20 * train_fd and noise_fd > 10.0
    # the raw-data space (toy data) behaves the same way
    raw_self = frechet_between(raw_features(test), raw_features(test))
    assert raw_self == pytest.approx(0.0, abs=1e-6)
    assert frechet_between(raw_features(test), raw_features(noise)) > 1.0


def test_bootstrap_interval_brackets_the_distance_and_narrows_with_more_examples() -> None:
    # Two Gaussians in R³ a known FD² apart: ‖Δm‖² = 3 (same covariance).
    rng = np.random.default_rng(0)
    exact = 3.0

    def interval(n: int) -> tuple[float, float, float]:
        a = rng.standard_normal((n, 3))
        b = rng.standard_normal((n, 3)) + 1.0
        lo, hi = frechet_interval(a, b, resamples=200, seed=1)
        return lo, frechet_between(a, b), hi

    lo, fd, hi = interval(500)
    assert lo < fd < hi and lo < exact < hi
    lo_big, _, hi_big = interval(8000)
    assert hi_big - lo_big < 0.5 * (hi - lo)  # ∝ 1/√n: 16× the examples, ¼ the width
    assert np.isnan(frechet_interval(np.zeros((1, 3)), np.ones((5, 3)), 10, 0)).all()
    same = frechet_interval(np.arange(12.0).reshape(4, 3), np.ones((6, 3)), 50, seed=3)
    assert same == frechet_interval(np.arange(12.0).reshape(4, 3), np.ones((6, 3)), 50, seed=3)
