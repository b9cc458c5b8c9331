"""The search-algorithm interface: what proposes a study's trials (DESIGN §5 ``search``).

An algorithm is one class, registered with ``@SEARCH_ALGORITHMS.register(name)``
(:mod:`rdlab.registry`); the built-ins live in :mod:`rdlab.tune.search`, one per file. It
declares its ``Options`` (validated under the spec's ``search.options``) and what it can do
(the class variables below, which the spec checks before anything runs), and implements
:meth:`SearchAlgorithm.build`. This module imports neither Ray nor Optuna, so a spec is
validated without them; an algorithm that needs them imports them inside ``build``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from rdlab.study.space import Param


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Target:
    """One objective as Tune sees it: the reported metric key (``val/rate``) and its mode."""

    key: str
    mode: Literal["min", "max"]


@dataclass(frozen=True)
class SearchRequest:
    """What an algorithm builds a search from: the space and the study's search settings."""

    study: str
    params: tuple[Param, ...]
    targets: tuple[Target, ...]
    num_samples: int
    seed: int  # the sampler's seed: the same spec proposes the same trials
    seeds: tuple[int, ...] = ()  # train.seed values every configuration runs with
    # Where an adaptive algorithm keeps its state (a database URL, e.g. Optuna's sqlite
    # beside a local study or PostgreSQL on a cluster); None: in memory, saved with Tune's.
    state_url: str | None = None
    # Points the first trials must get, in order: a search that starts over (its driver died
    # before Tune's first save) replays what its trials recorded, so every trial id gets its
    # own configuration back. An adaptive algorithm's state is rebuilt from them alone.
    replay: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SearchPlan:
    """What Tune runs. Either every point up front (``points``, each a mapping of config
    path → value, run once each), or a Tune searcher proposing ``num_samples`` trials."""

    points: tuple[dict[str, Any], ...] = ()
    searcher: Any = None  # a ray.tune.search.Searcher
    num_samples: int = 1


class SearchAlgorithm(ABC):
    """Base class of search algorithms. One required method, :meth:`build`; two hooks.

    Class variables (checked when the spec is parsed):

    - ``Options``: the pydantic model of ``search.options`` (closed: unknown keys refused);
    - ``needs_space``: refuse an empty ``search.space``;
    - ``adaptive``: proposes each trial from the results so far (Optuna). Its trials cannot
      be packed (``pack`` needs every trial up front), and ``seeds:`` repeats its finished
      configurations after the search instead of crossing every point with every seed;
    - ``supports_scheduler``: may run under ASHA (``search.scheduler``).
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_space: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False
    supports_scheduler: ClassVar[bool] = True

    def __init__(self, options: BaseModel) -> None:
        self.options = options

    @abstractmethod
    def build(self, request: SearchRequest) -> SearchPlan:
        """The search Tune runs. Deterministic in ``request.seed``; an adaptive algorithm
        returns a ``searcher`` (importing Ray and Optuna here, never at module level),
        any other returns its ``points``, each crossed with ``request.seeds``."""

    def check(self, params: Sequence[Param]) -> None:  # noqa: B027 (a no-op hook)
        """Hook: refuse a space this algorithm cannot search, with a SpecError naming
        ``search.space.<path>``. Called when the spec is parsed."""

    def size(self, request: SearchRequest) -> int:
        """Hook: how many configurations the search proposes (before seeds)."""
        return request.num_samples
