"""Trial packing (issue 8): K trials that share a model shape, trained as ONE batched
computation in one process, each still its own trial with its own metrics and checkpoint.

Small models (mlp_resnet on digits or toy data) spend most of a step on per-operation
overhead, not arithmetic. Packed, the K members' weights are stacked ([K, …] per parameter,
``torch.func.stack_module_state``) and the model runs once per step under ``torch.func.vmap``
— one batched matmul where there were K small ones. The loss is summed over members: each
member's parameters only enter its own loss, so each gets exactly its own gradient, and
Adam is elementwise, so one Adam over the stacked tensors is K independent Adams (same
learning rate; ``tests/perf`` checks it numerically).

What may differ between members: ``objective.*`` (β, σ policy and its options, mixture
weights, L1) and ``train.seed``; everything else (data, model, batch size, epochs, lr, …)
must be equal (:func:`pack_key`). The PatchGAN term is not packable, nor are models with
buffers (BatchNorm running statistics do not batch under vmap).

Each member is a full :class:`~rdlab.train.trainer.Trainer` (built exactly as unpacked, so
the same seed gives the same initial weights); its model's parameters become views into the
stacked tensors. A step: the model under vmap; log σ per σ group (members with the same
policy and options: one vmapped call over their stacked policy parameters; policies whose
Python control flow reads tensor values, ``staged``, loop over members); then the composed
loss (:func:`rdlab.objectives.loss.compose`) in one vmapped call per group of members whose
objectives differ only in β and σ, with β a per-member tensor and each member's log σ
handed in. Each member draws its reparameterisation noise from its own generator, seeded as
the unpacked run's global one, so it sees the same batches and noise as when run alone; the
metrics then agree with an unpacked run of the same seed up to float32 round-off of batched
vs unbatched kernels, amplified by training (tolerance: ``tests/perf/test_packed.py``).

Checkpoints: one folder per member, ``<ckpt>/m<k>/last.pt``, each an ordinary rdlab
checkpoint (``rdlab eval`` opens it); the pack resumes from them.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from rdlab.config import TrialConfig
from rdlab.errors import SpecError
from rdlab.model import VAEOutput
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma.base import SigmaPolicy
from rdlab.train.checkpoint import checkpoint_due
from rdlab.train.metrics import SUM_KEYS, step_sums, summarise
from rdlab.train.optim import build_optimizer
from rdlab.train.trainer import (
    STATUS_DIVERGED,
    STATUS_OK,
    EpochReport,
    Trainer,
    TrialResult,
    _call,
    _isfinite,
    _prefixed,
)

PACKABLE_SECTIONS = ("objective",)
PACKABLE_PATHS = ("train.seed",)


def pack_key(cfg: TrialConfig) -> str:
    """Configs with equal keys can share a pack: all but ``objective.*`` and ``train.seed``."""
    d = cfg.to_dict()
    for section in PACKABLE_SECTIONS:
        d.pop(section, None)
    d["train"] = {k: v for k, v in d["train"].items() if f"train.{k}" not in PACKABLE_PATHS}
    return json.dumps(d, sort_keys=True, default=str)


def _sigma_key(cfg: TrialConfig) -> str:
    """Members with the same σ policy and options compute log σ in one vmapped call."""
    return json.dumps(cfg.to_dict()["objective"]["sigma"], sort_keys=True, default=str)


def _loss_key(cfg: TrialConfig) -> str:
    """Members whose objectives differ only in β and σ compose their loss in one call."""
    obj = cfg.to_dict()["objective"]
    obj.pop("beta")
    obj.pop("sigma")
    return json.dumps(obj, sort_keys=True, default=str)


def check_packable(cfgs: list[TrialConfig]) -> None:
    if not cfgs:
        raise SpecError("pack", "a pack needs at least one trial")
    keys = {pack_key(c) for c in cfgs}
    if len(keys) > 1:
        raise SpecError(
            "pack",
            "packed trials may differ only in objective.* and train.seed; these differ in "
            "more (data, model, batch size, epochs or lr)",
        )
    if any(c.objective.adversarial.weight > 0 for c in cfgs):
        raise SpecError("pack", "the adversarial (PatchGAN) term cannot be packed")


class _Method(nn.Module):
    """Calls one method of a model, so ``functional_call`` can run ``encode``/``decode``."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.m = model
        self.method = method

    def forward(self, *args: Any) -> Any:
        return getattr(self.m, self.method)(*args)


