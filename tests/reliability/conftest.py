"""Session fixtures: each fault-injection study runs once and serves many assertions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.scenarios import Crash, Reference, crash_study, reference_study


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    with reference_study(tmp_path_factory.mktemp("reference")) as ref:
        yield ref


@pytest.fixture(scope="session")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    with crash_study(tmp_path_factory.mktemp("crash")) as run:
        yield run
