"""The study spec (DESIGN §5): a base trial config plus search, resources and failure
policy — validated in full before Ray starts. Every error names its field, e.g.
``search.scheduler: ASHA needs a single objective …``. The search algorithm is a plugin
(:mod:`rdlab.study.algorithm`): its name is looked up in the registry and its options,
``search.options``, validated by its own model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rdlab.config import TrialConfig, trial_config
from rdlab.config_io import get_path, set_path
from rdlab.data import check_data
from rdlab.errors import SpecError
from rdlab.registry import SEARCH_ALGORITHMS
from rdlab.study.algorithm import SearchAlgorithm, SearchRequest, Target
from rdlab.study.space import Param, parse_space
from rdlab.validation import checked_options, lookup, spec_error_from_pydantic

# Metrics a study can optimise: the per-split values every trial reports (DESIGN §2).
METRICS = ("rate", "mse", "nll", "nll_opt", "elbo", "bpd", "loss", "log_sigma_x")
TRIAL_KEYS = ("dataset", "model", "train", "objective", "eval")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Objective(_Strict):
    metric: str
    mode: Literal["min", "max"]
    split: Literal["train", "val"] = "val"

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(METRICS)}")
        return v

    @property
    def key(self) -> str:
        return f"{self.split}/{self.metric}"


class Scheduler(_Strict):
    name: Literal["asha"] = "asha"
    grace_period: int = Field(2, ge=1)
    reduction_factor: float = Field(3.0, gt=1.0)


class Search(_Strict):
    algorithm: str = "optuna-tpe"  # a name in rdlab.registry.SEARCH_ALGORITHMS
    options: dict[str, Any] = Field(default_factory=dict)  # the algorithm's own options
    objectives: tuple[Objective, ...] = (
        Objective(metric="rate", mode="min"),
        Objective(metric="nll_opt", mode="min"),
    )
    num_samples: int = Field(16, ge=1, le=100000)
    space: dict[str, Any] = Field(default_factory=dict)
    scheduler: Scheduler | None = None
    seed: int = Field(0, ge=0)  # the sampler's seed: the same spec proposes the same trials

    @field_validator("objectives")
    @classmethod
    def _one_or_two(cls, v: tuple[Objective, ...]) -> tuple[Objective, ...]:
        if not 1 <= len(v) <= 2:
            raise ValueError(f"give one or two objectives, got {len(v)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _algorithm_options(cls, data: Any) -> Any:
        """Resolve the algorithm and normalise its options (unknown ones are refused)."""
        if not isinstance(data, dict):
            return data
        name = data.get("algorithm", cls.model_fields["algorithm"].default)
        options = data.get("options") or {}
        if not isinstance(name, str) or not isinstance(options, dict):
            return data  # the fields' own type checks name them
        algorithm = lookup(SEARCH_ALGORITHMS, name, "algorithm")
        opts = checked_options(algorithm.Options, options, name, prefix="options.")
        return {**data, "options": opts.model_dump(mode="json")}

    def make_algorithm(self) -> SearchAlgorithm:
        cls = SEARCH_ALGORITHMS.get(self.algorithm, "search.algorithm")
        return cls(cls.Options.model_validate(self.options))


class Resources(_Strict):
    cpu: float = Field(1.0, gt=0.0, le=1024)
    gpu: float = Field(0.0, ge=0.0, le=64)  # fractional GPUs pack trials on one device
    # Custom Ray resources a trial reserves, e.g. {gpu_a100: 1} or {worker: 1} to place
    # trials on the nodes that advertise them (`ray start --resources`).
    custom: dict[str, float] = Field(default_factory=dict)

    @field_validator("custom")
    @classmethod
    def _custom(cls, v: dict[str, float]) -> dict[str, float]:
        for name, amount in v.items():
            if name in ("CPU", "GPU", "cpu", "gpu", "memory") or not 0 < amount <= 1e6:
                raise ValueError(
                    f"{name}: must be a custom resource name with an amount in (0, 1e6]"
                )
        return v


class SpecModel(_Strict):
    study: str = "rd-study"
    dataset: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    objective: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    search: Search = Field(default_factory=Search)  # built on use: it looks up a plugin
    seeds: tuple[int, ...] = ()
    resources: Resources = Resources()
    max_concurrent: int = Field(2, ge=1, le=10000)
    max_failures: int = Field(1, ge=0, le=100)  # retries per trial before it counts as failed
    # Trials per process trained as one batched computation (rdlab.train.packed); each
    # member stays its own trial in MLflow and Parquet. grid/random only.
    pack: int = Field(1, ge=1, le=256)
    # Log each trial's final checkpoint to its MLflow run (tag rdlab.checkpoint).
    log_checkpoint: bool = True
    # Extra trial callbacks, "module:Class" (an rdlab.train.hooks.Callback with no
    # arguments), imported where the trial runs: profilers, custom loggers, fault injection.
    callbacks: tuple[str, ...] = ()

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for path in v:
            if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", path):
                raise ValueError(f"{path!r} is not an import path of the form module:Class")
        return v

    @field_validator("study")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", v):
            raise ValueError("must be 1–100 characters of letters, digits, '_', '.', '-'")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError(f"must be distinct non-negative integers, got {list(v)}")
        return v


@dataclass(frozen=True)
class StudySpec:
    """A validated study: the model above, the base trial config and the parsed space."""

    model: SpecModel
    base: dict[str, Any]  # YAML-shaped base trial config
    base_config: TrialConfig
    algorithm: SearchAlgorithm
    params: list[Param] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.study

    @property
    def search(self) -> Search:
        return self.model.search

    @property
    def multi_objective(self) -> bool:
        return len(self.search.objectives) > 1

    def request(
        self, state_url: str | None = None, replay: tuple[dict[str, Any], ...] = ()
    ) -> SearchRequest:
        """What the search algorithm builds the search from."""
        s = self.search
        return SearchRequest(
            study=self.name,
            params=tuple(self.params),
            targets=tuple(Target(o.key, o.mode) for o in s.objectives),
            num_samples=s.num_samples,
            seed=s.seed,
            seeds=self.model.seeds,
            state_url=state_url,
            replay=replay,
        )


def _check_point(base: dict[str, Any], point: dict[str, Any], field_name: str) -> TrialConfig:
    data = base
    for path, value in point.items():
        data = set_path(data, path, value)
    try:
        return trial_config(data)
    except SpecError as err:
        # A path that is not a config field shows as an unknown key at that path.
        raise SpecError(field_name, err.message if err.field in field_name else str(err)) from None


def _validate_space(base: dict[str, Any], params: list[Param], checked: set[str]) -> None:
    """Every value a parameter can take must give a valid trial config (unknown paths,
    unknown plugin names in a choice, out-of-range bounds, a dataset whose files are
    missing are caught here, before Ray). ``checked``: datasets whose files were checked."""
    for p in params:
        cond = {dep: vals[0] for dep, vals in p.when}
        for v in p.representatives():
            field_name = f"search.space.{p.path}"
            cfg = _check_point(base, {**cond, p.path: v}, field_name)
            if _data_key(cfg) not in checked:
                checked.add(_data_key(cfg))
                try:
                    check_data(cfg.dataset)
                except SpecError as err:
                    raise SpecError(field_name, str(err)) from None


def _data_key(cfg: TrialConfig) -> str:
    return repr(sorted(cfg.dataset.flat().items()))


def _check_finite(node: Any, path: str) -> None:
    """NaN or ±inf is never a meaningful setting (a weight, a rate, a floor, a bound); the
    trial config checks only some fields for it, so the whole spec is checked here."""
    if isinstance(node, float) and not math.isfinite(node):
        raise SpecError(path or "spec", f"must be a finite number, got {node}")
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            _check_finite(v, f"{path}.{i}")


def parse_spec(data: Any) -> StudySpec:
    if not isinstance(data, dict):
        raise SpecError("spec", f"must be a mapping, got {type(data).__name__}")
    _check_finite(data, "")
    try:
        model = SpecModel.model_validate(data)
    except ValidationError as err:
        raise spec_error_from_pydantic(err, SpecModel) from None
    base = {k: data[k] for k in TRIAL_KEYS if k in data}
    base_config = trial_config(base)
    check_data(base_config.dataset)
    s = model.search
    algorithm = s.make_algorithm()
    params = parse_space(s.space)
    if not params and algorithm.needs_space:
        raise SpecError("search.space", f"is empty; {s.algorithm} needs at least one parameter")
    for p in params:
        if p.path.split(".")[0] not in TRIAL_KEYS:
            raise SpecError(
                f"search.space.{p.path}", f"must be a path under {', '.join(TRIAL_KEYS)}"
            )
    _validate_space(base, params, checked={_data_key(base_config)})
    algorithm.check(params)
    if s.scheduler is not None and len(s.objectives) > 1:
        raise SpecError(
            "search.scheduler",
            "ASHA stops trials on one metric, so it needs a "
            "single objective; with two objectives every trial must finish for "
            "the frontier to be fair. Remove the scheduler or one objective",
        )
    if s.scheduler is not None and not algorithm.supports_scheduler:
        raise SpecError("search.scheduler", f"{s.algorithm} cannot run under a scheduler")
    _check_pack(model, base, params, algorithm)
    if model.seeds and any(p.path == "train.seed" for p in params):
        raise SpecError("seeds", "train.seed is also a search parameter; use one or the other")
    return StudySpec(
        model=model, base=base, base_config=base_config, algorithm=algorithm, params=params
    )


def _check_pack(
    model: SpecModel, base: dict[str, Any], params: list[Param], algorithm: SearchAlgorithm
) -> None:
    """``pack > 1`` needs every trial known up front (a non-adaptive algorithm) and all
    finishing together (no ASHA). Anything else packs: members the vmapped engine cannot
    batch (a PatchGAN term, a β-conditioned model) train one after another in one loop."""
    if model.pack == 1:
        return
    s = model.search
    if algorithm.adaptive:
        upfront = [n for n, cls in SEARCH_ALGORITHMS.items() if not cls.adaptive]
        raise SpecError(
            "pack",
            f"packing needs search.algorithm {' or '.join(upfront)}, got {s.algorithm}: it "
            "proposes one trial at a time from the results so far; use pack: 1",
        )
    if s.scheduler is not None:
        raise SpecError("pack", "ASHA stops trials one by one; a pack trains together")


def describe(spec: StudySpec) -> str:
    s = spec.search
    objs = ", ".join(f"{o.mode} {o.key}" for o in s.objectives)
    size = spec.algorithm.size(spec.request())
    reps = max(1, len(spec.model.seeds))
    return (
        f"study {spec.name}: {s.algorithm}, {size} configurations × {reps} seed(s), "
        f"objectives [{objs}], {get_path(spec.base, 'dataset.name', 'digits')}"
    )