class _LogSigma(nn.Module):
    """A member's log σ_x, expanded to μ_x's shape, as a module of its σ policy."""

    def __init__(self, policy: SigmaPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, x: Tensor, *out: Tensor) -> Tensor:
        """``out``: μ_z, log σ_z², z, μ_x, features (plain tensors, so vmap can batch them)."""
        ls: Tensor = self.policy.log_sigma(x, VAEOutput(*out))
        return ls.expand(out[3].shape)


class _Given(SigmaPolicy):
    """A σ "policy" that returns the log σ it is handed: lets :func:`compose` run for members
    of different σ policies at once, their log σ computed beforehand."""

    def __init__(self) -> None:
        super().__init__(None)
        self.value: Tensor | None = None

    def log_sigma(self, x: Tensor, out: VAEOutput) -> Tensor:
        assert self.value is not None
        return self.value


def _loss_and_sums(
    cfg: TrialConfig, given: _Given, x: Tensor, beta: Tensor, ls: Tensor, *out: Tensor
) -> tuple[Tensor, Tensor]:
    """One member's composed loss (DESIGN §2) and its per-step sums, as Trainer._step."""
    given.value = ls
    t = compose(x, VAEOutput(*out), given, cfg.objective, beta=beta)
    return t.loss, step_sums(t, x)


