"""Plugin registries: a dict filled by a decorator, plus entry points for outside packages.

An unknown name raises :class:`SpecError` listing the known names (STYLE §3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from rdlab.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → plugin class. ``group`` is the entry-point group scanned once on first lookup."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._loaded_entry_points = group is None

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        assert self.group is not None
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                obj = ep.load()
                self._items.setdefault(ep.name, obj)

    def get(self, name: str, field: str = "name") -> T:
        self._load_entry_points()
        if name not in self._items:
            raise SpecError(
                field, f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]
