"""The reproductions: which specs each one runs (in order), which probes and which check.

A phase may depend on an earlier phase's results (004's F*-VAE takes LS-VAE's final σ):
its ``derive`` gets the RD points measured so far and returns the spec to run. An
``optional`` phase whose data files are missing (MNIST on this machine) is skipped, and
the report says so.
"""

from __future__ import annotations

import copy
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from studies.reproductions.checks import toy_table1

HERE = Path(__file__).resolve().parent
Derive = Callable[[pd.DataFrame, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Phase:
    spec: str  # file name under studies/reproductions/
    derive: Derive | None = None
    optional: bool = False  # skipped (and reported) when its dataset's files are missing
    pack: int | None = None  # trials per process (None: run_all's --pack)

    @property
    def path(self) -> Path:
        return HERE / self.spec


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: str  # the seed paper and the result reproduced
    phases: tuple[Phase, ...]
    probes: tuple[str, ...] = ()
    default: bool = True  # part of `make reproduce`
    gpu_specs: tuple[str, ...] = field(default_factory=tuple)  # under gpu/, not run here

    def check(self) -> ModuleType:
        return importlib.import_module(f"studies.reproductions.checks.{self.name}")


def with_fstar_sigma(points: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """004's F*-VAE: σ fixed at LS-VAE's final σ as measured in the first phase."""
    sigma = toy_table1.fstar_sigma(points)
    out = copy.deepcopy(spec)
    if math.isfinite(sigma):
        out["objective"]["sigma"]["value"] = float(f"{sigma:.6g}")
    return out


REPRODUCTIONS: tuple[Reproduction, ...] = (
    Reproduction(
        "toy_table1",
        "004 Berger & Sebag, Table 1",
        # Unpacked: with three σ policies in one pack the batched step falls back to a loop
        # per member, slower than separate processes once the training is long (measured).
        (
            Phase("toy_table1.yaml", pack=1),
            Phase("toy_table1_fstar.yaml", derive=with_fstar_sigma, pack=1),
        ),
    ),
    Reproduction(
        "hypersphere",
        "004 Berger & Sebag, Theorem 1",
        (Phase("hypersphere.yaml"),),
        probes=("radius",),
    ),
    Reproduction(
        "bsvae",
        "000 Kim & Lee (BS-VAE), Fig. 3",
        (Phase("bsvae_digits.yaml"), Phase("bsvae_mnist.yaml", optional=True)),
        gpu_specs=("bsvae_mnist.yaml", "bsvae_celeba64.yaml"),
    ),
    Reproduction(
        "lin_sigma",
        "003 Lin et al., Fig. 1 and Tables 2–3",
        (Phase("lin_sigma.yaml"),),
    ),
    Reproduction(
        "mixture",
        "002 Rivera, §3.2–3.3",
        (Phase("mixture.yaml"),),
        probes=("posterior",),
        gpu_specs=("mixture_celebahq256.yaml",),
    ),
    Reproduction(
        "multirate",
        "001 slides / Bae et al. 2023, multi-rate VAE",
        (Phase("multirate.yaml"),),
        default=False,
    ),
)
BY_NAME = {r.name: r for r in REPRODUCTIONS}
