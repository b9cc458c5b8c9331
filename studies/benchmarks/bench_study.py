"""Benchmark 4, study throughput: the embedded default study (``studies/specs/default.yaml``:
Optuna TPE over β × σ policy on digits) through ``studies/rd_frontier.py``, against a
naive sequential script that trains the same configurations one after another (a plain
PyTorch loop per configuration, ``mlflow.log_metric`` per step into a sqlite store, the
final validation/test numbers at the end; one thread, as a trial), and how the study scales with
``max_concurrent`` 1 → 2 on this machine's 2 cores.

    python studies/benchmarks/bench_study.py [--trials 6] [--epochs 5] [--json OUT]

Bench size: ``--trials`` trials of ``--epochs`` epochs (the default study is 16 × 30) and
a light end-of-trial evaluation (val/test rate, mse, nll, nll_opt; no IWAE, Fréchet
distances or pictures), which the naive script computes too. Everything else is the
default study: model, data, batch size, search space, sqlite MLflow, Parquet, frontier
report. Each side is a fresh process, timed from start to exit (startup included); the
naive script trains exactly the configurations the max_concurrent-2 study chose.

Two rates: end to end (trials / wall time from process start to exit, so Ray's start,
MLflow's sqlite schema set-up, the workers' first imports and the frontier report are in)
and steady state (trials after the first / the time they took), which is what a long study
sees.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import ROOT, parser, print_ratios, write_record

HERE = Path(__file__).resolve().parent
EVAL = {"splits": ["val", "test"], "iwae_k": 0, "frechet": False, "pictures": False}


def bench_spec(trials: int, epochs: int, max_concurrent: int) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())
    spec["study"] = f"bench-study-mc{max_concurrent}"
    spec["search"]["num_samples"] = trials
    spec["train"]["epochs"] = epochs
    spec["eval"] = EVAL
    spec["max_concurrent"] = max_concurrent
    return spec


def timed_run(cmd: list[str], log: Path) -> tuple[float, list[float]]:
    """Run ``cmd`` to the end; its wall time and when each trial-finished line appeared
    (the driver prints ``[n] trial …`` as each trial ends; the naive script ``trial …``)."""
    t0 = time.perf_counter()
    marks: list[float] = []
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if (line.startswith("[") and " trial " in line) or line.startswith("trial done"):
                marks.append(time.perf_counter() - t0)
        proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{log.read_text()[-3000:]}")
    return wall, marks


def steady_rate(marks: list[float]) -> float:
    """Trials per hour after the first one finished: (n − 1) / (t_last − t_first)."""
    if len(marks) < 2 or marks[-1] <= marks[0]:
        return math.nan
    return 3600 * (len(marks) - 1) / (marks[-1] - marks[0])


def run_rdlab(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    path = work / f"{spec['study']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, str(ROOT / "studies/rd_frontier.py"), "--spec", str(path)]
    wall, marks = timed_run([*cmd, "--storage", str(work)], work / f"{spec['study']}.log")
    import pandas as pd

    df = pd.read_parquet(work / spec["study"] / "rd_points")
    final = df[df["epoch"].isna() & (df["split"] == "val")]
    configs = [
        {"beta": float(r.beta), "policy": str(r.sigma_policy), "value": r.sigma_value}
        for r in final.itertuples()
    ]
    return {
        "wall_s": wall,
        "trials": len(final),
        "configs": configs,
        "trial_done_at_s": marks,
        "steady_trials_per_hour": steady_rate(marks),
    }


# ----------------------------------------------------------------------------- naive script
def naive_loss(model: Any, log_sigma: Any, cfg: dict[str, Any], xb: Any) -> tuple[Any, Any, Any]:
    """The naive script's loss: the σ policies written out as if-branches."""
    import torch

    mu, logvar = model.encode(xb)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    xm, _ = model.decode(z)
    sq = (xb - xm).pow(2).flatten(1)
    pol = cfg["policy"]
    if pol == "fixed":
        ls = torch.full((), math.log(cfg["value"] or 1.0))
    elif pol == "learned_scalar":
        ls = log_sigma
    elif pol == "optimal_global":
        ls = 0.5 * torch.log(sq.mean())
    else:
        ls = 0.5 * torch.log(sq.mean(1, keepdim=True))
    nll = (0.5 * sq * torch.exp(-2 * ls) + ls + 0.5 * math.log(2 * math.pi)).sum(1)
    rate = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return nll.mean() + cfg["beta"] * rate.mean(), rate.mean(), sq.sum(1).mean()


