"""Plugin registries: a dict filled by a decorator, plus entry points for outside packages.

Every extension point has one :class:`Registry` here, at the bottom of the import graph, so
:mod:`rdlab.config` and :mod:`rdlab.study.spec` resolve plugin names without importing the
packages that hold the plugins. On its first lookup a registry imports every public module
of its built-in package (``_private`` helpers are left to their users), whose decorators
register them, then loads the entry points of its group. A new built-in is therefore one new
file; an outside package declares an entry point, e.g. in its ``pyproject.toml``::

    [project.entry-points."rdlab.sigma_policies"]
    my_policy = "my_package.my_policy:MyPolicy"

An unknown name raises :class:`SpecError` listing the known names (STYLE §3).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Generic, TypeVar

from rdlab.errors import SpecError

if TYPE_CHECKING:  # the plugin base classes, for types only: they import this module
    from rdlab.data.base import DataSource
    from rdlab.model import Discriminator, VAEModel
    from rdlab.objectives.sigma.base import SigmaPolicy
    from rdlab.study.algorithm import SearchAlgorithm

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → plugin class.

    ``builtins`` names the package whose modules are imported on first lookup; ``group``
    is the entry-point group scanned then. Registering a name twice is an error (two
    plugins would silently shadow each other).
    """

    def __init__(self, kind: str, group: str, builtins: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self.builtins = builtins
        self._items: dict[str, T] = {}
        self._loaded = False
        self._lock = threading.RLock()  # re-entrant: a plugin module registers while loading

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: ``@SIGMA_POLICIES.register("fixed")``."""

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # before importing: a plugin module may look names up
            try:
                self._import_plugins()
            except BaseException:
                self._loaded = False  # a broken plugin must not leave a partial registry
                raise

    def _import_plugins(self) -> None:
        if self.builtins is not None:
            package = importlib.import_module(self.builtins)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.builtins}.{info.name}")
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                self._items.setdefault(ep.name, ep.load())

    def get(self, name: str, field: str = "name") -> T:
        """The plugin called ``name``; a SpecError naming ``field`` and the known names."""
        self._load()
        if name not in self._items:
            raise SpecError(
                field, f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


MODELS: Registry[type[VAEModel] | type[Discriminator]] = Registry(
    "model", group="rdlab.models", builtins="rdlab.models"
)
SIGMA_POLICIES: Registry[type[SigmaPolicy]] = Registry(
    "sigma policy", group="rdlab.sigma_policies", builtins="rdlab.objectives.sigma"
)
DATASETS: Registry[type[DataSource]] = Registry(
    "dataset", group="rdlab.datasets", builtins="rdlab.data"
)
SEARCH_ALGORITHMS: Registry[type[SearchAlgorithm]] = Registry(
    "search algorithm", group="rdlab.search_algorithms", builtins="rdlab.tune.search"
)
