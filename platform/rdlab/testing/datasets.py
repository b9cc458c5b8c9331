"""Contract of dataset plugins (:class:`rdlab.data.DataSource`, DESIGN §8).

A dataset either builds offline or, when its files are missing, refuses with a
:class:`DataNotFoundError` naming ``dataset.root`` (never a download). One that builds has
fixed ``val``/``test`` splits of float examples of its ``shape``, images in [0, 1], and
training batches that depend only on (seed, epoch), so a resumed trial sees the same data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import pytest
import torch
from pydantic import ValidationError

from rdlab.config import DatasetConfig, TrialConfig
from rdlab.data import DataSource, build_dataset
from rdlab.errors import DataNotFoundError
from rdlab.registry import DATASETS
from rdlab.testing.cases import Options, params, selected

EVAL_SPLITS = ("val", "test")


class DatasetContract:
    """Subclass as ``Test…``; set ``datasets`` to test only those (default: all registered)."""

    datasets: ClassVar[Sequence[str] | None] = None
    options: ClassVar[Options] = {}  # e.g. fewer generated batches per epoch
    root: ClassVar[str | None] = None  # where file-based datasets look (None: their default)
    batch_size: ClassVar[int] = 64

    @classmethod
    def configs(cls) -> list[DatasetConfig]:
        names = selected(DATASETS, cls.datasets)
        return [DatasetConfig(name=n, root=cls.root, **cls.options.get(n, {})) for n in names]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "dataset_config" in metafunc.fixturenames:
            cfgs = self.configs()
            metafunc.parametrize("dataset_config", params(cfgs, [c.name for c in cfgs]))

    @pytest.fixture
    def source(self, dataset_config: DatasetConfig) -> DataSource:
        """The source; skipped when its files are not on this machine (checked apart)."""
        try:
            return build_dataset(dataset_config)
        except DataNotFoundError as err:
            pytest.skip(f"{dataset_config.name}: files not here ({err.message[:80]}…)")

    def test_builds_or_refuses_missing_files_by_name(self, dataset_config: DatasetConfig) -> None:
        try:
            source = build_dataset(dataset_config)
        except DataNotFoundError as err:
            assert err.field == "dataset.root", err
            assert "download" in err.message  # says rdlab never downloads: put files there
            return
        assert isinstance(source, DataSource)

    def test_a_trial_config_accepts_it_with_closed_options(
        self, dataset_config: DatasetConfig
    ) -> None:
        cfg = TrialConfig(dataset=dataset_config)
        assert cfg.dataset.name == dataset_config.name
        with pytest.raises(ValidationError):
            DatasetConfig(name=dataset_config.name, no_such_option=1)

    def test_splits_are_fixed_float_examples_of_its_shape(
        self, source: DataSource, dataset_config: DatasetConfig
    ) -> None:
        assert source.dim == math.prod(source.shape)
        again = build_dataset(dataset_config)
        for name in EVAL_SPLITS:
            x = source.split(name)
            assert x.dtype == torch.float32 and tuple(x.shape[1:]) == tuple(source.shape), name
            assert x.shape[0] >= 1 and bool(torch.isfinite(x).all()), name
            assert torch.equal(x, again.split(name)), f"{name} split changes between builds"
            if source.is_image:
                assert len(source.shape) == 3, source.shape
                assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0, name

    def test_training_batches_depend_only_on_seed_and_epoch(
        self, source: DataSource, dataset_config: DatasetConfig
    ) -> None:
        def epoch(src: DataSource, e: int) -> list[torch.Tensor]:
            return list(src.train_batches(e, self.batch_size))

        first = epoch(source, 0)
        assert first, "an epoch has at least one batch"
        for b in first:
            assert tuple(b.shape[1:]) == tuple(source.shape)
            assert 1 <= b.shape[0] <= self.batch_size and b.dtype == torch.float32
        replay = epoch(build_dataset(dataset_config), 0)  # a resumed trial's epoch 0
        assert len(replay) == len(first)
        assert all(torch.equal(a, b) for a, b in zip(first, replay, strict=True))
        assert not all(torch.equal(a, b) for a, b in zip(first, epoch(source, 1), strict=False))
