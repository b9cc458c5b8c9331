"""The four domains a search-space parameter can have (DESIGN §5), each in one class.

A domain knows its values and nothing about the optimiser: it samples (random search), asks
an Optuna-style trial for a value (define-by-run), and enumerates a grid. Optuna is never
imported here: :class:`Suggester` is the part of ``optuna.Trial`` a domain uses.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from rdlab.errors import SpecError


class Suggester(Protocol):
    """What a domain needs from ``optuna.Trial``."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int) -> int: ...
    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


class Domain(ABC):
    """One parameter's values. ``field`` arguments name the parameter in error messages."""

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def parse(cls, values: list[Any], field: str) -> Domain:
        """The domain of a non-empty YAML list, e.g. ``[0.01, 10]``; SpecError otherwise."""

    @abstractmethod
    def values(self) -> tuple[Any, ...]:
        """(low, high) for a range, the options for a choice."""

    @abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of the domain's values."""

    @abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """One value drawn from the domain (random search)."""

    @abstractmethod
    def suggest(self, trial: Suggester, name: str) -> Any:
        """One value proposed by an Optuna trial, recorded under ``name``."""

    def grid(self, field: str) -> list[Any]:
        """Every value, for grid search; only a choice has a finite set."""
        raise SpecError(field, f"grid search needs choice domains, got {self.kind}")

    def representatives(self) -> list[Any]:
        """Values that exercise the domain's extremes (used to validate paths early)."""
        return list(self.values())


def _bounds(values: list[Any], field: str) -> tuple[float, float]:
    if len(values) != 2:
        raise SpecError(field, f"must be [low, high], got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise SpecError(field, f"bounds must be finite numbers, got {v!r}")
    lo, hi = float(values[0]), float(values[1])
    if not lo < hi:
        raise SpecError(field, f"low must be < high, got [{lo}, {hi}]")
    return lo, hi


@dataclass(frozen=True)
class Uniform(Domain):
    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    @classmethod
    def parse(cls, values: list[Any], field: str) -> Uniform:
        return cls(*_bounds(values, field))

    def values(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def contains(self, value: Any) -> bool:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and self.low <= value <= self.high

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def suggest(self, trial: Suggester, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)


@dataclass(frozen=True)
class LogUniform(Uniform):
    kind: ClassVar[str] = "loguniform"

    @classmethod
    def parse(cls, values: list[Any], field: str) -> LogUniform:
        lo, hi = _bounds(values, field)
        if lo <= 0:
            raise SpecError(field, f"low must be > 0 for loguniform, got {lo}")
        return cls(lo, hi)

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def suggest(self, trial: Suggester, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)


@dataclass(frozen=True)
class Int(Domain):
    kind: ClassVar[str] = "int"
    low: int
    high: int

    @classmethod
    def parse(cls, values: list[Any], field: str) -> Int:
        lo, hi = _bounds(values, field)
        if lo != int(lo) or hi != int(hi):
            raise SpecError(field, f"bounds must be integers, got {values!r}")
        return cls(int(lo), int(hi))

    def values(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def contains(self, value: Any) -> bool:
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and self.low <= value <= self.high

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def suggest(self, trial: Suggester, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)


@dataclass(frozen=True)
class Choice(Domain):
    kind: ClassVar[str] = "choice"
    options: tuple[Any, ...]

    @classmethod
    def parse(cls, values: list[Any], field: str) -> Choice:
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise SpecError(field, f"values must be finite, got {v!r}")
        return cls(tuple(values))

    def values(self) -> tuple[Any, ...]:
        return self.options

    def contains(self, value: Any) -> bool:
        return value in self.options

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.options)

    def suggest(self, trial: Suggester, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def grid(self, field: str) -> list[Any]:
        return list(self.options)


# The YAML key of each domain, in the order error messages list them.
DOMAINS: dict[str, type[Domain]] = {d.kind: d for d in (LogUniform, Uniform, Int, Choice)}
