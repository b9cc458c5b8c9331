"""Synthetic RD-point tables for the reproduction checks: rows shaped like rd_points.parquet
(final rows, ``epoch`` null) with only the columns a check reads set."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pandas as pd

_ids = itertools.count()


def row(**kw: Any) -> dict[str, Any]:
    """One final RD row; ``params`` may be given as a dict (stored as JSON)."""
    params = kw.pop("params", {})
    base: dict[str, Any] = {
        "study": "s",
        "trial_id": f"t{next(_ids):05d}",
        "status": "ok",
        "split": "test",
        "epoch": None,
        "dataset": "digits",
        "model": "mlp_resnet",
        "sigma_policy": "fixed",
        "beta": 1.0,
        "sigma_value": math.nan,
        "kl_g": 0.0,
        "kl_i": 0.0,
        "l1": 0.0,
        "adversarial": 0.0,
        "seed": 0,
        "beta_eval": math.nan,
        "wall_s": 10.0,
    }
    base.update(kw)
    base["params"] = json.dumps(params, sort_keys=True)
    return base


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    out["epoch"] = out["epoch"].astype("Float64")
    return out


def seeds(make: Any, n: int = 3, jitter: float = 0.01) -> list[dict[str, Any]]:
    """``make(seed, offset)`` for n seeds, with a small seed-dependent offset."""
    return [make(s, (s - (n - 1) / 2) * jitter) for s in range(n)]
