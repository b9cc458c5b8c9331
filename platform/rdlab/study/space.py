"""Search-space domains over any config field (DESIGN §5), independent of any optimiser.

A parameter is a dotted config path and a domain: ``loguniform``/``uniform``/``int`` with
``[low, high]``, or ``choice`` with a list; ``when: {other.path: value | [values]}`` makes
it conditional on other parameters (e.g. ``objective.sigma.value`` only for ``fixed``).
Each domain (:mod:`rdlab.study.domains`) samples, suggests on an Optuna trial and
enumerates a grid; grid and random enumeration live here so they are testable without Ray.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from rdlab.errors import SpecError
from rdlab.study.domains import DOMAINS, Domain

KINDS = tuple(DOMAINS)


@dataclass(frozen=True)
class Param:
    path: str
    domain: Domain
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def kind(self) -> str:
        return self.domain.kind

    @property
    def values(self) -> tuple[Any, ...]:
        """(low, high) for ranges, the options for choice."""
        return self.domain.values()

    def active(self, assigned: dict[str, Any]) -> bool:
        return all(assigned.get(p) in vals for p, vals in self.when)

    def representatives(self) -> list[Any]:
        return self.domain.representatives()

    def sample(self, rng: random.Random) -> Any:
        return self.domain.sample(rng)


def _field(path: str) -> str:
    return f"search.space.{path}"


def _parse_when(raw: Any, field: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise SpecError(field + ".when", f"must be a mapping path → value(s), got {raw!r}")
    out = []
    for p, v in raw.items():
        vals = tuple(v) if isinstance(v, list) else (v,)
        out.append((str(p), vals))
    return tuple(out)


def parse_param(path: str, raw: Any) -> Param:
    field = _field(path)
    if not isinstance(raw, dict):
        raise SpecError(field, f"must be a mapping like {{loguniform: [0.01, 10]}}, got {raw!r}")
    kinds = [k for k in raw if k in KINDS]
    unknown = [k for k in raw if k not in (*KINDS, "when")]
    if unknown:
        raise SpecError(
            f"{field}.{unknown[0]}", f"unknown key; allowed: {', '.join((*KINDS, 'when'))}"
        )
    if len(kinds) != 1:
        raise SpecError(field, f"needs exactly one of {', '.join(KINDS)}, got {kinds or 'none'}")
    kind = kinds[0]
    vals = raw[kind]
    if not isinstance(vals, list) or not vals:
        raise SpecError(f"{field}.{kind}", f"must be a non-empty list, got {vals!r}")
    domain = DOMAINS[kind].parse(vals, f"{field}.{kind}")
    return Param(path, domain, _parse_when(raw.get("when"), field))


def parse_space(raw: Any) -> list[Param]:
    """Parameters in dependency order (a conditional one after what it depends on)."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise SpecError("search.space", f"must be a mapping path → domain, got {raw!r}")
    params = [parse_param(str(p), d) for p, d in raw.items()]
    names = {p.path for p in params}
    for p in params:
        for dep, _ in p.when:
            if dep not in names:
                raise SpecError(
                    f"{_field(p.path)}.when",
                    f"refers to {dep!r}, which is not a parameter of the space",
                )
            if dep == p.path:
                raise SpecError(f"{_field(p.path)}.when", "a parameter cannot depend on itself")
    ordered: list[Param] = []
    pending = list(params)
    while pending:
        ready = [p for p in pending if all(d in {q.path for q in ordered} for d, _ in p.when)]
        if not ready:
            raise SpecError(
                "search.space", "conditions form a cycle: " + ", ".join(p.path for p in pending)
            )
        ordered += ready
        pending = [p for p in pending if p not in ready]
    return ordered


def sample_point(params: list[Param], rng: random.Random) -> dict[str, Any]:
    point: dict[str, Any] = {}
    for p in params:
        if p.active(point):
            point[p.path] = p.sample(rng)
    return point


def grid_points(params: list[Param]) -> list[dict[str, Any]]:
    """Cartesian product of ``choice`` values; inactive conditional values collapse, so a
    value of ``sigma.value`` is only crossed with ``fixed``. Order is stable."""
    grids = [p.domain.grid(_field(p.path)) for p in params]  # refuses non-choice domains
    points: list[dict[str, Any]] = [{}]
    for p, values in zip(params, grids, strict=True):
        nxt: list[dict[str, Any]] = []
        for point in points:
            if p.active(point):
                nxt += [{**point, p.path: v} for v in values]
            else:
                nxt.append(point)
        points = nxt
    unique: list[dict[str, Any]] = []
    for point in points:
        if point not in unique:
            unique.append(point)
    return unique


def random_points(params: list[Param], n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [sample_point(params, rng) for _ in range(n)]


def with_seeds(points: list[dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """Every configuration repeated once per seed (``train.seed``)."""
    if not seeds:
        return points
    return [{**p, "train.seed": s} for p, s in itertools.product(points, seeds)]
