"""One trial, end to end, with no Ray and no MLflow: build, train, checkpoint, resume.

The trainer reports through callbacks and checkpoints into a directory, so the same trial
runs under ``rdlab train``, under Ray Tune (``rdlab.tune``) and in tests. Resuming from
the last checkpoint restores weights, optimiser and RNG state, so an interrupted run ends
with the same metrics as an uninterrupted one (same seed, same device, same threads).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from rdlab.config import TrialConfig
from rdlab.data import DataSource, build_dataset
from rdlab.data.base import epoch_generator
from rdlab.errors import SpecError
from rdlab.model import (
    Discriminator,
    VAEModel,
    VAEOutput,
    as_beta_conditioned,
    build_model,
)
from rdlab.objectives import adversarial
from rdlab.objectives.loss import LossTerms, compose
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.train.checkpoint import (
    checkpoint_due,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rdlab.train.metrics import SUM_KEYS, evaluate_split, step_sums, summarise
from rdlab.train.optim import build_optimizer

STATUS_OK, STATUS_DIVERGED = "ok", "diverged"
BETA_SALT = 4_409  # the multi-rate VAE's β stream, apart from the data's (seed, epoch) stream


@dataclass
class EpochReport:
    epoch: int  # 1-based count of finished epochs
    metrics: dict[str, float]  # "train/rate", "val/nll_opt", ...
    checkpoint_dir: Path | None  # set when a checkpoint was written at this epoch
    status: str = "running"


@dataclass
class TrialResult:
    status: str
    epochs_done: int
    final: dict[str, dict[str, float]]  # split → metrics
    history: list[dict[str, float]]
    wall_s: float
    diverged_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Callback(Protocol):
    """Every hook is optional; a callback implements the ones it needs."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_epoch_metrics(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None: ...
    def on_epoch_end(self, trainer: Trainer, report: EpochReport) -> None: ...
    def on_artifacts(self, trainer: Trainer, paths: list[str]) -> None: ...
    def on_end(self, trainer: Trainer, result: TrialResult) -> None: ...


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("train.device", "cuda requested but no CUDA device is available")
    return torch.device(name)


