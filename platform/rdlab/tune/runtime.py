"""Ray's runtime environment for a study: the driver's rdlab on every worker.

When the driver joins an existing cluster (``RAY_ADDRESS``, as under ``ray job submit``),
the package it runs is shipped as a ``py_modules`` entry, so every trial on every node
imports exactly the driver's code (the submitted tree, see ``studies/_submitted.py``),
not whatever the node has installed. A local cluster started by the driver inherits its
environment and needs nothing.

Ray logs runtime environments in plain text: no credential ever goes into one
(``AWS_*`` stay in each node's own environment).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rdlab.version import package_dirs

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def staged_package() -> Path:
    """The running rdlab as one folder laid out as installed (``rdlab/models``,
    ``rdlab/dashboards`` inside): itself when it already is, else a copy."""
    dirs = dict(package_dirs())
    root = dirs["rdlab"]
    if all(d.resolve().parent == root.resolve() for n, d in dirs.items() if n != "rdlab"):
        return root
    stage = Path(tempfile.mkdtemp(prefix="rdlab-py-modules-")) / "rdlab"
    shutil.copytree(root, stage, ignore=_IGNORE)
    for name, d in dirs.items():
        if name != "rdlab":
            shutil.copytree(d, stage / name.split(".", 1)[1], ignore=_IGNORE)
    return stage


def on_cluster() -> bool:
    """The driver joins an existing cluster (``ray job submit`` or ``RAY_ADDRESS``)."""
    return bool(os.environ.get("RAY_ADDRESS"))


def in_ray_job() -> bool:
    """The driver runs as a Ray job (its working dir is Ray's temporary session folder)."""
    return "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ


def runtime_env() -> dict[str, Any] | None:
    if not on_cluster():
        return None
    return {"py_modules": [str(staged_package())]}
