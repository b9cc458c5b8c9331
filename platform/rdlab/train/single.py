"""The plain engine: each member is its own model with its own optimiser, trained one
after another in an epoch. A trial alone is a pack of one of these; a pack whose members
cannot be vmapped together (a PatchGAN term, a β-conditioned model, BatchNorm buffers)
runs here too, so nothing is ever refused just because it is packed.

Each member draws its noise from its own RNG stream: the global RNG as it stood right
after the member was built, swapped in for the member's epoch and saved after it. For one
member that is exactly the global stream of an unpacked run.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rdlab.data.base import epoch_generator
from rdlab.model import VAEOutput, as_beta_conditioned
from rdlab.objectives import adversarial
from rdlab.objectives.loss import LossTerms, compose
from rdlab.train.device import Precision
from rdlab.train.engine import Engine
from rdlab.train.member import Member, get_rng, set_rng
from rdlab.train.metrics import SUM_KEYS, finite_sums, params_finite, step_sums, summarise
from rdlab.train.optim import build_optimizer

BETA_SALT = 4_409  # the multi-rate VAE's β stream, apart from the data's (seed, epoch) stream


def member_optimizer(m: Member) -> torch.optim.Adam:
    """A trial's own Adam: the model at ``train.lr``, its σ parameters at theirs. foreach:
    one multi-tensor kernel per update step instead of ~10 ops per parameter; the same
    arithmetic, bit for bit (issue 8 measured it; CPU's default is per-tensor)."""
    return build_optimizer(
        m.model.parameters(), m.policy.sigma_parameters(), m.cfg.train.lr, foreach=True
    )


class _Slot:
    """One member's optimisers and precision."""

    def __init__(self, m: Member) -> None:
        self.opt = member_optimizer(m)
        self.disc_opt: torch.optim.Optimizer | None = None
        if m.disc is not None:  # 002's discriminator optimiser (Adam, lr 1e-4 by default)
            adv = m.cfg.objective.adversarial
            self.disc_opt = torch.optim.Adam(m.disc.parameters(), lr=adv.lr, betas=adv.betas)
        self.precision = Precision(m.cfg.train.precision, m.device)
        self.beta_rng: torch.Generator | None = None  # per-batch β (multi-rate VAE only)
        self.log_beta_range = (0.0, 0.0)


class SingleEngine(Engine):
    def __init__(self, members: list[Member]) -> None:
        super().__init__(members)
        self.slots = [_Slot(m) for m in members]

    # ------------------------------------------------------------------ training
    def _batch_beta(self, s: _Slot) -> float | None:
        """β of this batch for a β-conditioned model (Bae et al. 2023: log β ~ U[log β_min,
        log β_max], one draw per batch), else None: the config's β. Drawn from a generator
        seeded by (seed, epoch), so a trial resumed at an epoch boundary redraws the same β."""
        if s.beta_rng is None:
            return None
        lo, hi = s.log_beta_range
        u = float(torch.rand((), generator=s.beta_rng, dtype=torch.float64))
        return math.exp(lo + (hi - lo) * u)

    def _forward(self, m: Member, x: Tensor, beta: float | None) -> VAEOutput:
        if beta is None:
            out: VAEOutput = m.model(x)
            return out
        model = as_beta_conditioned(m.model)
        assert model is not None
        with model.conditioned(math.log(beta)):
            out = m.model(x)
        return out

    def _step(self, m: Member, s: _Slot, x: Tensor) -> Tensor:
        cfg = m.cfg
        beta = self._batch_beta(s)
        adv_on = m.disc is not None and m.epoch >= cfg.objective.adversarial.start_epoch
        with s.precision.autocast():
            out = self._forward(m, x, beta)
            t: LossTerms = compose(
                x, out, m.policy, cfg.objective, m.disc if adv_on else None, beta=beta
            )
        s.precision.step(t.loss, s.opt, cfg.train.grad_clip)
        if adv_on and m.disc is not None and s.disc_opt is not None:
            with s.precision.autocast():
                d_loss = adversarial.discriminator_loss(m.disc(x), m.disc(out.x_mean.detach()))
            s.disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            s.disc_opt.step()
        return step_sums(t, x)

    def _member_epoch(self, m: Member, s: _Slot, epoch: int) -> dict[str, float] | None:
        m.model.train()
        m.policy.train()
        m.policy.start_epoch(epoch)
        conditioned = as_beta_conditioned(m.model)
        if conditioned is not None:
            s.log_beta_range = conditioned.log_beta_range()
            s.beta_rng = epoch_generator(m.cfg.train.seed, epoch, salt=BETA_SALT)
        acc = torch.zeros(len(SUM_KEYS), dtype=torch.float64, device=m.device)
        set_rng(m.device, m.rng)
        for x in m.data.train_batches(epoch, m.cfg.train.batch_size):
            acc += self._step(m, s, x).double()
        m.rng = get_rng(m.device)
        # One host sync per epoch: a non-finite sum means some batch diverged.
        sums = dict(zip(SUM_KEYS, acc.tolist(), strict=True))
        if not finite_sums(sums) or not params_finite(m.model):
            return None
        m.policy.end_epoch(epoch)
        return summarise(sums, m.data.dim, m.data.train_bin_width)

    def train_epoch(self, epoch: int) -> list[dict[str, float] | None]:
        return [
            self._member_epoch(m, s, epoch) if m.active else None
            for m, s in zip(self.members, self.slots, strict=True)
        ]

    # ------------------------------------------------------------------ state
    def state(self, k: int) -> dict[str, Any]:
        m, s = self.members[k], self.slots[k]
        st: dict[str, Any] = {
            "model": m.model.state_dict(),
            "policy": m.policy.state_dict(),
            "opt": s.opt.state_dict(),
            "rng_cpu": m.rng if m.device.type != "cuda" else torch.get_rng_state(),
            "scaler": s.precision.state_dict(),
        }
        if m.device.type == "cuda":
            st["rng_cuda"] = [m.rng]
        if m.disc is not None and s.disc_opt is not None:
            st["disc"] = m.disc.state_dict()
            st["disc_opt"] = s.disc_opt.state_dict()
        return st

    def load_state(self, k: int, st: dict[str, Any]) -> None:
        m, s = self.members[k], self.slots[k]
        m.model.load_state_dict(st["model"])
        m.policy.load_state_dict(st["policy"])
        s.opt.load_state_dict(st["opt"])
        if m.disc is not None and s.disc_opt is not None:
            m.disc.load_state_dict(st["disc"])
            s.disc_opt.load_state_dict(st["disc_opt"])
        s.precision.load_state_dict(st.get("scaler") or {})
        m.rng = st["rng_cuda"][0] if m.device.type == "cuda" else st["rng_cpu"]