def _stack_into_views(modules: list[nn.Module]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Stacked [K, …] leaves of the modules' parameters and buffers; each module's own
    tensors become views of row k, so they always show the live (trained) values."""
    params, buffers = stack_module_state(modules)  # type: ignore[arg-type]
    for k, mod in enumerate(modules):
        for name, p in mod.named_parameters():
            p.data = params[name].data[k]
        for name, _ in list(mod.named_buffers()):
            owner, _, leaf = name.rpartition(".")
            sub = mod.get_submodule(owner) if owner else mod
            sub._buffers[leaf] = buffers[name][k]
    return params, buffers


@dataclass
class _Group:
    members: list[int]
    index: Tensor
    call: Callable[..., Tensor] | None  # vmapped log σ; None: per-member loop
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]


class PackedTrainer:
    """Trains K :class:`Trainer` members as one computation; see the module docstring.

    ``member_callbacks[k]`` are member k's ordinary trainer callbacks (MLflow tracker …);
    ``callbacks`` are pack-level: ``on_epoch_end(pack, epoch, reports, ckpt_dir)`` with one
    :class:`EpochReport` per member (None once it diverged) and ``on_end(pack, results)``.
    """

    def __init__(
        self,
        cfgs: list[TrialConfig],
        out_dir: Path | str,
        member_callbacks: list[list[Any]] | None = None,
        callbacks: list[Any] | None = None,
        device: str | None = None,
    ) -> None:
        check_packable(cfgs)
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoint"
        self.callbacks = list(callbacks or [])
        cbs = member_callbacks or [[] for _ in cfgs]
        self.members: list[Trainer] = []
        self.rngs: list[torch.Tensor] = []
        for k, cfg in enumerate(cfgs):
            m = Trainer(cfg, self.out_dir / f"m{k}", callbacks=cbs[k], device=device)
            m.ckpt_dir = self.ckpt_dir / f"m{k}"
            if m.model.beta_conditioned:  # its β is drawn per batch; a member's is fixed
                raise SpecError("pack", f"model {cfg.model.name!r} is β-conditioned; use pack: 1")
            if any(True for _ in m.model.buffers()):
                raise SpecError("pack", f"model {cfg.model.name!r} has buffers; not packable")
            if type(m.policy).nll is not SigmaPolicy.nll:  # the loss uses log_sigma only
                raise SpecError("pack", f"σ policy {cfg.objective.sigma.policy!r} overrides nll")
            self.members.append(m)
            # the global RNG as the unpacked run's is right after its build
            self.rngs.append(_get_rng(m.device))
        lead = self.members[0]
        self.device = lead.device
        self.data = lead.data
        for m in self.members[1:]:
            m.data = self.data  # one copy of the dataset for the pack
        self.epochs = lead.cfg.train.epochs
        self.epoch = 0
        self.k = len(self.members)
        self.params, _ = _stack_into_views([m.model for m in self.members])
        self.gens = [torch.Generator(device=self.device) for _ in self.members]
        base = copy.deepcopy(lead.model).to("meta")
        self._encode = vmap(self._fn(_Method(base, "encode")), in_dims=(0, None))
        self._decode = vmap(self._fn(_Method(base, "decode")), in_dims=(0, 0))
        self.groups = self._groups()
        self.loss_groups = self._loss_groups()
        self.betas = torch.tensor([m.cfg.objective.beta for m in self.members], device=self.device)
        self.opt = build_optimizer(
            self.params.values(), self._sigma_params(), lead.cfg.train.lr, **_fused(self.device)
        )
        self.status: list[str | None] = [None] * self.k
        self.diverged_at: list[int | None] = [None] * self.k
        self.wall_s = 0.0

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _fn(module: nn.Module) -> Callable[..., Any]:
        def call(p: dict[str, Tensor], *args: Any) -> Any:
            return functional_call(
                module, {f"m.{k}": v for k, v in p.items()}, args, tie_weights=False
            )

        return call

    def _groups(self) -> list[_Group]:
        """σ groups: one vmapped log σ call per group of ≥ 2 members whose policy batches."""
        self.log_sigmas = [_LogSigma(m.policy) for m in self.members]
        by_key: dict[str, list[int]] = {}
        for k, m in enumerate(self.members):
            by_key.setdefault(_sigma_key(m.cfg), []).append(k)
        groups = []
        for ks in by_key.values():
            idx = torch.tensor(ks, device=self.device)
            params: dict[str, Tensor] = {}
            buffers: dict[str, Tensor] = {}
            call = None
            if len(ks) > 1:
                params, buffers = _stack_into_views([self.log_sigmas[k] for k in ks])
                call = self._vmapped(self.log_sigmas[ks[0]], params, buffers, len(ks))
            groups.append(_Group(ks, idx, call, params, buffers))
        order = [k for g in groups for k in g.members]
        self.ls_order = (
            None
            if order == list(range(self.k))
            else torch.tensor([order.index(k) for k in range(self.k)], device=self.device)
        )
        return groups

    def _loss_groups(self) -> list[tuple[list[int], Tensor, Callable[..., Any]]]:
        """Loss groups: members whose objectives differ only in β and σ, one vmapped call."""
        by_key: dict[str, list[int]] = {}
        for k, m in enumerate(self.members):
            by_key.setdefault(_loss_key(m.cfg), []).append(k)
        out = []
        for ks in by_key.values():
            fn = partial(_loss_and_sums, self.members[ks[0]].cfg, _Given())
            call = vmap(fn, in_dims=(None, 0, 0, 0, 0, 0, 0, 0)) if len(ks) > 1 else fn
            out.append((ks, torch.tensor(ks, device=self.device), call))
        return out

    def _vmapped(
        self, module: _LogSigma, params: dict[str, Tensor], buffers: dict[str, Tensor], g: int
    ) -> Callable[..., Tensor] | None:
        """The group's log σ vmapped over members, or None when the policy's Python control
        flow reads tensor values (``staged``): checked once on a copy, state untouched."""

        def call(p: dict[str, Tensor], b: dict[str, Tensor], *args: Any) -> Any:
            return functional_call(module, (p, b), args, tie_weights=False)

        fn = vmap(call, in_dims=(0, 0, None, 0, 0, 0, 0, 0))
        try:
            self._probe(module, params, buffers, g)
        except Exception:  # any vmap failure means: loop over this group's members
            return None
        return fn

    def _probe(
        self, module: _LogSigma, params: dict[str, Tensor], buffers: dict[str, Tensor], g: int
    ) -> None:
        """Run the vmapped log σ once on copies (module, parameters, buffers) and zeros."""
        probe = copy.deepcopy(module)
        x = self.data.split("val")[:2]
        j = self.members[0].model.latent_dim
        with torch.no_grad():
            z = torch.zeros((self.k, x.shape[0], j), device=self.device, dtype=x.dtype)
            x_mean, feats = self._decode({n: p.detach() for n, p in self.params.items()}, z)
            vmap(
                lambda p, b, *a: functional_call(probe, (p, b), a),
                in_dims=(0, 0, None, 0, 0, 0, 0, 0),
            )(
                {n: v.detach().clone() for n, v in params.items()},
                {n: v.clone() for n, v in buffers.items()},
                x,
                z[:g],
                z[:g],
                z[:g],
                x_mean[:g],
                feats[:g],
            )

    def _sigma_params(self) -> list[tuple[list[Tensor], float | None]]:
        """σ parameters by learning rate: a vmapped group's stacked tensors at the lr its
        members share (same σ options), a looped member's own groups as they are."""
        out: list[tuple[list[Tensor], float | None]] = []
        for g in self.groups:
            if g.call is None:
                out += [
                    (list(ps), lr)
                    for k in g.members
                    for ps, lr in self.members[k].policy.sigma_parameters()
                ]
                continue
            lead = self.members[g.members[0]].policy
            names = {id(p): n for n, p in lead.named_parameters()}
            for ps, lr in lead.sigma_parameters():
                out.append(([g.params[f"policy.{names[id(p)]}"] for p in ps], lr))
        return out

    # ------------------------------------------------------------------ training
    def _noise(self, mu: Tensor) -> Tensor:
        """Member k's ε from its own stream, exactly as ``randn_like`` in its unpacked run."""
        eps = []
        for k in range(self.k):
            self.gens[k].set_state(self.rngs[k])
            eps.append(torch.randn(mu.shape[1:], generator=self.gens[k], device=mu.device))
            self.rngs[k] = self.gens[k].get_state()
        return torch.stack(eps)

    def _step(self, x: Tensor) -> Tensor:
        mu, logvar = self._encode(self.params, x)
        z = mu + self._noise(mu) * torch.exp(0.5 * logvar)
        x_mean, feats = self._decode(self.params, z)
        outs = (mu, logvar, z, x_mean, feats)
        parts = []
        for g in self.groups:  # log σ per σ group, [K, B, *shape] in member order
            if g.call is not None:
                sel = outs if len(g.members) == self.k else tuple(t[g.index] for t in outs)
                parts.append(g.call(g.params, g.buffers, x, *sel))
            else:
                parts += [self.log_sigmas[k](x, *(t[k] for t in outs))[None] for k in g.members]
        ls = parts[0] if len(parts) == 1 else torch.cat(parts)
        if self.ls_order is not None:
            ls = ls[self.ls_order]
        total = x.new_zeros(())
        sums: list[Tensor] = []
        order: list[int] = []
        for ks, idx, call in self.loss_groups:
            if len(ks) == 1:
                k = ks[0]
                loss, s = call(x, self.betas[k], ls[k], *(t[k] for t in outs))
                total, s = total + loss, s[None]
            else:
                sel = (ls, *outs) if len(ks) == self.k else tuple(t[idx] for t in (ls, *outs))
                losses, s = call(x, self.betas if len(ks) == self.k else self.betas[idx], *sel)
                total = total + losses.sum()
            sums.append(s)
            order += ks
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        clip = self.members[0].cfg.train.grad_clip
        if clip is not None:
            self._clip_per_member(clip)
        self.opt.step()
        out = sums[0] if len(sums) == 1 else torch.cat(sums)
        return out if order == list(range(self.k)) else out[torch.tensor(order).argsort()]

    def _clip_per_member(self, max_norm: float) -> None:
        """Each member's global grad norm clipped separately, as its own run would."""
        sq = torch.zeros(self.k, device=self.device, dtype=torch.float64)
        stacked = list(self.params.values())
        for t in stacked:
            if t.grad is not None:
                sq += t.grad.reshape(self.k, -1).double().pow(2).sum(1)
        for g in self.groups:
            if g.call is not None:
                for t in g.params.values():
                    if t.grad is not None:
                        sq.index_add_(
                            0, g.index, t.grad.reshape(len(g.members), -1).double().pow(2).sum(1)
                        )
            else:
                for k in g.members:
                    for p in self.members[k].policy.parameters():
                        if p.grad is not None:
                            sq[k] += p.grad.double().pow(2).sum()
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0).float()
        for t in stacked:
            if t.grad is not None:
                t.grad.mul_(coef.reshape(-1, *([1] * (t.dim() - 1))))
        for g in self.groups:
            if g.call is not None:
                c = coef[g.index]
                for t in g.params.values():
                    if t.grad is not None:
                        t.grad.mul_(c.reshape(-1, *([1] * (t.dim() - 1))))
            else:
                for k in g.members:
                    for p in self.members[k].policy.parameters():
                        if p.grad is not None:
                            p.grad.mul_(coef[k])

    def _cuda(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []

    def active(self) -> list[int]:
        return [k for k in range(self.k) if self.status[k] is None]

    def train_epoch(self) -> list[dict[str, float] | None]:
        """One epoch for every member; per member its training metrics, None if diverged."""
        for m in self.members:
            m.model.train()
            m.policy.train()
            m.policy.start_epoch(self.epoch)
        acc = torch.zeros((self.k, len(SUM_KEYS)), dtype=torch.float64, device=self.device)
        bs = self.members[0].cfg.train.batch_size
        for x in self.data.train_batches(self.epoch, bs):
            acc += self._step(x).double()
        rows = acc.tolist()  # one host sync per epoch
        out: list[dict[str, float] | None] = []
        for k, m in enumerate(self.members):
            sums = dict(zip(SUM_KEYS, rows[k], strict=True))
            finite = all(map(_isfinite, sums.values()))
            if not finite or not all(bool(torch.isfinite(p).all()) for p in m.model.parameters()):
                out.append(None)
                continue
            m.policy.end_epoch(self.epoch)
            out.append(summarise(sums, self.data.dim, self.data.train_bin_width))
        return out

    # ------------------------------------------------------------------ checkpoints
    def save(self) -> Path:
        """Every active member's ordinary checkpoint under ``<ckpt>/m<k>`` (tensors cloned:
        a view would drag the whole stacked storage into each member's file)."""
        from rdlab.train.checkpoint import save_checkpoint

        for k in self.active():
            m = self.members[k]
            self._sync_member_opt(k)
            st = m.state()
            st["model"] = {n: t.clone() for n, t in st["model"].items()}
            st["policy"] = {n: t.clone() for n, t in st["policy"].items()}
            if self.device.type == "cuda":
                st["rng_cuda"] = [self.rngs[k]]
            else:
                st["rng_cpu"] = self.rngs[k]
            save_checkpoint(m.ckpt_dir, st)
        return self.ckpt_dir

    def _member_params(self, k: int) -> list[tuple[Tensor, Tensor, int]]:
        """(member k's parameter, the optimiser's tensor holding it, its row) in the
        member's own optimiser order (model, then policy)."""
        m = self.members[k]
        out: list[tuple[Tensor, Tensor, int]] = [
            (p, self.params[n], k) for n, p in m.model.named_parameters()
        ]
        for g in self.groups:
            if k not in g.members:
                continue
            if g.call is not None:
                row = g.members.index(k)
                for n, p in m.policy.named_parameters():
                    out.append((p, g.params[f"policy.{n}"], row))
            else:
                out += [(p, p, -1) for p in m.policy.parameters()]
        return out

    def _sync_member_opt(self, k: int) -> None:
        m = self.members[k]
        for p, owner, row in self._member_params(k):
            st = self.opt.state.get(owner)
            if not st:
                continue
            m.opt.state[p] = {
                name: (v.clone() if name == "step" or row < 0 else v[row].clone())
                for name, v in st.items()
            }

    def _load_member_opt(self, k: int) -> None:
        m = self.members[k]
        for p, owner, row in self._member_params(k):
            src = m.opt.state.get(p)
            if not src:
                continue
            if row < 0:
                self.opt.state[owner] = {n: v.clone() for n, v in src.items()}
                continue
            dst = self.opt.state.setdefault(owner, {})
            for name, v in src.items():
                if name == "step":
                    dst[name] = v.clone().to(device=owner.device, dtype=torch.float32)
                else:
                    dst.setdefault(name, torch.zeros_like(owner.detach()))
                    dst[name][row].copy_(v)

    def try_resume(self, source: Path | None = None) -> bool:
        """Restore every member from ``<source or ckpt>/m<k>``; all or none."""
        from rdlab.train.checkpoint import has_checkpoint

        src = Path(source or self.ckpt_dir)
        if not all(has_checkpoint(src / f"m{k}") for k in range(self.k)):
            return False
        for k, m in enumerate(self.members):
            m.try_resume(src / f"m{k}")  # copies into the views, i.e. the stacked tensors
            self.rngs[k] = _get_rng(self.device)
            self._load_member_opt(k)
        epochs = {m.epoch for m in self.members}
        if len(epochs) != 1:
            raise SpecError(str(src), f"members checkpointed at different epochs {epochs}")
        self.epoch = epochs.pop()
        self.wall_s = self.members[0].wall_s
        return True

    # ------------------------------------------------------------------ the loop
    def run(self, resume: bool = True, resume_from: Path | None = None) -> list[TrialResult]:
        if resume:
            self.try_resume(resume_from)
        for m in self.members:
            for cb in m.callbacks:
                _call(cb, "on_start", m)
        saved_at = self.wall_s  # training wall time at the last checkpoint (or the start)
        while self.epoch < self.epochs and self.active():
            t0 = time.perf_counter()
            train_m = self.train_epoch()
            vals: dict[int, dict[str, float]] = {}
            for k in self.active():
                val = self.members[k].evaluate("val") if train_m[k] is not None else None
                if val is None or not all(map(_isfinite, val.values())):
                    self.status[k] = STATUS_DIVERGED
                    self.diverged_at[k] = self.epoch + 1
                else:
                    vals[k] = val
            self.epoch += 1
            self.wall_s += time.perf_counter() - t0
            reports: list[EpochReport | None] = [None] * self.k
            for k, val in vals.items():
                reports[k] = self._member_epoch(k, train_m[k] or {}, val)
            due = checkpoint_due(self.members[0].cfg.train, self.epoch, self.wall_s - saved_at)
            ckpt = self.save() if vals and due else None
            if ckpt is not None:
                saved_at = self.wall_s
            for k, r in enumerate(reports):
                if r is not None:
                    r.checkpoint_dir = None if ckpt is None else ckpt / f"m{k}"
                    for cb in self.members[k].callbacks:
                        _call(cb, "on_epoch_end", self.members[k], r)
            for cb in self.callbacks:
                _call(cb, "on_epoch_end", self, self.epoch, reports, ckpt)
        results = []
        for k, m in enumerate(self.members):
            with torch.random.fork_rng(devices=self._cuda()):
                _set_rng(self.device, self.rngs[k])  # what the unpacked run's finish sees
                res = m.finish(self.status[k] or STATUS_OK, self.diverged_at[k])
            for cb in m.callbacks:
                _call(cb, "on_end", m, res)
            results.append(res)
        for cb in self.callbacks:
            _call(cb, "on_end", self, results)
        return results

    def _member_epoch(
        self, k: int, train_m: dict[str, float], val: dict[str, float]
    ) -> EpochReport:
        m = self.members[k]
        m.epoch = self.epoch
        m.wall_s = self.wall_s  # a member lasts as long as its pack
        metrics = {
            "epoch": float(self.epoch),
            **_prefixed("train", train_m),
            **_prefixed("val", val),
            **{f"policy/{n}": v for n, v in m.policy.describe().items()},
        }
        m.history.append(metrics)
        m.last_finite = metrics
        for cb in m.callbacks:
            _call(cb, "on_epoch_metrics", m, self.epoch, metrics)
        return EpochReport(self.epoch, metrics, None)


def _get_rng(device: torch.device) -> Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng(device: torch.device, state: Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def _fused(device: torch.device) -> dict[str, Any]:
    """Fused Adam (one kernel over all tensors) where this torch has it for the device."""
    try:
        probe = [torch.zeros(1, device=device, requires_grad=True)]
        torch.optim.Adam(probe, fused=True)
    except (RuntimeError, ValueError):
        return {}
    return {"fused": True}
