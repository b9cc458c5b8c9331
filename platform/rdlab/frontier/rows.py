"""RD-point rows (DESIGN §6): one row per trial and evaluated split at the end of training,
plus per-epoch rows with ``epoch`` set. Pure: a trial's facts in, dicts out.

A β-conditioned trial (the multi-rate VAE) is evaluated at several β: its final metrics
hold one entry per (split, β) under :func:`sweep_key`, and it gets one final row per
(split, β) with ``beta_eval`` set instead of the one plain row per split.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rdlab.config_io import flatten

METRIC_COLUMNS = (
    "rate",
    "mse",
    "nll",
    "nll_opt",
    "elbo",
    "bpd",
    "iwae",
    "active_units",
    "log_sigma_x",
    "sigma_gap",  # log σ_learned − log σ*, σ*² = mse/D on the split; null without a learned σ
    "agg_kl",
    "fd_prior",
    "fd_gmm",
    "fd_recon",
    # 95 % bootstrap intervals of the three (eval.fd_bootstrap > 0; null otherwise)
    "fd_prior_lo",
    "fd_prior_hi",
    "fd_gmm_lo",
    "fd_gmm_hi",
    "fd_recon_lo",
    "fd_recon_hi",
)


SWEEP_SEP = "/beta_"  # MLflow metric names allow letters, digits, _ - . / : and spaces


def sweep_key(split: str, beta: float) -> str:
    """Key of one β of a multi-rate trial's final metrics: ``val/beta_0.01``."""
    return f"{split}{SWEEP_SEP}{beta!r}"


def sweep_entries(final: dict[str, dict[str, float]], split: str) -> list[tuple[float, Any]]:
    """(β, metrics) of ``split``'s sweep entries in ``final``, sorted by β."""
    prefix = split + SWEEP_SEP
    found = [(float(k[len(prefix) :]), m) for k, m in final.items() if k.startswith(prefix)]
    return sorted(found, key=lambda e: e[0])


def config_columns(cfg: dict[str, Any]) -> dict[str, Any]:
    """The identifying columns of a trial, from its YAML-shaped resolved config."""
    obj = cfg.get("objective", {})
    sig = obj.get("sigma", {})
    mix = obj.get("mixture", {})
    return {
        "dataset": cfg.get("dataset", {}).get("name"),
        "model": cfg.get("model", {}).get("name"),
        "sigma_policy": sig.get("policy"),
        "beta": float(obj.get("beta", math.nan)),
        "sigma_value": float(sig["value"])
        if sig.get("policy") == "fixed" and "value" in sig
        else (1.0 if sig.get("policy") == "fixed" else None),
        "kl_g": float(mix.get("kl_g", 0.0)),
        "kl_i": float(mix.get("kl_i", 0.0)),
        "l1": float(obj.get("l1", 0.0)),
        "adversarial": float(obj.get("adversarial", {}).get("weight", 0.0)),
        "latent_dim": int(cfg.get("model", {}).get("latent_dim", 0)),
        "seed": int(cfg.get("train", {}).get("seed", 0)),
        "params": json.dumps(flatten(cfg), sort_keys=True, default=str),
    }


def _metric_values(m: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in METRIC_COLUMNS:
        v = m.get(k)
        out[k] = float(v) if isinstance(v, (int, float)) else None
    return out


def trial_rows(
    *,
    study: str,
    trial_id: str,
    run_id: str | None,
    status: str,
    cfg: dict[str, Any],
    history: list[dict[str, float]],
    final: dict[str, dict[str, float]],
    splits: list[str],
    wall_s: float,
    artifacts: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """All rows of one trial. Splits missing from ``final`` (failed trials) get null
    metrics, so every trial has exactly one final row per evaluated split. ``extra``:
    per-trial columns such as ``code_version`` and ``frechet_classifier``."""
    base = {
        "study": study,
        "trial_id": trial_id,
        "mlflow_run_id": run_id or "",
        **config_columns(cfg),
        **(extra or {}),
    }
    rows: list[dict[str, Any]] = []
    for h in history:
        for split in ("train", "val"):
            m = {k.split("/", 1)[1]: v for k, v in h.items() if k.startswith(split + "/")}
            if m:
                rows.append(
                    {
                        **base,
                        "status": status,
                        "split": split,
                        "epoch": int(h["epoch"]),
                        "wall_s": None,
                        "artifacts": None,
                        **_metric_values(m),
                    }
                )
    for split in splits:
        final_row = {
            **base,
            "status": status,
            "split": split,
            "epoch": None,
            "wall_s": float(wall_s),
            "artifacts": json.dumps(list(artifacts or [])),
        }
        sweep = sweep_entries(final, split)
        if sweep:
            rows += [{**final_row, "beta_eval": b, **_metric_values(m)} for b, m in sweep]
        else:
            rows.append({**final_row, **_metric_values(final.get(split, {}))})
    return rows
