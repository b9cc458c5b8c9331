"""Run this tree's rdlab, not whichever one is installed.

``ray job submit --working-dir . -- python studies/rd_frontier.py`` runs this script inside
a copy of the submitted tree, but ``import rdlab`` would find the *installed* package (an
editable install points at another checkout; an image has its own copy). Imported first by
the study scripts, :func:`use_this_tree` puts this tree's ``platform/rdlab``, ``models`` and
``dashboards`` in front of ``sys.path`` as one ``rdlab`` package (a copy in a temporary
folder, laid out as installed), unless the installed rdlab already is this tree. The
driver then ships that package to every Ray worker (``py_modules``, rdlab.tune.runtime).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def use_this_tree() -> Path | None:
    """Make ``import rdlab`` load this tree; returns the staged package's parent, if any."""
    src = ROOT / "platform" / "rdlab"
    if not src.is_dir() or "rdlab" in sys.modules:
        return None
    spec = importlib.util.find_spec("rdlab")
    if spec is not None and spec.origin and Path(spec.origin).resolve().parent == src.resolve():
        return None  # the installed rdlab is this very tree
    stage = Path(tempfile.mkdtemp(prefix="rdlab-src-"))
    atexit.register(shutil.rmtree, stage, ignore_errors=True)
    shutil.copytree(src, stage / "rdlab", ignore=_IGNORE)
    shutil.copytree(ROOT / "models", stage / "rdlab" / "models", ignore=_IGNORE)
    shutil.copytree(ROOT / "dashboards", stage / "rdlab" / "dashboards", ignore=_IGNORE)
    sys.path.insert(0, str(stage))
    # Child processes of this driver (a local Ray cluster's workers) import it too.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(stage), os.environ.get("PYTHONPATH", "")) if p
    )
    return stage