class Trainer:
    """Owns the model, σ policy, optimisers and data of one trial."""

    def __init__(
        self,
        cfg: TrialConfig,
        out_dir: Path | str,
        callbacks: list[Any] | None = None,
        device: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoint"
        self.callbacks = list(callbacks or [])
        self.device = pick_device(device or cfg.train.device)
        self.extra_state: dict[str, Any] = {}  # persisted in checkpoints (e.g. MLflow run id)
        torch.manual_seed(cfg.train.seed)
        self.data: DataSource = build_dataset(cfg.dataset).to(self.device)
        self.model: VAEModel = build_model(
            cfg.model.name, self.data.shape, cfg.model.latent_dim, cfg.model.options()
        ).to(self.device)
        sig = cfg.objective.sigma
        self.policy: SigmaPolicy = build_policy(sig.policy, sig.min_log_sigma, sig.options())
        self.policy.setup(self.model, cfg.train.epochs)
        self.policy.to(self.device)
        # foreach: one multi-tensor kernel per update step instead of ~10 ops per parameter;
        # the same arithmetic, bit for bit (issue 8 measured it; CPU's default is per-tensor).
        self.opt = build_optimizer(
            self.model.parameters(), self.policy.sigma_parameters(), cfg.train.lr, foreach=True
        )
        self.disc: Discriminator | None = None
        self.disc_opt: torch.optim.Optimizer | None = None
        adv = cfg.objective.adversarial
        if adv.weight > 0:
            from rdlab.plugins import model_registry

            dcls = model_registry().get(adv.discriminator, "objective.adversarial.discriminator")
            self.disc = dcls(self.data.shape, channels=adv.channels).to(self.device)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=adv.lr, betas=adv.betas)
        self._beta_rng: torch.Generator | None = None  # per-batch β (multi-rate VAE only)
        self._log_beta_range = (0.0, 0.0)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.wall_s = 0.0
        self.last_finite: dict[str, float] = {}

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "format": "rdlab-checkpoint-1",
            "config": self.cfg.to_dict(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "policy": self.policy.state_dict(),
            "opt": self.opt.state_dict(),
            "history": self.history,
            "wall_s": self.wall_s,
            "rng_cpu": torch.get_rng_state(),
            # Lists copied: a callback's background thread (MLflow's sender) may be taking
            # items off its buffer while the checkpoint is written.
            "extra": {
                k: list(v) if isinstance(v, list) else v for k, v in self.extra_state.items()
            },
        }
        if self.device.type == "cuda":
            st["rng_cuda"] = torch.cuda.get_rng_state_all()
        if self.disc is not None and self.disc_opt is not None:
            st["disc"] = self.disc.state_dict()
            st["disc_opt"] = self.disc_opt.state_dict()
        return st

    def load_state(self, st: dict[str, Any]) -> None:
        if st["config"] != self.cfg.to_dict():
            raise SpecError(
                str(self.ckpt_dir),
                "holds a checkpoint of a different config; use a new output directory",
            )
        self.model.load_state_dict(st["model"])
        self.policy.load_state_dict(st["policy"])
        self.opt.load_state_dict(st["opt"])
        if self.disc is not None and self.disc_opt is not None:
            self.disc.load_state_dict(st["disc"])
            self.disc_opt.load_state_dict(st["disc_opt"])
        self.epoch = int(st["epoch"])
        self.history = list(st["history"])
        self.wall_s = float(st["wall_s"])
        self.extra_state = dict(st.get("extra", {}))
        torch.set_rng_state(st["rng_cpu"])
        if "rng_cuda" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(st["rng_cuda"])

    def save(self) -> Path:
        save_checkpoint(self.ckpt_dir, self.state())
        return self.ckpt_dir

    def try_resume(self, source: Path | None = None) -> bool:
        """Restore from ``source`` (a checkpoint dir) or this trial's own last checkpoint."""
        src = source or self.ckpt_dir
        if not has_checkpoint(src):
            return False
        self.load_state(load_checkpoint(src, map_location=self.device))
        return True

    # ------------------------------------------------------------------ training
    def _batch_beta(self) -> float | None:
        """β of this batch for a β-conditioned model (Bae et al. 2023: log β ~ U[log β_min,
        log β_max], one draw per batch), else None: the config's β. Drawn from a generator
        seeded by (seed, epoch), so a trial resumed at an epoch boundary redraws the same β."""
        if self._beta_rng is None:
            return None
        lo, hi = self._log_beta_range
        u = float(torch.rand((), generator=self._beta_rng, dtype=torch.float64))
        return math.exp(lo + (hi - lo) * u)

    def _forward_at(self, x: torch.Tensor, beta: float) -> VAEOutput:
        model = as_beta_conditioned(self.model)
        assert model is not None
        with model.conditioned(math.log(beta)):
            out: VAEOutput = self.model(x)
        return out

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        beta = self._batch_beta()
        out = self.model(x) if beta is None else self._forward_at(x, beta)
        adv_on = self.disc is not None and self.epoch >= cfg.objective.adversarial.start_epoch
        disc = self.disc if adv_on else None
        t: LossTerms = compose(x, out, self.policy, cfg.objective, disc, beta=beta)
        self.opt.zero_grad(set_to_none=True)
        t.loss.backward()
        if cfg.train.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(
                [p for g in self.opt.param_groups for p in g["params"]], cfg.train.grad_clip
            )
        self.opt.step()
        if adv_on and self.disc is not None and self.disc_opt is not None:
            d_loss = adversarial.discriminator_loss(self.disc(x), self.disc(out.x_mean.detach()))
            self.disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.disc_opt.step()
        return step_sums(t, x)

    def train_epoch(self) -> dict[str, float] | None:
        """One epoch; the training metrics, or None when a loss went NaN/inf."""
        self.model.train()
        self.policy.train()
        self.policy.start_epoch(self.epoch)
        conditioned = as_beta_conditioned(self.model)
        if conditioned is not None:
            self._log_beta_range = conditioned.log_beta_range()
            self._beta_rng = epoch_generator(self.cfg.train.seed, self.epoch, salt=BETA_SALT)
        acc = torch.zeros(len(SUM_KEYS), dtype=torch.float64, device=self.device)
        for x in self.data.train_batches(self.epoch, self.cfg.train.batch_size):
            acc += self._step(x).double()
        # One host sync per epoch: a non-finite sum means some batch diverged.
        sums = dict(zip(SUM_KEYS, acc.tolist(), strict=True))
        if not all(map(_isfinite, sums.values())) or not self._params_finite():
            return None
        self.policy.end_epoch(self.epoch)
        return summarise(sums, self.data.dim, self.data.train_bin_width)

    def _params_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def notify(self, hook: str, *args: Any) -> None:
        """Call ``hook(self, *args)`` on every callback that has it."""
        for cb in self.callbacks:
            _call(cb, hook, self, *args)

    def evaluate(self, split: str) -> dict[str, float]:
        return evaluate_split(
            self.model,
            self.policy,
            self.data.likelihood_split(split),
            self.cfg.train.eval_batch_size,
            self.data.bin_width,
            seed=self.cfg.train.seed + 7919,
        )

    def run(self, resume: bool = True, resume_from: Path | None = None) -> TrialResult:
        if resume:
            self.try_resume(resume_from)
        for cb in self.callbacks:
            _call(cb, "on_start", self)
        status, diverged_at = STATUS_OK, None
        saved_at = self.wall_s  # training wall time at the last checkpoint (or the start)
        while self.epoch < self.cfg.train.epochs:
            t0 = time.perf_counter()
            train_m = self.train_epoch()
            if train_m is None:
                status, diverged_at = STATUS_DIVERGED, self.epoch + 1
                break
            val_m = self.evaluate("val")
            if not all(map(_isfinite, val_m.values())):
                status, diverged_at = STATUS_DIVERGED, self.epoch + 1
                break
            self.epoch += 1
            self.wall_s += time.perf_counter() - t0
            metrics = {
                "epoch": float(self.epoch),
                **_prefixed("train", train_m),
                **_prefixed("val", val_m),
                **{f"policy/{k}": v for k, v in self.policy.describe().items()},
            }
            self.history.append(metrics)
            self.last_finite = metrics
            for cb in self.callbacks:  # before the checkpoint, so buffers they keep are in it
                _call(cb, "on_epoch_metrics", self, self.epoch, metrics)
            ckpt = None
            if checkpoint_due(self.cfg.train, self.epoch, self.wall_s - saved_at):
                ckpt, saved_at = self.save(), self.wall_s
            report = EpochReport(self.epoch, metrics, ckpt)
            for cb in self.callbacks:
                _call(cb, "on_epoch_end", self, report)
        result = self.finish(status, diverged_at)
        for cb in self.callbacks:
            _call(cb, "on_end", self, result)
        return result

    def finish(self, status: str, diverged_at: int | None) -> TrialResult:
        final: dict[str, dict[str, float]] = {}
        if status == STATUS_OK:
            from rdlab.evaluate import evaluate_trial

            final = evaluate_trial(self)
        elif self.history:
            last = self.history[-1]
            final = {"val": {k[4:]: v for k, v in last.items() if k.startswith("val/")}}
        return TrialResult(
            status=status,
            epochs_done=self.epoch,
            final=final,
            history=list(self.history),
            wall_s=self.wall_s,
            diverged_epoch=diverged_at,
            extra=dict(self.extra_state),
        )


def _isfinite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))


def _prefixed(prefix: str, m: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in m.items()}


def _call(cb: Any, name: str, *args: Any) -> None:
    fn = getattr(cb, name, None)
    if fn is not None:
        fn(*args)
