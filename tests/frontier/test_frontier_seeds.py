"""Repeated seeds aggregate to mean ± std per configuration; the frontier uses the means."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from rdlab.frontier.seeds import aggregate_seeds, params_without_seeds, seed_frontier


def row(trial: str, beta: float, seed: int, rate: float, d: float, lr: float = 1e-3) -> dict:
    params = {"objective": {"beta": beta}, "train": {"seed": seed, "lr": lr}, "dataset.seed": 0}
    return {
        "study": "s",
        "trial_id": trial,
        "sigma_policy": "fixed",
        "beta": beta,
        "seed": seed,
        "split": "val",
        "rate": rate,
        "nll_opt": d,
        "params": json.dumps(params),
    }


def table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            row("t0", 1.0, 0, 2.0, 10.0),
            row("t1", 1.0, 1, 4.0, 12.0),
            row("t2", 1.0, 2, 3.0, 14.0),
            row("t3", 1.0, 0, 9.0, 9.0, lr=1e-2),  # different lr: a different configuration
            row("t4", 0.1, 0, 5.0, 5.0),
        ]
    )


def test_seed_keys_are_removed_at_any_depth() -> None:
    text = json.dumps({"train": {"seed": 3, "lr": 0.1}, "dataset.seed": 1, "seedling": 2})
    assert json.loads(params_without_seeds(text)) == {"train.lr": 0.1, "seedling": 2}
    assert params_without_seeds(None) == ""


def test_aggregate_mean_std_and_counts() -> None:
    agg = aggregate_seeds(table()).set_index("trial_ids")
    three = agg.loc["t0,t1,t2"]
    assert three["n_seeds"] == 3
    assert three["rate_mean"] == pytest.approx(3.0) and three["rate_std"] == pytest.approx(1.0)
    assert three["nll_opt_mean"] == pytest.approx(12.0)
    assert three["nll_opt_std"] == pytest.approx(2.0)
    assert agg.loc["t3", "n_seeds"] == 1 and math.isnan(agg.loc["t3", "rate_std"])
    assert len(agg) == 3


def test_frontier_on_the_means() -> None:
    front = seed_frontier(table(), "nll_opt")
    on = dict(zip(front["trial_ids"], front["on_frontier"], strict=True))
    # means: (3, 12) for t0–t2, (9, 9) for t3, (5, 5) for t4 → t4 dominates t3.
    assert on == {"t0,t1,t2": True, "t4": True, "t3": False}
    assert front["rate_mean"].tolist() == sorted(front["rate_mean"])
