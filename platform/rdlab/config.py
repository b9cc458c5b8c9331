"""Validated, frozen trial configuration (DESIGN §5 fields ``dataset/model/train/objective``).

The YAML shape is the source of truth: :func:`trial_config` validates a plain mapping, and
:meth:`TrialConfig.to_dict` gives it back, so ``--set a.b=c`` overrides and search-space
paths such as ``objective.sigma.value`` act on that one shape. Plugin sections (dataset,
model, σ policy) carry plugin-specific options beside their name; each plugin declares
them as a pydantic model, checked here so an unknown option names its field.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rdlab.errors import SpecError


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Plugin(BaseModel):
    """``{name: X, <common fields>, <X's options>}``; options validated by X's ``Options``."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def flat(self) -> dict[str, Any]:
        out = {k: v for k, v in self.model_dump().items() if k in type(self).model_fields}
        out.update(self.options())
        return out


def _finite(v: float, field: str) -> float:
    if not math.isfinite(v):
        raise ValueError(f"must be finite, got {v}")
    return v


class DatasetConfig(_Plugin):
    name: str = "digits"
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    seed: int = 0
    root: str | None = None  # where torchvision-style datasets live; never downloaded
    # Discrete data (a dataset with ``levels``): add uniform noise over each value's bin to
    # the training batches, so the decoder is fit as a density of the data it is scored on
    # (likelihood metrics are always dequantised; rdlab.data.base). No effect on generated
    # data. False trains on the raw values, as the seed papers do.
    dequantize_train: bool = True


class ModelConfig(_Plugin):
    name: str = "mlp_resnet"
    latent_dim: int = Field(8, ge=1, le=4096)


class TrainConfig(_Frozen):
    epochs: int = Field(30, ge=1, le=100000)
    batch_size: int = Field(128, ge=1, le=1 << 20)
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # A checkpoint after every ``checkpoint_every`` epochs when set, else once
    # ``checkpoint_interval_s`` of training has passed since the last one; always after the
    # last epoch. Time-based by default: an 8 MB checkpoint costs ~20 ms, 6–8% of a 0.3 s
    # digits epoch (issue 8), while a long epoch is never more than 30 s of lost work.
    checkpoint_every: int | None = Field(None, ge=1)
    checkpoint_interval_s: float = Field(30.0, gt=0.0)
    grad_clip: float | None = Field(None, gt=0.0)  # max global grad norm; None = off
    eval_batch_size: int = Field(1024, ge=1)

    @field_validator("lr")
    @classmethod
    def _lr_finite(cls, v: float) -> float:
        return _finite(v, "lr")


class SigmaConfig(_Plugin):
    """σ policy (DESIGN §3). Soft floor: log σ ← m + softplus(log σ − m), m = min_log_sigma."""

    policy: str = "optimal_sample"
    min_log_sigma: float | None = -6.0  # None: no floor (divergence experiments only)

    def flat(self) -> dict[str, Any]:
        out = {"policy": self.policy, "min_log_sigma": self.min_log_sigma}
        out.update(self.options())
        return out


class MixtureConfig(_Frozen):
    """002's mixture regulariser weights: KL_G on the batch aggregate, KL_I per example.

    ``kl_g`` weights eq. 20, ½ Σ_j (σ̄_j² + μ̄_j² − 1 − log σ̄_j²); ``kl_i`` weights eq. 21
    exactly, mean_i Σ_j (σ_ij² − 1 − log σ_ij²) with **no ½** (DESIGN §4), so 002's
    (β1, β2) = (1, 0.5) are ``kl_g: 1, kl_i: 0.5``.
    """

    kl_g: float = Field(0.0, ge=0.0)
    kl_i: float = Field(0.0, ge=0.0)
    aggregate: Literal["samples", "means"] = "samples"


class AdversarialConfig(_Frozen):
    """PatchGAN term of 002 (weight 0 turns it off; the discriminator is then never built).

    The discriminator's optimiser is 002's: Adam at lr 1e-4 (002 §4 trains the VAE and the
    discriminator with Adam from 1e-4 and names no other Adam setting, so Adam's default
    betas (0.9, 0.999); pix2pix's (0.5, 0.999) is one ``betas`` away).
    """

    weight: float = Field(0.0, ge=0.0)
    discriminator: str = "patchgan"
    lr: float = Field(1e-4, gt=0.0, le=10.0)
    betas: tuple[float, float] = (0.9, 0.999)
    channels: int = Field(32, ge=1)
    start_epoch: int = Field(0, ge=0)

    @field_validator("betas")
    @classmethod
    def _betas_in_unit_interval(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each of Adam's betas must be in [0, 1), got {list(v)}")
        return v


class ObjectiveConfig(_Frozen):
    beta: float = Field(1.0, ge=0.0)
    sigma: SigmaConfig = SigmaConfig()
    mixture: MixtureConfig = MixtureConfig()
    l1: float = Field(0.0, ge=0.0)
    adversarial: AdversarialConfig = AdversarialConfig()

    @field_validator("beta", "l1")
    @classmethod
    def _weights_finite(cls, v: float) -> float:
        return _finite(v, "beta")


class EvalConfig(_Frozen):
    """End-of-trial evaluation knobs (issue 4 reads these)."""

    splits: tuple[str, ...] = ("val", "test")
    iwae_k: int = Field(100, ge=0, le=5000)  # 0 turns the IWAE bound off
    iwae_examples: int = Field(512, ge=1)
    gmm_components: int = Field(32, ge=1)
    frechet: bool = True
    pictures: bool = True
    inception_weights: str | None = None


class TrialConfig(_Frozen):
    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    eval: EvalConfig = EvalConfig()

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump(mode="json")
        d["dataset"] = self.dataset.flat()
        d["model"] = self.model.flat()
        d["objective"]["sigma"] = self.objective.sigma.flat()
        return d

    def flat_params(self) -> dict[str, Any]:
        """Dot-flattened params, as logged to MLflow (``objective.sigma.policy`` …)."""
        return flatten(self.to_dict())


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- validation


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cls: Any = model
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type)):
            return []
        cls = field.annotation
        if not issubclass(cls, BaseModel):
            return []
    return sorted(cls.model_fields)


