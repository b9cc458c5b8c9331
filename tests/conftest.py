"""Fixtures shared by every test directory. Keep this small and generic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a test with one intra-op torch thread, restoring the count afterwards.

    On a shared 2-core machine, tiny tensors run 2-3× faster this way than with threads
    fighting over the cores, and CPU reductions are the same from run to run.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_STRAYS = ("mlruns", "mlartifacts", "mlflow.db", "optuna.db")


@pytest.fixture(scope="session", autouse=True)
def nothing_written_into_the_project() -> Iterator[None]:
    """Tests write under tmp_path. MLflow, given no artifact location, writes ./mlruns
    wherever the process started: catch a code path that lets it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    before = {name for name in _STRAYS if (root / name).exists()}
    yield
    after = {name for name in _STRAYS if (root / name).exists()}
    assert after <= before, f"the tests wrote {sorted(after - before)} into {root}"
