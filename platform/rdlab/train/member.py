"""One member of a trial loop: a trial's model, σ policy, discriminator and bookkeeping.

A member is built exactly the same way whether it trains alone or in a pack (seed, then
data, model, policy, in that order), so a packed member starts from the weights its
unpacked run would. Its bookkeeping (epoch, history, training wall time, status) and its
:class:`~rdlab.train.hooks.MemberRecord` are what its checkpoint carries besides the
engine's tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rdlab.config import TrialConfig
from rdlab.data import DataSource, build_dataset
from rdlab.model import Alone, Discriminator, ModelStack, VAEModel, build_model
from rdlab.objectives.sigma import SigmaPolicy, build_policy
from rdlab.registry import MODELS
from rdlab.train.hooks import STATUS_OK, MemberRecord, TrainResult
from rdlab.train.metrics import evaluate_members

VALIDATION_SALT = 7919  # validation noise stream, apart from training's


def validate_members(
    stack: ModelStack,
    policies: list[SigmaPolicy],
    cfgs: list[TrialConfig],
    data: DataSource,
    split: str = "val",
) -> list[dict[str, float]]:
    """The per-epoch metrics of one split for every member of ``stack`` (no autograd, each
    member's own noise stream): what validation reports after each epoch and the final
    evaluation reports per split. Members share the data and ``train`` settings but seeds."""
    return evaluate_members(
        stack,
        policies,
        data.likelihood_split(split),  # dequantised for discrete data
        cfgs[0].train.eval_batch_size,
        data.bin_width,
        seeds=[c.train.seed + VALIDATION_SALT for c in cfgs],
    )


def get_rng(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def set_rng(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


class Member:
    """Model, σ policy, optional discriminator and the per-trial state of one trial."""

    def __init__(
        self,
        cfg: TrialConfig,
        out_dir: Path | str,
        device: torch.device,
        data: DataSource | None = None,
        trial_id: str = "",
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.device = device
        self.trial_id = trial_id
        torch.manual_seed(cfg.train.seed)
        self.data: DataSource = data if data is not None else build_dataset(cfg.dataset).to(device)
        self.model: VAEModel = build_model(
            cfg.model.name, self.data.shape, cfg.model.latent_dim, cfg.model.options()
        ).to(device)
        sig = cfg.objective.sigma
        self.policy: SigmaPolicy = build_policy(sig.policy, sig.min_log_sigma, sig.options())
        self.policy.setup(self.model, cfg.train.epochs)
        self.policy.to(device)
        self.disc: Discriminator | None = None
        adv = cfg.objective.adversarial
        if adv.weight > 0:
            dcls = MODELS.get(adv.discriminator, "objective.adversarial.discriminator")
            assert issubclass(dcls, Discriminator)  # the config checked its kind
            self.disc = dcls(self.data.shape, channels=adv.channels).to(device)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.wall_s = 0.0
        self.status: str | None = None  # None while training; ok | diverged once it ended
        self.diverged_at: int | None = None
        self.record = MemberRecord()
        # The member's own noise stream: the global RNG as it stands right after the build,
        # which is what an unpacked run would continue with (engines swap it in and out).
        self.rng = get_rng(device)

    @property
    def active(self) -> bool:
        return self.status is None

    def validate(self, split: str = "val") -> dict[str, float]:
        """The per-epoch metrics of one split (no autograd, its own noise stream)."""
        return validate_members(Alone(self.model), [self.policy], [self.cfg], self.data, split)[0]

    def last_val(self) -> dict[str, float]:
        """The last finished epoch's validation metrics (a diverged trial's final row)."""
        last = self.history[-1] if self.history else {}
        return {k[4:]: v for k, v in last.items() if k.startswith("val/")}

    def train_result(self) -> TrainResult:
        return TrainResult(
            status=self.status or STATUS_OK,
            epochs_done=self.epoch,
            history=list(self.history),
            wall_s=self.wall_s,
            diverged_epoch=self.diverged_at,
        )

    def bookkeeping(self) -> dict[str, object]:
        """The checkpoint's non-tensor part (config, epoch, history, wall time, record)."""
        return {
            "format": "rdlab-checkpoint-1",
            "config": self.cfg.to_dict(),
            "epoch": self.epoch,
            "history": list(self.history),
            "wall_s": self.wall_s,
            "record": self.record.to_state(),
        }
