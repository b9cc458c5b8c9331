"""Where a trial computes and in which precision (issue 13 §7).

A trial touches CUDA only if it reserved a GPU: under a scheduler (Ray Tune) the device
comes from the GPUs it was assigned, never from what the node happens to have, so a trial
that asked for ``gpu: 0`` on a GPU node runs on the CPU instead of sharing cuda:0 with a
trial that did reserve it. A fractional reservation caps the trial's CUDA memory to its
fraction, so trials packed onto one device cannot starve each other.

``train.precision``: ``fp32``; ``bf16`` (autocast, no loss scaling: bf16 has fp32's range);
``fp16`` (autocast + a GradScaler, CUDA only — CPU autocast in fp16 is slow and underflows
the small σ terms, so it is refused with a clear message). On CUDA, fp32 matmuls use TF32
(Ampere and newer), as PyTorch's own guidance recommends for training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from rdlab.errors import SpecError

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Placement:
    """What a scheduler reserved for a trial: GPU ids (as seen in CUDA_VISIBLE_DEVICES
    after the scheduler set it) and the fraction of each it may use."""

    gpu_ids: tuple[str, ...] = ()
    gpu_fraction: float = 1.0


def pick_device(requested: str, placement: Placement | None = None) -> torch.device:
    """``requested`` is ``train.device`` (auto | cpu | cuda). ``placement`` None: no
    scheduler (``rdlab train``), any visible GPU may be used; else only reserved ones."""
    if placement is not None and not placement.gpu_ids:
        if requested == "cuda":
            raise SpecError(
                "train.device",
                "cuda requested but the trial reserved no GPU; set resources.gpu > 0",
            )
        return torch.device("cpu")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise SpecError("train.device", "cuda requested but no CUDA device is available")
    return torch.device(requested)


def configure_device(device: torch.device, placement: Placement | None) -> None:
    """Process-wide settings for a trial on ``device``: TF32 matmuls and, for a fractional
    GPU, the memory cap (a trial process owns its device's settings)."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if placement is not None and 0.0 < placement.gpu_fraction < 1.0:
        torch.cuda.set_per_process_memory_fraction(placement.gpu_fraction, device)


class Precision:
    """Autocast for the forward pass and loss, and the backward step (with a GradScaler in
    fp16). One object per optimiser."""

    def __init__(self, mode: str, device: torch.device) -> None:
        if mode not in PRECISIONS:
            raise SpecError("train.precision", f"unknown {mode!r}; allowed: {PRECISIONS}")
        if mode == "fp16" and device.type != "cuda":
            raise SpecError(
                "train.precision",
                f"fp16 needs a CUDA device, this trial runs on {device.type}; use bf16 or fp32",
            )
        self.mode = mode
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type) if mode == "fp16" else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.mode == "fp32":
            yield
            return
        with torch.autocast(self.device.type, dtype=_DTYPES[self.mode]):
            yield

    def step(
        self,
        loss: torch.Tensor,
        opt: torch.optim.Optimizer,
        clip: float | None,
        params: Iterable[torch.Tensor] | None = None,
        clip_fn: object = None,
    ) -> None:
        """zero_grad, backward, optional clip, step — scaled in fp16. ``clip_fn`` (a
        callable of the max norm) replaces the global-norm clip (the pack clips per member)."""
        opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(opt)  # clip true gradients, not scaled ones
        if clip is not None:
            if callable(clip_fn):
                clip_fn(clip)
            else:
                ps = list(params) if params is not None else _opt_params(opt)
                torch.nn.utils.clip_grad_norm_(ps, clip)
        if self.scaler is None:
            opt.step()
        else:
            self.scaler.step(opt)
            self.scaler.update()

    def state_dict(self) -> dict[str, object]:
        return {} if self.scaler is None else dict(self.scaler.state_dict())

    def load_state_dict(self, st: dict[str, object]) -> None:
        if self.scaler is not None and st:
            self.scaler.load_state_dict(st)


def _opt_params(opt: torch.optim.Optimizer) -> Sequence[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]
