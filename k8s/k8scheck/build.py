"""Build overlays with ``kubectl kustomize`` and load multi-document YAML."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from k8scheck.findings import Obj

KUSTOMIZE_TIMEOUT_S = 120


class BuildError(RuntimeError):
    """An overlay did not build, or a file is not a list of Kubernetes objects."""


def overlay_dirs(k8s_dir: Path) -> list[Path]:
    """Every ``k8s/overlays/*`` that holds a kustomization."""
    return sorted(p.parent for p in (k8s_dir / "overlays").glob("*/kustomization.yaml"))


def kustomize(path: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BuildError(
            "kubectl not found on PATH: install it (Debian: apt-get install kubectl), "
            "or check a pre-built file with --manifests"
        )
    proc = subprocess.run(
        [kubectl, "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=KUSTOMIZE_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"kubectl kustomize {path} failed: {proc.stderr.strip()}")
    return proc.stdout


def parse_objects(text: str, origin: str) -> list[Obj]:
    """The non-empty documents of ``text``; each must be a mapping with apiVersion and kind."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise BuildError(f"{origin}: not valid YAML: {err}") from err
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise BuildError(f"{origin}: document {i} is not a Kubernetes object")
    return docs
