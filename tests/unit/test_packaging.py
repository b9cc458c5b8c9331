"""The wheel ships every module of rdlab.

`pip install .` (not `-e`) — the Docker image, a cluster's runtime environment — installs only
the packages pyproject.toml lists; a subpackage missing from the list imports fine from the
source tree and fails only once installed. So build the real wheel and compare it with the
tree.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from setuptools import build_meta

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"rdlab": ROOT / "platform" / "rdlab", "rdlab/models": ROOT / "models",
           "rdlab/dashboards": ROOT / "dashboards"}  # fmt: skip


def _tree_modules() -> set[str]:
    found: set[str] = set()
    for prefix, root in SOURCES.items():
        for f in root.rglob("*.py"):
            rel = f.relative_to(root)
            if "__pycache__" in rel.parts:
                continue
            if prefix == "rdlab" and rel.parts[0] in ("models", "dashboards"):
                continue
            # only files inside packages ship; a stray script in a plain folder would not
            if all(
                (root / Path(*rel.parts[:i]) / "__init__.py").exists()
                for i in range(len(rel.parts))
            ):
                found.add(f"{prefix}/{rel.as_posix()}")
    return found


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    # build from a copy: setuptools writes build/ and *.egg-info next to pyproject.toml
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("platform", "models", "dashboards"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    cwd = Path.cwd()
    try:
        os.chdir(src)
        name = build_meta.build_wheel(str(out))
    finally:
        os.chdir(cwd)
    with zipfile.ZipFile(out / name) as whl:
        names = set(whl.namelist())
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        names.add("entry_points.txt:" + whl.read(entry).decode())
    return names


def test_the_wheel_holds_every_module_of_the_tree(wheel_names: set[str]) -> None:
    modules = _tree_modules()
    assert len(modules) > 50, "the tree walk found too little; is SOURCES right?"
    missing = sorted(modules - wheel_names)
    assert not missing, f"add their packages to [tool.setuptools] packages: {missing[:10]}"


def test_the_wheel_holds_the_type_marker_and_the_entry_point(wheel_names: set[str]) -> None:
    assert "rdlab/py.typed" in wheel_names
    entry = next(n for n in wheel_names if n.startswith("entry_points.txt:"))
    assert "rdlab = rdlab.cli:main" in entry
    assert not any(n.startswith("platform/") for n in wheel_names), "platform/ must not ship"