def naive(job: dict[str, Any]) -> None:
    """What a user writes without a platform: for each configuration a plain loop, one
    ``mlflow.log_metric`` per step; final val/test numbers. One process, default threads."""
    import mlflow
    import torch
    from rdlab.model import build_model
    from sklearn.datasets import load_digits

    mlflow.set_tracking_uri(job["tracking_uri"])
    mlflow.set_experiment("naive")
    x = torch.tensor(load_digits().data, dtype=torch.float32).div_(16.0).reshape(-1, 1, 8, 8)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    n_test = n_val = round(0.1 * x.shape[0])
    splits = {
        "test": x[perm[:n_test]],
        "val": x[perm[n_test : n_test + n_val]],
        "train": x[perm[n_test + n_val :]],
    }
    d = 64
    torch.set_num_threads(1)  # as a trial has; torch's default 2 fight over the 2 cores
    times = []
    for cfg in job["configs"]:
        t_cfg = time.perf_counter()
        torch.manual_seed(0)
        model = build_model("mlp_resnet", (1, 8, 8), 8, {"hidden": 200, "blocks": 4})
        log_sigma = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([*model.parameters(), log_sigma], lr=1e-3)

        with mlflow.start_run():
            mlflow.log_params(cfg)
            step = 0
            for _ in range(job["epochs"]):
                order = torch.randperm(splits["train"].shape[0])
                for i in range(0, order.shape[0], 128):
                    loss, _, _ = naive_loss(
                        model, log_sigma, cfg, splits["train"][order[i : i + 128]]
                    )
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    mlflow.log_metric("loss", loss.item(), step=step)
                    step += 1
            with torch.no_grad():
                for split in ("val", "test"):
                    _, rate, mse = naive_loss(model, log_sigma, cfg, splits[split])
                    nll_opt = 0.5 * d * (math.log(2 * math.pi * float(mse) / d) + 1)
                    mlflow.log_metrics({f"{split}_rate": float(rate), f"{split}_nll_opt": nll_opt})
        times.append(time.perf_counter() - t_cfg)
        print(f"trial done {cfg}", flush=True)


def run_naive(configs: list[dict[str, Any]], epochs: int, work: Path) -> dict[str, Any]:
    job = {
        "configs": configs,
        "epochs": epochs,
        "tracking_uri": f"sqlite:///{work / 'naive.db'}",
    }
    path = work / "naive.json"
    path.write_text(json.dumps(job))
    cmd = [sys.executable, str(HERE / "bench_study.py"), "--naive", str(path)]
    wall, marks = timed_run(cmd, work / "naive.log")
    return {
        "wall_s": wall,
        "trials": len(configs),
        "trial_done_at_s": marks,
        "steady_trials_per_hour": steady_rate(marks),
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--naive":
        naive(json.loads(Path(sys.argv[2]).read_text()))
        return 0
    p = parser("bench_study", __doc__)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args(argv)
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_study_") as tmp:
        work = Path(tmp)
        res["rdlab_mc2"] = run_rdlab(bench_spec(args.trials, args.epochs, 2), work)
        res["naive"] = run_naive(res["rdlab_mc2"]["configs"], args.epochs, work)
        res["rdlab_mc1"] = run_rdlab(bench_spec(args.trials, args.epochs, 1), work)
    tph = {k: 3600 * v["trials"] / v["wall_s"] for k, v in res.items()}
    steady = {k: v["steady_trials_per_hour"] for k, v in res.items()}
    ratios = {
        "end to end: rdlab(mc=2) / naive": tph["rdlab_mc2"] / tph["naive"],
        "end to end: rdlab mc=2 / mc=1": tph["rdlab_mc2"] / tph["rdlab_mc1"],
        "steady: rdlab(mc=2) / naive": steady["rdlab_mc2"] / steady["naive"],
        "steady: rdlab(mc=1) / naive": steady["rdlab_mc1"] / steady["naive"],
        "steady: rdlab mc=2 / mc=1": steady["rdlab_mc2"] / steady["rdlab_mc1"],
    }
    record = {
        "benchmark": "study",
        "trials": args.trials,
        "epochs": args.epochs,
        "eval": EVAL,
        "runs": res,
        "trials_per_hour": tph,
        "steady_trials_per_hour": steady,
        "ratios": ratios,
    }
    write_record(args.json, record)
    for k, v in res.items():
        print(
            f"{k:<10} {v['trials']} trials in {v['wall_s']:6.1f}s → {tph[k]:7.0f} trials/hour "
            f"end to end, {steady[k]:7.0f} at steady state (after the first trial)"
        )
    print(f"record: {args.json}")
    print_ratios(
        f"study throughput ({args.trials} trials × {args.epochs} epochs, trials/hour)",
        [(k, v, "") for k, v in ratios.items()],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
