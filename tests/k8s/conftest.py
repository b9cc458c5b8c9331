"""Fixtures for the Kubernetes checks (k8s/check.py) and the PostgreSQL-backed MLflow server."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import skip_unless_ci

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
sys.path.insert(0, str(K8S))  # the checker's package, k8scheck, lives in k8s/
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pg_mlflow, for other test folders

from k8scheck.schemas import load_crd_validators  # noqa: E402


@pytest.fixture(scope="session")
def check_cli() -> ModuleType:
    """k8s/check.py imported as a module (its name, `check`, is too generic for sys.path)."""
    spec = importlib.util.spec_from_file_location("rdlab_k8s_check", K8S / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def crd_dir(check_cli: ModuleType) -> Path:
    path: Path = check_cli.default_crd_dir()
    if not path.is_dir():
        skip_unless_ci(f"KubeRay CRD schemas not found at {path} (shared/ beside the repo)")
    return path


@pytest.fixture(scope="session")
def validators(crd_dir: Path) -> dict[tuple[str, str], object]:
    return dict(load_crd_validators(crd_dir))


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        skip_unless_ci("kubectl not installed: the overlays cannot be built")
    return found


@pytest.fixture(scope="session")
def pg_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real PostgreSQL + `mlflow server` started with the manifest's arguments."""
    from pg_mlflow import pg_bin_dir, postgres_mlflow

    if pg_bin_dir() is None:
        skip_unless_ci("PostgreSQL server binaries (initdb/postgres) not installed")
    with postgres_mlflow(tmp_path_factory.mktemp("pg-mlflow")) as server:
        yield server
