"""Benchmark 6, time to frontier: how many trial-epochs a multi-objective Optuna search
(TPE as rdlab configures it, and NSGA-II) needs to reach 95% of the hypervolume of an
exhaustive grid over the same space, against the grid's own cost.

    python studies/benchmarks/bench_ttf.py [--betas 8] [--epochs 5] [--seeds 20] [--json OUT]

The space is the embedded default study's: β log-uniform on [0.01, 10] × σ policy ∈
{fixed (σ² = ½), learned_scalar, optimal_global, optimal_sample}, objectives (val rate,
val nll_opt), both minimised. The grid is ``--betas`` log-spaced β × 4 policies; every grid
configuration is trained once (the default trial: digits, mlp_resnet 4×200, ``--epochs``
epochs, seed 0; two worker processes), which gives a table. The searches then run over
the same finite space — β as its grid index, an ordered integer, so TPE and NSGA-II see
its order — and look each proposal up in the table (a tabular benchmark, as HPOBench
does): a proposal costs ``--epochs`` trial-epochs, repeats included, as they would be in a
real study. Hypervolumes use one reference point: the grid's worst rate and nll_opt plus
10% of their ranges. Each sampler runs with ``--seeds`` seeds; the median is reported.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import parser, print_ratios, write_record

HERE = Path(__file__).resolve().parent
POLICIES = ("fixed", "learned_scalar", "optimal_global", "optimal_sample")
TARGET = 0.95
EVAL = {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False}


def grid(n_betas: int) -> list[dict[str, Any]]:
    betas = np.geomspace(0.01, 10.0, n_betas).tolist()
    return [
        {"beta_index": i, "beta": b, "policy": p} for i, b in enumerate(betas) for p in POLICIES
    ]


def worker(job: dict[str, Any]) -> None:
    """Train the given grid points (default trial, light evaluation); print their RD."""
    import torch

    torch.set_num_threads(1)
    from rdlab.config import trial_config
    from rdlab.trial import run_trial

    out = []
    for pt in job["points"]:
        sigma: dict[str, Any] = {"policy": pt["policy"]}
        if pt["policy"] == "fixed":
            sigma["value"] = 0.7071
        cfg = trial_config(
            {
                "dataset": {"name": "digits"},
                "model": {"name": "mlp_resnet", "latent_dim": 8, "hidden": 200, "blocks": 4},
                "train": {"epochs": job["epochs"], "batch_size": 128, "seed": 0},
                "objective": {"beta": pt["beta"], "sigma": sigma},
                "eval": EVAL,
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            res = run_trial(cfg, tmp, resume=False)
        v = res.final.get("val", {})
        out.append({**pt, "rate": v.get("rate", math.nan), "nll_opt": v.get("nll_opt", math.nan)})
    print(json.dumps(out))


def train_grid(points: list[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    halves = [points[0::2], points[1::2]]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "bench_ttf.py"),
                "--worker",
                json.dumps({"points": h, "epochs": epochs}),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for h in halves
    ]
    table: list[dict[str, Any]] = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError("grid worker failed")
        table += json.loads(out.strip().splitlines()[-1])
    return table


def hv(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    from rdlab.frontier.hypervolume import hypervolume

    if not points:
        return 0.0
    r, d = zip(*points, strict=True)
    return hypervolume(r, d, ref)


def search(
    table: dict[tuple[int, str], tuple[float, float]],
    n_betas: int,
    sampler: str,
    seed: int,
    ref: tuple[float, float],
    goal: float,
    budget: int,
) -> dict[str, Any]:
    """Trials until the found points' hypervolume reaches ``goal`` (None if never)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smp: optuna.samplers.BaseSampler
    if sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed, multivariate=True)  # as rdlab.tune.search
    elif sampler == "nsga2":
        smp = optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    else:
        smp = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=smp)
    found: list[tuple[float, float]] = []
    for n in range(1, budget + 1):
        trial = study.ask()
        i = trial.suggest_int("beta_index", 0, n_betas - 1)
        pol = trial.suggest_categorical("policy", list(POLICIES))
        value = table[(i, pol)]
        if all(map(math.isfinite, value)):
            study.tell(trial, list(value))
            found.append(value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if hv(found, ref) >= goal:
            return {"trials": n, "reached": True}
    return {"trials": budget, "reached": False}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return 0
    p = parser("bench_ttf", __doc__)
    p.add_argument("--betas", type=int, default=8, help="grid values of β")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--table", type=Path, help="reuse a table of a previous run (its JSON)")
    args = p.parse_args(argv)
    pts = grid(args.betas)
    if args.table:
        rows = json.loads(args.table.read_text())["table"]
    else:
        rows = train_grid(pts, args.epochs)
    table = {(r["beta_index"], r["policy"]): (r["rate"], r["nll_opt"]) for r in rows}
    from rdlab.frontier.hypervolume import reference_point

    finite = [v for v in table.values() if all(map(math.isfinite, v))]
    ref = reference_point([v[0] for v in finite], [v[1] for v in finite])
    grid_hv = hv(finite, ref)
    goal = TARGET * grid_hv
    n_grid = len(pts)
    # The grid in its enumeration order (β-major) also crosses 95% before its end.
    seen: list[tuple[float, float]] = []
    grid_reach = n_grid
    for i, pt in enumerate(pts, 1):
        v = table[(pt["beta_index"], pt["policy"])]
        if all(map(math.isfinite, v)):
            seen.append(v)
        if hv(seen, ref) >= goal:
            grid_reach = i
            break
    budget = 4 * n_grid
    results: dict[str, Any] = {}
    for sampler in ("tpe", "nsga2", "random"):
        runs = [search(table, args.betas, sampler, s, ref, goal, budget) for s in range(args.seeds)]
        trials = [r["trials"] for r in runs]
        results[sampler] = {
            "trials": trials,
            "reached": sum(r["reached"] for r in runs),
            "median_trials": float(np.median(trials)),
            "p75_trials": float(np.percentile(trials, 75)),
            "median_trial_epochs": float(np.median(trials)) * args.epochs,
        }
    ratios = {
        f"{s} / grid (trial-epochs to 95% HV)": r["median_trials"] / n_grid
        for s, r in results.items()
    }
    record = {
        "benchmark": "time_to_frontier",
        "epochs": args.epochs,
        "grid_size": n_grid,
        "grid_trial_epochs": n_grid * args.epochs,
        "grid_order_reaches_95_at": grid_reach,
        "reference_point": ref,
        "grid_hypervolume": grid_hv,
        "budget_trials": budget,
        "samplers": results,
        "ratios": ratios,
        "table": rows,
    }
    write_record(args.json, record)
    print(
        f"grid: {n_grid} configurations × {args.epochs} epochs = {n_grid * args.epochs} "
        f"trial-epochs (its β-major order passes 95% at trial {grid_reach})"
    )
    for s, r in results.items():
        print(
            f"{s:<7} median {r['median_trials']:.0f} trials (p75 {r['p75_trials']:.0f}) = "
            f"{r['median_trial_epochs']:.0f} trial-epochs; reached 95% in "
            f"{r['reached']}/{args.seeds} seeds within {budget} trials"
        )
    print(f"record: {args.json}")
    print_ratios(
        "time to frontier (< 1: the search is cheaper than the grid)",
        [(k, v, "") for k, v in ratios.items()],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
