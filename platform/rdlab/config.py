"""Validated, frozen trial configuration (DESIGN §5 fields ``dataset/model/train/objective``).

The YAML shape is the source of truth: :func:`trial_config` validates a plain mapping, and
:meth:`TrialConfig.to_dict` gives it back, so ``--set a.b=c`` overrides and search-space
paths such as ``objective.sigma.value`` act on that one shape (:mod:`rdlab.config_io`).
Plugin sections (dataset, model, σ policy) carry plugin-specific options beside their name;
each plugin declares them as a pydantic model. A config is valid once built: constructing
one resolves every plugin name in :mod:`rdlab.registry` and validates its options, with no
file I/O (whether a dataset's files are present is :func:`rdlab.data.check_data`'s job).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rdlab.config_io import flatten
from rdlab.errors import SpecError
from rdlab.registry import DATASETS, MODELS, SIGMA_POLICIES
from rdlab.validation import (
    checked_options,
    describe,
    field_error,
    lookup,
    spec_error_from_pydantic,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Plugin(BaseModel):
    """``{<name field>: X, <common fields>, <X's options>}``, options validated by X's
    ``Options`` and normalised to their declared types (``'1e-1'`` → 0.1), so the resolved
    config, checkpoints, MLflow params and Parquet columns hold typed values."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)
    name_field: ClassVar[str] = "name"

    @classmethod
    def plugin(cls, name: str) -> Any:
        """The plugin class called ``name`` (a field error, relative to this section)."""
        raise NotImplementedError

    @model_validator(mode="before")
    @classmethod
    def _plugin_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic refuses it, naming the section
        key = cls.name_field
        name = data.get(key, cls.model_fields[key].default)
        if not isinstance(name, str):
            return data  # the name field's own type check names it
        options = {k: v for k, v in data.items() if k not in cls.model_fields}
        opts = checked_options(cls.plugin(name).Options, options, name, cls.model_fields)
        common = {k: v for k, v in data.items() if k in cls.model_fields}
        return {**common, **opts.model_dump(mode="json")}

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def flat(self) -> dict[str, Any]:
        out = {k: v for k, v in self.model_dump().items() if k in type(self).model_fields}
        out.update(self.options())
        return out


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

    @classmethod
    def plugin(cls, name: str) -> Any:
        return lookup(DATASETS, name, "name")


class ModelConfig(_Plugin):
    name: str = "mlp_resnet"
    latent_dim: int = Field(8, ge=1, le=4096)

    @classmethod
    def plugin(cls, name: str) -> Any:
        found = lookup(MODELS, name, "name")
        if found.kind != "vae":
            raise field_error("name", f"{name!r} is a {found.kind}, not a VAE model")
        return found


class TrainConfig(_Frozen):
    epochs: int = Field(30, ge=1, le=100000)
    batch_size: int = Field(128, ge=1, le=1 << 20)
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Autocast precision (rdlab.train.device): bf16 on CPU or GPU, fp16 on CUDA only.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # A checkpoint after every ``checkpoint_every`` epochs when set, else once
    # ``checkpoint_interval_s`` of training has passed since the last one; always after the
    # last epoch. Time-based by default: an 8 MB checkpoint costs ~20 ms, 6–8% of a 0.3 s
    # digits epoch (issue 8), while a long epoch is never more than 30 s of lost work.
    checkpoint_every: int | None = Field(None, ge=1)
    checkpoint_interval_s: float = Field(30.0, gt=0.0)
    grad_clip: float | None = Field(None, gt=0.0)  # max global grad norm; None = off
    # Time limits under a study (rdlab.tune.trainable's watchdog): a trial past either ends
    # `failed` with reason `timeout` and the study goes on. A hung trial (a deadlocked
    # loader, a stuck collective) is caught too: the watchdog does not need it to return.
    max_trial_seconds: float | None = Field(None, gt=0.0)
    max_epoch_seconds: float | None = Field(None, gt=0.0)
    eval_batch_size: int = Field(1024, ge=1)


class SigmaConfig(_Plugin):
    """σ policy (DESIGN §3). Soft floor: log σ ← m + softplus(log σ − m), m = min_log_sigma."""

    name_field: ClassVar[str] = "policy"
    policy: str = "optimal_sample"
    min_log_sigma: float | None = -6.0  # None: no floor (divergence experiments only)

    @classmethod
    def plugin(cls, name: str) -> Any:
        return lookup(SIGMA_POLICIES, name, "policy")

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

    @model_validator(mode="after")
    def _is_a_discriminator(self) -> AdversarialConfig:
        found = lookup(MODELS, self.discriminator, "discriminator")
        if found.kind != "discriminator":
            raise field_error("discriminator", f"{self.discriminator!r} is not a discriminator")
        return self

    @field_validator("betas")
    @classmethod
    def _betas_in_unit_interval(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each of Adam's betas must be in [0, 1), got {list(v)}")
        return v


# Plugin sections default through factories: a default built at import time would load
# every plugin (and torch) whenever this module is imported.
class ObjectiveConfig(_Frozen):
    beta: float = Field(1.0, ge=0.0)
    sigma: SigmaConfig = Field(default_factory=SigmaConfig)
    mixture: MixtureConfig = MixtureConfig()
    l1: float = Field(0.0, ge=0.0)
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)


class EvalConfig(_Frozen):
    """End-of-trial evaluation knobs (issue 4 reads these)."""

    splits: tuple[str, ...] = ("val", "test")
    iwae_k: int = Field(100, ge=0, le=5000)  # 0 turns the IWAE bound off
    iwae_examples: int = Field(512, ge=1)
    gmm_components: int = Field(32, ge=1)
    frechet: bool = True
    # Fréchet distances (rdlab.evaluate.frechet). By default each evaluated split is the
    # real set and the prior/GMM sets are as large as it; a small split (digits' 180 test
    # images) makes a noisy distance, so a study may compare every split's generated sets
    # with one larger split instead (``fd_reference``; reconstructions are then of that
    # split's examples), draw ``fd_samples`` prior and GMM examples, and put a percentile
    # bootstrap interval on each distance (``fd_bootstrap`` resamples → ``fd_*_lo``,
    # ``fd_*_hi``, 95 %).
    fd_reference: Literal["split", "train", "val", "test"] = "split"
    fd_samples: int | None = Field(None, ge=2, le=50_000)
    fd_bootstrap: int = Field(0, ge=0, le=10_000)
    pictures: bool = True
    inception_weights: str | None = None


class TrialConfig(_Frozen):
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = TrainConfig()
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _sections_agree(self) -> TrialConfig:
        data = DATASETS.get(self.dataset.name)
        if (
            data.test_from_fraction
            and "test" in self.eval.splits
            and self.dataset.test_fraction == 0
        ):
            raise field_error(
                "dataset.test_fraction",
                "is 0, so there is no test split to evaluate; "
                "set a test_fraction > 0 or eval.splits: [val]",
            )
        if self.objective.adversarial.weight > 0 and not data.is_image:
            raise field_error(
                "objective.adversarial.weight",
                f"the PatchGAN term needs image data; {self.dataset.name!r} is not",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump(mode="json")
        d["dataset"] = self.dataset.flat()
        d["model"] = self.model.flat()
        d["objective"]["sigma"] = self.objective.sigma.flat()
        return d

    def flat_params(self) -> dict[str, Any]:
        """Dot-flattened params, as logged to MLflow (``objective.sigma.policy`` …)."""
        return flatten(self.to_dict())


def trial_config(data: dict[str, Any] | None, prefix: str = "") -> TrialConfig:
    """Validate a YAML-shaped mapping into a :class:`TrialConfig`, or raise SpecError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(prefix.rstrip(".") or "config", f"must be a mapping, got {describe(data)}")
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as err:
        raise spec_error_from_pydantic(err, TrialConfig, prefix) from None
