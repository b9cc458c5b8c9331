from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """Every unit test runs with one torch thread (see tests/conftest.py)."""
