"""The packed engine (issue 8): K trials that share a model shape, trained as ONE batched
computation in one process, each still its own trial with its own metrics and checkpoint.

Small models (mlp_resnet on digits or toy data) spend most of a step on per-operation
overhead, not arithmetic. Packed, the K members' weights are stacked ([K, …] per parameter,
``torch.func.stack_module_state``) and the model runs once per step under ``torch.func.vmap``
— one batched matmul where there were K small ones. The loss is summed over members: each
member's parameters only enter its own loss, so each gets exactly its own gradient, and
Adam is elementwise, so one Adam over the stacked tensors is K independent Adams (same
learning rate; ``tests/perf`` checks it numerically).

What may differ between members: ``objective.*`` (β, σ policy and its options, mixture
weights, L1) and ``train.seed``; everything else must be equal (:func:`pack_key`). Members
this engine cannot vmap (a PatchGAN term, a β-conditioned model, models with buffers:
:func:`vmap_blocker`) train in the same loop on the plain engine instead
(:func:`rdlab.train.loop.make_engine`).

Each member's model parameters become views into the stacked tensors. A step: the model
under vmap; log σ per σ group (members with the same policy and options: one vmapped call
over their stacked policy parameters; policies whose Python control flow reads tensor
values, ``staged``, loop over members); then the composed loss
(:func:`rdlab.objectives.loss.compose`) in one vmapped call per group of members whose
objectives differ only in β and σ, with β a per-member tensor and each member's log σ
handed in. Each member draws its reparameterisation noise from its own stream
(``member.rng``), so it sees the same batches and noise as when run alone; the metrics
then agree with an unpacked run of the same seed up to float32 round-off of batched vs
unbatched kernels, amplified by training (tolerance: ``tests/perf/test_packed.py``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.modules.dropout import _DropoutNd

from rdlab.config import TrialConfig
from rdlab.model import ModelStack, VAEModel, VAEOutput
from rdlab.objectives.loss import compose
from rdlab.objectives.sigma.base import SigmaPolicy
from rdlab.train.device import Precision
from rdlab.train.engine import Engine
from rdlab.train.member import Member, validate_members
from rdlab.train.metrics import SUM_KEYS, finite_sums, params_finite, step_sums, summarise
from rdlab.train.optim import build_optimizer

PACKABLE_SECTIONS = ("objective",)
PACKABLE_PATHS = ("train.seed",)


def pack_key(cfg: TrialConfig) -> str:
    """Configs with equal keys can share a pack: all but ``objective.*`` and ``train.seed``."""
    d = cfg.to_dict()
    for section in PACKABLE_SECTIONS:
        d.pop(section, None)
    d["train"] = {k: v for k, v in d["train"].items() if f"train.{k}" not in PACKABLE_PATHS}
    return json.dumps(d, sort_keys=True, default=str)


def vmap_blocker(members: list[Member]) -> str | None:
    """Why these members cannot run as one vmapped computation, or None if they can."""
    for m in members:
        if m.disc is not None:
            return "the PatchGAN term alternates a discriminator step"
        if m.model.beta_conditioned:
            return f"model {m.cfg.model.name!r} draws its β per batch"
        if any(True for _ in m.model.buffers()):
            return f"model {m.cfg.model.name!r} has buffers (they do not batch under vmap)"
        if type(m.policy).nll is not SigmaPolicy.nll:
            return f"σ policy {m.cfg.objective.sigma.policy!r} overrides nll"
        if any(isinstance(d, _DropoutNd) and d.p > 0 for d in m.model.modules()):
            # vmapped, the masks would come from one global stream: a member's run would no
            # longer be its own run's, nor resume to it (the plain engine swaps each
            # member's stream in, as for its reparameterisation noise)
            return f"model {m.cfg.model.name!r} has dropout"
    return None


def sigma_key(cfg: TrialConfig) -> str:
    """Members with the same σ policy and options compute log σ in one vmapped call."""
    return json.dumps(cfg.to_dict()["objective"]["sigma"], sort_keys=True, default=str)


def _loss_key(cfg: TrialConfig) -> str:
    """Members whose objectives differ only in β and σ compose their loss in one call."""
    obj = cfg.to_dict()["objective"]
    obj.pop("beta")
    obj.pop("sigma")
    return json.dumps(obj, sort_keys=True, default=str)


class _Method(nn.Module):
    """Calls one method of a model, so ``functional_call`` can run ``encode``/``decode``."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.m = model
        self.method = method

    def forward(self, *args: Any) -> Any:
        return getattr(self.m, self.method)(*args)


