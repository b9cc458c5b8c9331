"""Registries (rdlab.registry): a built-in plugin is one file in its package, found on the
first lookup without an ``__init__`` list; names are unique; unknown names list the known."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rdlab.cli import main
from rdlab.errors import SpecError
from rdlab.registry import DATASETS, MODELS, SEARCH_ALGORITHMS, SIGMA_POLICIES, Registry

PLUGIN = """
from {package}._registry import THINGS


@THINGS.register("{name}")
class Plugin:
    pass
"""


def _package(root: Path, modules: dict[str, str]) -> str:
    """A fresh package under ``root`` holding a registry and ``modules`` (name → plugin)."""
    package = f"plugins_{uuid.uuid4().hex[:8]}"
    pkg = root / package
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""No list of plugins here."""\n')
    (pkg / "_registry.py").write_text(
        "from rdlab.registry import Registry\n\n"
        f"THINGS = Registry('thing', group='rdlab.tests_nothing', builtins={package!r})\n"
    )
    for module, name in modules.items():
        (pkg / f"{module}.py").write_text(
            textwrap.dedent(PLUGIN.format(package=package, name=name))
        )
    return package


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("plugins_")]:
        del sys.modules[name]


def _registry(package: str) -> Registry[type]:
    module = __import__(f"{package}._registry", fromlist=["THINGS"])
    registry: Registry[type] = module.THINGS
    return registry


def test_a_new_file_in_the_package_registers_itself(root: Path) -> None:
    package = _package(root, {"alpha": "alpha", "beta": "beta", "_helper": "hidden"})
    (root / package / "gamma.py").write_text(PLUGIN.format(package=package, name="gamma"))
    registry = _registry(package)
    assert registry.names() == ["alpha", "beta", "gamma"]  # private modules are not scanned
    assert registry.get("gamma").__module__ == f"{package}.gamma"


def test_unknown_names_list_the_known_ones_and_names_are_unique(root: Path) -> None:
    registry = _registry(_package(root, {"alpha": "alpha"}))
    with pytest.raises(SpecError) as err:
        registry.get("zeta", "thing.name")
    assert err.value.field == "thing.name"
    assert err.value.message == "unknown thing 'zeta'; known: alpha"
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("alpha")(type("Other", (), {}))


def test_a_broken_plugin_leaves_no_half_loaded_registry(root: Path) -> None:
    package = _package(root, {"alpha": "alpha"})
    (root / package / "broken.py").write_text("raise ImportError('a missing dependency')\n")
    registry = _registry(package)
    for _ in range(2):  # the second lookup fails the same way, not with "unknown thing"
        with pytest.raises(ImportError, match="a missing dependency"):
            registry.get("alpha")


def test_the_built_in_registries_find_their_plugins() -> None:
    assert "digits" in DATASETS and "mlp_resnet" in MODELS and "patchgan" in MODELS
    assert "optimal_sample" in SIGMA_POLICIES and "grid" in SEARCH_ALGORITHMS


def test_rdlab_models_lists_every_kind_of_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for title, registry in (
        ("models:", MODELS),
        ("sigma policies:", SIGMA_POLICIES),
        ("datasets:", DATASETS),
        ("search algorithms:", SEARCH_ALGORITHMS),
    ):
        assert title in out
        section = out.split(title, 1)[1]
        assert all(f"  {name} " in section for name in registry.names()), title
    assert "patchgan         [discriminator]" in out
