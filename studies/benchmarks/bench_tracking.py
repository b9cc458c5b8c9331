"""Benchmark 3, tracking cost: rdlab's MLflow tracking (one ``log_batch`` per epoch, sent off
the training thread) against the naive pattern (``mlflow.log_metric`` once per step, plus
the validation metrics each epoch), both against a real ``mlflow server`` on loopback.

    python studies/benchmarks/bench_tracking.py [--epochs 30] [--rounds 2] [--json OUT]

The server runs with a sqlite backend and proxied artifacts in a temporary folder, bound to
127.0.0.1 on a free port (``--allowed-hosts`` set to that address: MLflow 3.x checks the
Host header) and with its job runner off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: its
polling consumers would otherwise take CPU from the trials on this small machine).

Cost = wall time a trial spends inside tracking calls (opening the run, params, per-epoch
metrics, final metrics, artifacts, closing the run), as a share of the trial's wall time.
Workload: the default study's trial (digits, mlp_resnet 4×200, one thread, 30 epochs, the
default end-of-trial evaluation whose pictures go to MLflow; ``--eval light`` for split
metrics only), the Fréchet classifier trained beforehand as a study does.
rdlab and the naive loop alternate for ``--rounds`` rounds.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import median, one_thread, parser, print_ratios, write_record
from rdlab.train import Callback

from studies.tools.mlflow_server import mlflow_server

TARGET = 0.01


class Timed(Callback):
    """Wraps a tracker callback object, adding up the wall time spent in its hooks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent: dict[str, float] = {}

    def _call(self, name: str, *args: Any) -> None:
        t0 = time.perf_counter()
        getattr(self.inner, name)(*args)
        self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t0

    def on_start(self, trainer: Any) -> None:
        self._call("on_start", trainer)

    def on_epoch_metrics(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        self._call("on_epoch_metrics", trainer, epoch, metrics)

    def on_artifacts(self, trainer: Any, paths: list[str]) -> None:
        self._call("on_artifacts", trainer, paths)

    def on_end(self, trainer: Any, result: Any) -> None:
        self._call("on_end", trainer, result)


def rdlab_trial(uri: str, data: dict[str, Any], work: Path, tag: str) -> dict[str, Any]:
    from rdlab.config import trial_config
    from rdlab.track import StudyTracker, TrialTracker
    from rdlab.trial import run_trial

    study = StudyTracker(uri, f"bench-tracking-{tag}")
    parent = study.start_parent({"bench": "tracking"}, resume=False, tags={})
    t0 = time.perf_counter()
    tracker = Timed(TrialTracker(uri, study.experiment_id, parent, f"t-{tag}", study.study))
    result = run_trial(trial_config(data), work, callbacks=[tracker], resume=False)
    wall = time.perf_counter() - t0
    study.finish()
    spent = sum(tracker.spent.values())
    return {
        "wall_s": wall,
        "tracking_s": spent,
        "by_hook_s": tracker.spent,
        "share": spent / wall,
        "epochs": result.epochs_done,
        "requests_per_epoch": 1,
    }


def naive_trial(uri: str, data: dict[str, Any], tag: str) -> dict[str, Any]:
    """The loop people write first: fluent API, one ``log_metric`` per step."""
    import mlflow
    from bench_overhead import BETA, BareLoop
    from rdlab.data.base import epoch_generator

    t0 = time.perf_counter()
    spent = 0.0

    def tracked(fn: Any, *args: Any, **kw: Any) -> Any:
        nonlocal spent
        t = time.perf_counter()
        out = fn(*args, **kw)
        spent += time.perf_counter() - t
        return out

    mlflow.set_tracking_uri(uri)
    tracked(mlflow.set_experiment, f"bench-naive-{tag}")
    bare = BareLoop(data)
    epochs = data["train"]["epochs"]
    run = tracked(mlflow.start_run, run_name=f"naive-{tag}")
    tracked(mlflow.log_params, {"beta": BETA, "lr": 1e-3, "batch_size": bare.bs})
    step = 0
    n = bare.x_train.shape[0]
    for epoch in range(epochs):
        bare.model.train()
        perm = torch.randperm(n, generator=epoch_generator(bare.src.seed, epoch))
        for i in range(0, n, bare.bs):
            x = bare.x_train[perm[i : i + bare.bs]]
            nll, rate = bare.terms(x)
            loss = nll.mean() + BETA * rate.mean()
            bare.opt.zero_grad(set_to_none=True)
            loss.backward()
            bare.opt.step()
            tracked(mlflow.log_metric, "train_loss", loss.item(), step=step)
            step += 1
        bare.model.eval()
        with torch.no_grad():
            nll, rate = bare.terms(bare.x_val)
        for k, v in {"val_nll": nll.mean(), "val_rate": rate.mean()}.items():
            tracked(mlflow.log_metric, k, float(v), step=epoch)
    tracked(mlflow.end_run)
    wall = time.perf_counter() - t0
    assert run is not None
    return {
        "wall_s": wall,
        "tracking_s": spent,
        "share": spent / wall,
        "epochs": epochs,
        "requests_per_epoch": math.ceil(n / bare.bs) + 2,
    }


def main(argv: list[str] | None = None) -> int:
    from bench_overhead import trial_data

    p = parser("bench_tracking", __doc__)
    p.add_argument("--epochs", type=int, default=30, help="default: the default study's 30")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--eval",
        choices=["default", "light"],
        default="default",
        help="rdlab's end-of-trial evaluation: the default one (pictures uploaded as MLflow "
        "artifacts) or split metrics only",
    )
    args = p.parse_args(argv)
    one_thread()
    data = trial_data(args.epochs, 200, 4)
    if args.eval == "default":
        data.pop("eval")
    else:
        data["eval"] = {"splits": ["val", "test"], "iwae_k": 0, "frechet": False, "pictures": False}
    runs: dict[str, list[dict[str, Any]]] = {"rdlab": [], "naive": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench_tracking_") as tmp,
        mlflow_server(Path(tmp) / "mlflow.db", Path(tmp)) as uri,
    ):
        from rdlab.config import trial_config
        from rdlab.evaluate.classifier import warm_cache

        # As in a study: the Fréchet classifier is trained once, before the trials.
        warm_cache(trial_config(data), Path(tmp) / ".cache" / "frechet")
        for r in range(args.rounds):
            runs["rdlab"].append(rdlab_trial(uri, data, Path(tmp) / f"r{r}", str(r)))
            runs["naive"].append(naive_trial(uri, data, str(r)))
    share = {k: median([x["share"] for x in v]) for k, v in runs.items()}
    per_epoch = {k: median([x["tracking_s"] / x["epochs"] for x in v]) for k, v in runs.items()}
    record = {
        "benchmark": "tracking",
        "workload": data,
        "share_of_trial_wall": share,
        "tracking_s_per_epoch": per_epoch,
        "target_rdlab_share": TARGET,
        "naive_over_rdlab_cost": per_epoch["naive"] / per_epoch["rdlab"],
        "runs": runs,
    }
    write_record(args.json, record)
    for k, v in runs.items():
        last = v[-1]
        print(
            f"{k:<6} trial wall {median([x['wall_s'] for x in v]):6.2f}s  tracking "
            f"{median([x['tracking_s'] for x in v]):6.3f}s  "
            f"({last['requests_per_epoch']} metric requests/epoch)"
        )
    print(f"rdlab tracking by hook (last round): {runs['rdlab'][-1]['by_hook_s']}")
    print(f"record: {args.json}")
    print_ratios(
        "tracking cost",
        [
            ("rdlab tracking / trial wall", share["rdlab"], f"target < {TARGET}"),
            ("naive tracking / trial wall", share["naive"], "log_metric per step"),
            ("naive / rdlab tracking time", record["naive_over_rdlab_cost"], "> 1: rdlab cheaper"),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