def _functional(module: nn.Module) -> Callable[..., Any]:
    """``module`` called with parameters given as a dict (names as the wrapped model's)."""

    def call(p: dict[str, Tensor], *args: Any) -> Any:
        return functional_call(module, {f"m.{k}": v for k, v in p.items()}, args, tie_weights=False)

    return call


class _Vmapped(ModelStack):
    """The members' models as one: ``encode``/``decode`` under ``torch.func.vmap`` over the
    stacked parameters (any model without buffers)."""

    def __init__(self, models: list[VAEModel], params: dict[str, Tensor]) -> None:
        super().__init__(models)
        self.params = params
        base = copy.deepcopy(models[0]).to("meta")
        self._encode = vmap(_functional(_Method(base, "encode")), in_dims=(0, None))
        self._decode = vmap(_functional(_Method(base, "decode")), in_dims=(0, 0))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self._encode(self.params, x)
        return mu, logvar

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x_mean, feats = self._decode(self.params, z)
        return x_mean, feats


class _Rows(ModelStack):
    """Members ``ks`` of a stack: the whole stack runs and their rows are kept (a stopped
    member's rows cost a little arithmetic; copying the others' weights would cost more)."""

    def __init__(self, stack: ModelStack, ks: list[int]) -> None:
        super().__init__([stack.models[k] for k in ks])
        self.stack = stack
        self.idx = torch.tensor(ks, device=next(iter(stack.models[0].parameters())).device)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.stack.encode(x)
        return mu[self.idx], logvar[self.idx]

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        full = z.new_zeros((self.stack.k, *z.shape[1:]))
        full[self.idx] = z
        x_mean, feats = self.stack.decode(full)
        return x_mean[self.idx], feats[self.idx]


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
    """One member's composed loss (DESIGN §2) and its per-step sums, as a plain step's."""
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


