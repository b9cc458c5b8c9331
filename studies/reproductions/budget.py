"""What each reproduction's trials cost and what they were evaluated on, read back from the
RD rows (every row's ``params`` holds its trial's resolved config): optimisation steps per
trial (epochs × batches per epoch), seeds, and the sample sizes behind the compared numbers
(the test split, the IWAE bound, the Fréchet sets). The report states these in each section.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class TrialBudget:
    steps: int
    epochs: int
    batches_per_epoch: int
    seed: int
    n_test: int  # examples of the test split (fresh points for generated data)
    iwae_k: int
    iwae_n: int  # examples the IWAE bound averages over (0: not evaluated)
    fd_samples: int  # generated examples per Fréchet set (0: no Fréchet distance)
    fd_reference: str
    fd_reference_n: int
    fd_bootstrap: int
    generated: bool  # fresh samples every batch (and a fresh fixed test sample)


@lru_cache(maxsize=64)
def _sizes(dataset_json: str) -> tuple[int, bool, dict[str, int]]:
    """(batches per epoch for generated data, else training examples; generated?; the
    split sizes)."""
    from rdlab.config import DatasetConfig
    from rdlab.data import build_dataset
    from rdlab.data.base import GeneratedSource

    data = build_dataset(DatasetConfig.model_validate(json.loads(dataset_json)))
    if isinstance(data, GeneratedSource):
        n = int(data.n_eval)
        return int(data.batches_per_epoch), True, {"train": n, "val": n, "test": n}
    sizes = {s: int(data.split(s).shape[0]) for s in ("train", "val", "test")}
    return sizes["train"], False, sizes


def _nest(flat: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}


def trial_budget(params: str) -> TrialBudget:
    """The budget of one trial from its ``params`` JSON (the flattened resolved config)."""
    p = json.loads(params)
    dataset = {k: v for k, v in _nest(p, "dataset.").items() if "." not in k}
    n, generated, sizes = _sizes(json.dumps(dataset, sort_keys=True))
    batch = int(p.get("train.batch_size", 128))
    per_epoch = n if generated else math.ceil(n / batch)
    epochs = int(p.get("train.epochs", 1))
    frechet = bool(p.get("eval.frechet", True))
    ref = str(p.get("eval.fd_reference", "split"))
    ref_n = sizes.get(ref, sizes["test"]) if ref != "split" else sizes["test"]
    k = int(p.get("eval.iwae_k", 0))
    return TrialBudget(
        steps=epochs * per_epoch,
        epochs=epochs,
        batches_per_epoch=per_epoch,
        seed=int(p.get("train.seed", 0)),
        n_test=sizes["test"],
        iwae_k=k,
        iwae_n=min(int(p.get("eval.iwae_examples", 512)), sizes["test"]) if k else 0,
        fd_samples=(int(p.get("eval.fd_samples") or ref_n) if frechet else 0),
        fd_reference=ref if ref != "split" else "test",
        fd_reference_n=ref_n,
        fd_bootstrap=int(p.get("eval.fd_bootstrap", 0)) if frechet else 0,
        generated=generated,
    )


def _counted(values: list[Any], unit: str = "") -> str:
    """``10,000 (40 trials), 20,000 (30 trials)``, or one value when all agree."""
    counts = Counter(values)
    if len(counts) == 1:
        return f"{_fmt(values[0])}{unit}"
    return ", ".join(f"{_fmt(v)}{unit} ({c} trials)" for v, c in sorted(counts.items()))


def _fmt(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def describe(points: pd.DataFrame, selected: bool = False) -> list[str]:
    """Lines for a report section, one per dataset: steps, seeds, evaluation sizes, and
    with ``selected`` (trials evaluated at their best validation epoch, selection.py) the
    steps the evaluated weights come from."""
    from studies.reproductions.selection import selected_steps

    if points.empty or "params" not in points.columns:
        return []
    final = points[points["epoch"].isna()].drop_duplicates("trial_id")
    lines = []
    for ds, rows in final.groupby("dataset", sort=True):
        budgets = [trial_budget(p) for p in rows["params"]]
        b0 = budgets[0]
        seeds = sorted({b.seed for b in budgets})
        parts = [
            f"steps per trial: {_counted([b.steps for b in budgets])} "
            f"(epochs × {_counted([b.batches_per_epoch for b in budgets])} batches)",
            f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})",
            f"ELBO and rate on the test split: {b0.n_test:,} "
            + ("fresh points" if b0.generated else "examples (the whole split)"),
        ]
        if any(b.iwae_n for b in budgets):
            parts.append(f"IWAE: K = {b0.iwae_k:,} on {b0.iwae_n:,} test examples")
        if any(b.fd_samples for b in budgets):
            boot = f", {b0.fd_bootstrap} bootstrap resamples" if b0.fd_bootstrap else ""
            parts.append(
                f"Fréchet: {b0.fd_samples:,} generated vs {b0.fd_reference_n:,} "
                f"{b0.fd_reference} examples{boot}"
            )
        if selected:
            per_epoch = {
                str(t): b.batches_per_epoch for t, b in zip(rows["trial_id"], budgets, strict=True)
            }
            steps = selected_steps(points[points["dataset"] == ds], per_epoch)
            if len(steps):
                parts.append(
                    f"evaluated at the best validation epoch: step {steps.median():,.0f} "
                    f"(median; range {steps.min():,.0f}–{steps.max():,.0f}) of {b0.steps:,}"
                )
        lines.append(f"{ds} — " + "; ".join(parts))
    return lines
