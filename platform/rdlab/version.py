"""Which code a process runs: a content hash of the rdlab package it imported.

``ray job submit --working-dir .`` ships the submitted tree to the cluster (rdlab's
``py_modules``, see :mod:`rdlab.tune.runtime`); every trial records the version it ran as
an MLflow tag and a Parquet column, so a study can prove its trials ran the code it was
submitted with. The hash covers the Python sources of ``rdlab``, ``rdlab.models`` and
``rdlab.dashboards`` (paths relative to each package and contents), so the same tree
gives the same version on every node, installed or shipped, wherever it lives on disk.
The git commit is added when the package sits in a clean git checkout.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import subprocess
from pathlib import Path

PACKAGES = ("rdlab", "rdlab.models", "rdlab.dashboards")


def package_dirs() -> list[tuple[str, Path]]:
    """(package name, its folder) for each package of :data:`PACKAGES`."""
    out = []
    for name in PACKAGES:
        mod = importlib.import_module(name)
        out.append((name, Path(next(iter(mod.__path__)))))
    return out


def tree_hash(dirs: list[tuple[str, Path]]) -> str:
    """sha256 over (package, relative path, content) of every ``.py`` file, sorted; the
    subpackages mapped into ``rdlab`` (models, dashboards) are hashed once, as their own."""
    h = hashlib.sha256()
    own = {d.resolve() for _, d in dirs}
    for name, root in dirs:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if any(p.resolve() in own for p in path.parents if p != root and root in p.parents):
                continue  # a mapped subpackage inside this one (installed layout)
            if "__pycache__" in rel.parts:
                continue
            h.update(f"{name}:{rel.as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


@functools.cache
def code_version() -> str:
    """``sha256:<16 hex>`` of the running rdlab sources."""
    return f"sha256:{tree_hash(package_dirs())[:16]}"


@functools.cache
def git_commit() -> str | None:
    """The commit of a clean git checkout holding the running package, else None."""
    root = Path(next(iter(importlib.import_module("rdlab").__path__)))
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head if head and not dirty else None