class PackedEngine(Engine):
    """K members as one vmapped computation; see the module docstring."""

    def __init__(self, members: list[Member], grouped: bool = True) -> None:
        super().__init__(members)
        blocker = vmap_blocker(members)
        if blocker is not None:
            raise ValueError(f"not vmappable: {blocker}")
        lead = members[0]
        self.device = lead.device
        self.data = lead.data
        self.k = len(members)
        self.params, _ = _stack_into_views([m.model for m in members])
        self.gens = [torch.Generator(device=self.device) for _ in members]
        models = [m.model for m in members]
        # Grouped GEMMs where the model offers them (mlp_resnet: baddbmm per layer, faster
        # than vmap + functional_call, studies/benchmarks/bench_pack.py --profile), else vmap.
        stack = lead.model.grouped(self.params, models) if grouped else None
        self.model: ModelStack = stack if stack is not None else _Vmapped(models, self.params)
        self.groups = self._groups()
        self.loss_groups = self._loss_groups()
        self.betas = torch.tensor([m.cfg.objective.beta for m in members], device=self.device)
        self.opt = build_optimizer(
            self.params.values(), self._sigma_params(), lead.cfg.train.lr, **_fused(self.device)
        )
        self.precision = Precision(lead.cfg.train.precision, self.device)

    # ------------------------------------------------------------------ construction
    def _groups(self) -> list[_Group]:
        """σ groups: one vmapped log σ call per group of ≥ 2 members whose policy batches."""
        self.log_sigmas = [_LogSigma(m.policy) for m in self.members]
        by_key: dict[str, list[int]] = {}
        for k, m in enumerate(self.members):
            by_key.setdefault(sigma_key(m.cfg), []).append(k)
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
            x_mean, feats = self.model.decode(z)
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
        for k, m in enumerate(self.members):
            self.gens[k].set_state(m.rng)
            eps.append(torch.randn(mu.shape[1:], generator=self.gens[k], device=mu.device))
            m.rng = self.gens[k].get_state()
        return torch.stack(eps)

    def _step(self, x: Tensor) -> Tensor:
        with self.precision.autocast():
            total, sums = self._loss(x)
        clip = self.members[0].cfg.train.grad_clip
        self.precision.step(total, self.opt, clip, clip_fn=self._clip_per_member)
        return sums

    def _loss(self, x: Tensor) -> tuple[Tensor, Tensor]:
        o = self.model.forward(x, self._noise)
        outs = (o.mu_z, o.logvar_z, o.z, o.x_mean, o.features)
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
        out = sums[0] if len(sums) == 1 else torch.cat(sums)
        return total, out if order == list(range(self.k)) else out[torch.tensor(order).argsort()]

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

    def train_epoch(self, epoch: int) -> list[dict[str, float] | None]:
        for m in self.members:
            m.model.train()
            m.policy.train()
            m.policy.start_epoch(epoch)
        acc = torch.zeros((self.k, len(SUM_KEYS)), dtype=torch.float64, device=self.device)
        bs = self.members[0].cfg.train.batch_size
        for x in self.data.train_batches(epoch, bs):
            acc += self._step(x).double()
        rows = acc.tolist()  # one host sync per epoch
        out: list[dict[str, float] | None] = []
        for k, m in enumerate(self.members):
            sums = dict(zip(SUM_KEYS, rows[k], strict=True))
            if not m.active or not finite_sums(sums) or not params_finite(m.model):
                out.append(None)
                continue
            m.policy.end_epoch(epoch)
            out.append(summarise(sums, self.data.dim, self.data.train_bin_width))
        return out

    def stack(self, ks: list[int]) -> ModelStack:
        return self.model if ks == list(range(self.k)) else _Rows(self.model, ks)

    def validate(self, ks: list[int]) -> dict[int, dict[str, float]]:
        """One vmapped (or grouped) pass over the validation split for members ``ks``."""
        if not ks:
            return {}
        ms = [self.members[k] for k in ks]
        vals = validate_members(
            self.stack(ks), [m.policy for m in ms], [m.cfg for m in ms], self.data
        )
        return dict(zip(ks, vals, strict=True))

    # ------------------------------------------------------------------ state
    def _member_params(self, k: int) -> list[tuple[Tensor, Tensor, int]]:
        """(member k's parameter, the optimiser's tensor holding it, its row) in the order
        of a member's own optimiser (model, then policy)."""
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

    def _reference_opt(self, k: int) -> torch.optim.Optimizer:
        """An optimiser laid out as member k's own (no state): the shape of its checkpoint."""
        m = self.members[k]
        return build_optimizer(
            m.model.parameters(), m.policy.sigma_parameters(), m.cfg.train.lr, foreach=True
        )

    def state(self, k: int) -> dict[str, Any]:
        """Member k's checkpoint in a plain trial's format: its rows of the stacked tensors
        (cloned: a view would drag the whole stacked storage into its file) and its rows of
        Adam's moments, laid out as its own Adam's ``state_dict``, so it resumes unpacked
        as well as packed."""
        m = self.members[k]
        where = {id(p): (owner, row) for p, owner, row in self._member_params(k)}
        ref = self._reference_opt(k)
        for group in ref.param_groups:
            for p in group["params"]:
                owner, row = where[id(p)]
                st = self.opt.state.get(owner)
                if st:
                    ref.state[p] = {
                        name: (v.clone() if name == "step" or row < 0 else v[row].clone())
                        for name, v in st.items()
                    }
        out: dict[str, Any] = {
            "model": {n: t.clone() for n, t in m.model.state_dict().items()},
            "policy": {n: t.clone() for n, t in m.policy.state_dict().items()},
            "opt": ref.state_dict(),
            "scaler": self.precision.state_dict(),
        }
        if self.device.type == "cuda":
            out["rng_cpu"] = torch.get_rng_state()
            out["rng_cuda"] = [m.rng]
        else:
            out["rng_cpu"] = m.rng
        return out

    def load_state(self, k: int, st: dict[str, Any]) -> None:
        m = self.members[k]
        m.model.load_state_dict(st["model"])  # copies into the views: the stacked tensors
        m.policy.load_state_dict(st["policy"])
        m.rng = st["rng_cuda"][0] if self.device.type == "cuda" else st["rng_cpu"]
        self.precision.load_state_dict(st.get("scaler") or {})
        ref = self._reference_opt(k)
        ref.load_state_dict(st["opt"])
        where = {id(p): (owner, row) for p, owner, row in self._member_params(k)}
        for p, src in ref.state.items():
            owner, row = where[id(p)]
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


def _fused(device: torch.device) -> dict[str, Any]:
    """Fused Adam (one kernel over all tensors) where this torch has it for the device."""
    try:
        probe = [torch.zeros(1, device=device, requires_grad=True)]
        torch.optim.Adam(probe, fused=True)
    except (RuntimeError, ValueError):
        return {}
    return {"fused": True}