def spec_error_from_pydantic(
    err: ValidationError, model: type[BaseModel], prefix: str = ""
) -> SpecError:
    """The first pydantic error, as one line naming the dotted field and the bad value."""
    e = err.errors()[0]
    loc = tuple(e["loc"])
    field = prefix + ".".join(str(p) for p in loc)
    if e["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return SpecError(field, f"unknown key; allowed: {', '.join(allowed)}")
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if e["type"] not in ("missing",):
        msg = f"{msg}, got {_describe(e.get('input'))}"
    return SpecError(field, msg)


def _validate_plugin_options(section: _Plugin, name: str, field: str, options_cls: Any) -> Any:
    """The section with its options validated and normalised (``'1e-1'`` → 0.1), so the
    resolved config, checkpoints, MLflow params and Parquet columns hold typed values."""
    try:
        opts = options_cls(**section.options())
    except ValidationError as err:
        e = spec_error_from_pydantic(err, options_cls, prefix=field + ".")
        if err.errors()[0]["type"] == "extra_forbid" or e.message.startswith("unknown key"):
            allowed = sorted(set(type(section).model_fields) | set(options_cls.model_fields))
            e = SpecError(e.field, f"unknown key for {name!r}; allowed: {', '.join(allowed)}")
        raise e from None
    except TypeError as err:  # a non-string key in the mapping
        raise SpecError(field, str(err)) from None
    common = {k: getattr(section, k) for k in type(section).model_fields}
    return type(section)(**common, **opts.model_dump(mode="json"))


def check_plugins(cfg: TrialConfig) -> TrialConfig:
    """Resolve every plugin name and validate its options; unknown names list known ones.

    Returns the config with plugin options normalised to their declared types.
    """
    from rdlab.data import build_dataset
    from rdlab.plugins import dataset_registry, model_registry, sigma_registry

    ds = dataset_registry().get(cfg.dataset.name, "dataset.name")
    dataset = _validate_plugin_options(cfg.dataset, cfg.dataset.name, "dataset", ds.Options)
    build_dataset(dataset)  # cheap: checks files are present, loads nothing yet
    if (
        getattr(ds, "test_from_fraction", False)
        and "test" in cfg.eval.splits
        and dataset.test_fraction == 0
    ):
        raise SpecError(
            "dataset.test_fraction",
            "is 0, so there is no test split to evaluate; "
            "set a test_fraction > 0 or eval.splits: [val]",
        )
    mdl = model_registry().get(cfg.model.name, "model.name")
    if getattr(mdl, "kind", "vae") != "vae":
        raise SpecError("model.name", f"{cfg.model.name!r} is a {mdl.kind}, not a VAE model")
    model = _validate_plugin_options(cfg.model, cfg.model.name, "model", mdl.Options)
    pol = sigma_registry().get(cfg.objective.sigma.policy, "objective.sigma.policy")
    sigma = _validate_plugin_options(
        cfg.objective.sigma, cfg.objective.sigma.policy, "objective.sigma", pol.Options
    )
    adv = cfg.objective.adversarial
    if adv.weight > 0:
        disc = model_registry().get(adv.discriminator, "objective.adversarial.discriminator")
        if getattr(disc, "kind", "vae") != "discriminator":
            raise SpecError(
                "objective.adversarial.discriminator",
                f"{adv.discriminator!r} is not a discriminator",
            )
        if not getattr(ds, "is_image", False):
            raise SpecError(
                "objective.adversarial.weight",
                f"the PatchGAN term needs image data; {cfg.dataset.name!r} is not",
            )
    objective = cfg.objective.model_copy(update={"sigma": sigma})
    return cfg.model_copy(update={"dataset": dataset, "model": model, "objective": objective})


def trial_config(data: dict[str, Any] | None, prefix: str = "") -> TrialConfig:
    """Validate a YAML-shaped mapping into a :class:`TrialConfig`, or raise SpecError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(prefix.rstrip(".") or "config", f"must be a mapping, got {_describe(data)}")
    try:
        cfg = TrialConfig.model_validate(data)
    except ValidationError as err:
        raise spec_error_from_pydantic(err, TrialConfig, prefix) from None
    try:
        cfg = check_plugins(cfg)
    except SpecError as err:
        raise SpecError(prefix + err.field, err.message) from None
    return cfg


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars: ``1e-3`` → float, ``true`` → bool, ``[1,2]`` → list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` set (intermediate mappings created)."""
    out = copy.deepcopy(data)
    node = out
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise SpecError(".".join(parts[: i + 1]), f"is not a mapping, cannot set {path}")
        node = nxt
    node[parts[-1]] = value
    return out


def get_path(data: dict[str, Any], path: str, default: Any = None) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise SpecError("--set", f"expected key=value, got {item!r}")
        key, _, text = item.partition("=")
        data = set_path(data, key.strip(), parse_value(text))
    return data


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping; unreadable or malformed files are a SpecError naming the path."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise SpecError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(path, f"cannot read: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(path, f"not valid YAML: {str(err).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(path, f"must hold a mapping at top level, got {type(data).__name__}")
    return data
