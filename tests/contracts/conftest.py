"""The contract suites (:mod:`rdlab.testing`) over every registered plugin.

A new plugin file is picked up by the suites with no entry here; ``small`` only keeps the
built-ins fast, and a plugin without an entry runs with its default options.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """Every contract test runs with one torch thread (see tests/conftest.py)."""
