"""Repeated seeds: aggregate each configuration to mean ± std, frontier on the means.

A configuration is every hyperparameter column (schema.CONFIG_COLUMNS) plus the full trial
config in ``params`` with every ``*seed`` key removed, so trials that differ only in their
seeds aggregate and trials that differ in anything else (lr, min_log_sigma…) do not.
``std`` uses ddof=1 and is NaN for a single seed: one run says nothing about the spread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rdlab.frontier.pareto import By, group_codes, pareto_mask
from rdlab.frontier.schema import CONFIG_COLUMNS


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def params_without_seeds(params: str | None) -> str:
    """Canonical JSON of a params string with every key whose last part ends in 'seed' removed."""
    if params is None or (isinstance(params, float) and pd.isna(params)):
        return ""
    flat = _flatten(json.loads(params))
    kept = {k: v for k, v in flat.items() if not k.rsplit(".", 1)[-1].endswith("seed")}
    return json.dumps(kept, sort_keys=True, default=str)


def config_key(points: pd.DataFrame) -> pd.Series:
    """A string per row identifying its configuration beyond CONFIG_COLUMNS, seeds excluded.

    Only rows that share all CONFIG_COLUMNS with another row can be repeated seeds, so only
    their ``params`` are parsed: a study of a million distinct trials parses nothing.
    """
    key = pd.Series("", index=points.index, dtype="str")
    if "params" not in points.columns:
        return key
    cols = [c for c in CONFIG_COLUMNS if c in points.columns]
    shared = points.duplicated(cols, keep=False).to_numpy() if cols else np.ones(len(points), bool)
    params = points.loc[shared, "params"]
    uniq = pd.Series(params.unique())
    mapping = dict(zip(uniq, uniq.map(params_without_seeds), strict=True))
    key.loc[shared] = params.map(mapping).astype("str")
    return key


def aggregate_seeds(
    points: pd.DataFrame, metrics: Sequence[str] = ("rate", "nll_opt")
) -> pd.DataFrame:
    """One row per configuration: config columns, n_seeds, ``<m>_mean``, ``<m>_std``, trial ids."""
    cols = [c for c in CONFIG_COLUMNS if c in points.columns]
    frame = points.assign(_config=config_key(points))
    grouped = frame.groupby([*cols, "_config"], dropna=False, sort=True)
    stats = grouped[list(metrics)].agg(["mean", "std"])
    stats.columns = [f"{m}_{s}" for m, s in stats.columns]
    stats["n_seeds"] = grouped.size()
    if "trial_id" in frame.columns:
        stats["trial_ids"] = _trial_ids(frame["trial_id"], grouped.ngroup().to_numpy(), stats)
    return stats.reset_index().drop(columns="_config")


def _trial_ids(trial_id: pd.Series, group: np.ndarray, stats: pd.DataFrame) -> np.ndarray:
    # Joining ids is a Python call per group: do it only for groups with several seeds, so a
    # million single-seed trials cost one vectorised `first`.
    out = trial_id.groupby(group).first().to_numpy(dtype=object)
    multi = stats["n_seeds"].to_numpy() > 1
    rows = multi[group]
    if rows.any():
        joined = trial_id[rows].groupby(group[rows]).agg(lambda s: ",".join(sorted(map(str, s))))
        out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def seed_frontier(points: pd.DataFrame, distortion: str = "nll_opt", by: By = None) -> pd.DataFrame:
    """Seed-aggregated configurations with ``on_frontier`` computed on the means."""
    agg = aggregate_seeds(points, ("rate", distortion))
    codes, _ = group_codes(agg, by)
    agg["on_frontier"] = pareto_mask(agg["rate_mean"], agg[f"{distortion}_mean"], codes)
    return agg.sort_values(["rate_mean", f"{distortion}_mean"], kind="stable", ignore_index=True)
