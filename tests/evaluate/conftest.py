"""One Fréchet-classifier cache for the whole directory: the classifier trains once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root (``<root>/frechet/`` holds the classifier weights)."""
    return tmp_path_factory.mktemp("rdlab-cache")
