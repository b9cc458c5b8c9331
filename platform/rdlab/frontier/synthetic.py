"""Synthetic RD points with a known shape, for tests, the benchmark and report previews.

Each σ policy p gets a distortion curve per dimension v(R) = a_p·exp(−R / k) + b_p (so the
policies' frontiers cross), trials sample β log-uniformly, and the reported metrics follow
DESIGN §2 exactly: mse = D·v, nll_opt = D/2·(log 2πv + 1), elbo = −(nll + R).
Nothing here is a model result; it only has the right columns, units and structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

POLICIES = ("fixed", "learned_scalar", "optimal_global", "optimal_sample")
_SHAPE = {  # (a_p, b_p): start and floor of the per-dimension error
    "fixed": (0.06, 0.010),
    "learned_scalar": (0.05, 0.012),
    "optimal_global": (0.07, 0.006),
    "optimal_sample": (0.04, 0.015),
}
DIM = 64  # digits: 8×8


def _params(policy: np.ndarray, beta: np.ndarray, seed: np.ndarray, kl_g: np.ndarray) -> list[str]:
    return [
        f'{{"objective.beta": {b!r}, "objective.sigma.policy": "{p}", '
        f'"objective.mixture.kl_g": {g!r}, "train.lr": 0.001, "train.seed": {s}}}'
        for p, b, s, g in zip(
            policy.tolist(), beta.tolist(), seed.tolist(), kl_g.tolist(), strict=True
        )
    ]


def synthetic_rd_points(
    n_trials: int,
    *,
    policies: Sequence[str] = POLICIES,
    seeds: int = 1,
    epochs: int = 0,
    split: str = "val",
    stopped_early: float = 0.0,
    rng_seed: int = 0,
    params: bool = True,
) -> pd.DataFrame:
    """``n_trials`` final rows (plus ``epochs`` per-epoch rows each); trials i·seeds…+seeds−1
    are the repeated seeds of one configuration."""
    rng = np.random.default_rng(rng_seed)
    config = np.arange(n_trials) // seeds
    n_configs = int(config[-1]) + 1 if n_trials else 0
    which = (np.arange(n_configs) % len(policies))[config]  # policy index per trial
    pol = np.asarray(policies, dtype=object)[which]
    a, b = np.array([_SHAPE.get(p, (0.05, 0.01)) for p in policies])[which].T
    beta = np.exp(rng.uniform(np.log(0.01), np.log(10.0), n_configs))[config]
    kl_g = rng.choice([0.0, 0.1, 1.0], n_configs)[config]
    rate = 4.0 * np.log1p(1.0 / beta) * rng.lognormal(0.0, 0.05, n_trials)
    v = a * np.exp(-rate / 6.0) + b * rng.lognormal(0.0, 0.03, n_trials)
    nll_opt = DIM / 2 * (np.log(2 * np.pi * v) + 1)
    nll = nll_opt + np.where(pol == "fixed", 8.0, 1.0) * rng.random(n_trials)
    status = np.where(rng.random(n_trials) < stopped_early, "stopped_early", "ok")
    seed = np.arange(n_trials) % seeds
    frame = pd.DataFrame(
        {
            "study": "synthetic",
            "trial_id": [f"t{i:07d}" for i in range(n_trials)],
            "mlflow_run_id": [f"{x:032x}" for x in rng.integers(0, 2**62, n_trials)],
            "status": status,
            "dataset": "digits",
            "model": "mlp_resnet",
            "sigma_policy": pol.astype(str),
            "beta": beta,
            "sigma_value": np.where(pol == "fixed", 0.1, np.nan),
            "kl_g": kl_g,
            "kl_i": 0.0,
            "l1": 0.0,
            "adversarial": 0.0,
            "latent_dim": 8,
            "seed": seed,
            "split": split,
            "rate": rate,
            "mse": DIM * v,
            "nll": nll,
            "nll_opt": nll_opt,
            "elbo": -(nll + rate),
            "log_sigma_x": 0.5 * np.log(v),
            "wall_s": rng.uniform(5, 50, n_trials),
            "params": _params(pol, beta, seed, kl_g) if params else None,
            "artifacts": "[]",
        }
    )
    frame["epoch"] = pd.array([None] * n_trials, dtype="Int64")
    return pd.concat([frame, _epoch_rows(frame, epochs)], ignore_index=True) if epochs else frame


def _epoch_rows(final: pd.DataFrame, epochs: int) -> pd.DataFrame:
    # σ starts at 1 (log σ = 0) and decays towards the trial's final value.
    reps = final.loc[final.index.repeat(epochs)].reset_index(drop=True)
    epoch = np.tile(np.arange(1, epochs + 1), len(final))
    decay = np.exp(-epoch / max(epochs / 4, 1.0))
    reps["epoch"] = pd.array(epoch, dtype="Int64")
    reps["log_sigma_x"] = reps["log_sigma_x"].to_numpy() * (1 - decay)
    reps["rate"] = reps["rate"].to_numpy() * (1 - 0.5 * decay)
    reps["status"] = "ok"
    return reps
