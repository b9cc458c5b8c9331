"""Small helpers of the evaluation: a seeded, forked RNG, eval mode, one BLAS thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the global RNG for a block, restoring it after: evaluation never moves the
    training stream (a resumed trial stays identical), and its numbers repeat."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """``.eval()`` and ``no_grad`` for a block; each module's training flag restored after."""
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(modules, flags, strict=True):
            m.train(flag)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """NumPy's BLAS on one thread for a block (torch's own threads untouched).

    The matrices here (GMM EM on a few thousand 8-D codes, 64×64 eigendecompositions)
    are tiny: a second OpenBLAS thread only spins, and on a loaded 2-core machine a GMM
    fit went from 0.1 s to 1–4 s with it.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
