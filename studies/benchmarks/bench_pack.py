"""Benchmark 5, trial packing: 8 configurations that share a model shape (different β,
σ policy and seed), trained (a) unpacked — 8 trials, two worker processes of one thread
each, four trials apiece, as a study with ``max_concurrent: 2`` runs them — and (b) packed
(``rdlab.train.packed``) — as two packs of 4 in two one-thread processes, and as one pack
of 8 in one process with two threads. Same 2 cores, same trials, same epochs.

    python studies/benchmarks/bench_pack.py [--workload toy|digits|both] [--epochs 4]
    python studies/benchmarks/bench_pack.py --study      # also through rdlab studies (Ray)

Aggregate throughput = trial-epochs per second of wall time over the whole batch of 8
(training, per-epoch validation and checkpoints; the light end-of-trial evaluation is in
too). The arrangements alternate for ``--rounds`` rounds so load falls on all alike.
``--study`` also runs the 8 as a grid study with ``pack: 1`` and ``pack: 8`` (and
``pack: 4``) through the real driver — Ray, MLflow, Parquet included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import median, parser, print_ratios, write_record

HERE = Path(__file__).resolve().parent
POLICIES = ("optimal_sample", "learned_scalar", "optimal_global", "fixed")
BETAS = (0.3, 3.0)
EVAL = {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False}


def base_trial(workload: str, epochs: int) -> dict[str, Any]:
    if workload == "toy":  # 004's toy manifold, a small residual MLP
        return {
            "dataset": {"name": "toy_manifold", "batches_per_epoch": 50, "n_eval": 500},
            "model": {"name": "mlp_resnet", "latent_dim": 2, "hidden": 64, "blocks": 2},
            "train": {"epochs": epochs, "batch_size": 100, "lr": 5e-3, "device": "cpu"},
            "eval": EVAL,
        }
    return {  # the default study's trial
        "dataset": {"name": "digits"},
        "model": {"name": "mlp_resnet", "latent_dim": 8, "hidden": 200, "blocks": 4},
        "train": {"epochs": epochs, "batch_size": 128, "lr": 1e-3, "device": "cpu"},
        "eval": EVAL,
    }


def points() -> list[dict[str, Any]]:
    """8 configurations: 4 σ policies × 2 β, each with its own seed."""
    out = []
    for i, (pol, beta) in enumerate((p, b) for p in POLICIES for b in BETAS):
        pt: dict[str, Any] = {"objective.beta": beta, "objective.sigma.policy": pol}
        if pol == "fixed":
            pt["objective.sigma.value"] = 0.7071
        pt["train.seed"] = i
        out.append(pt)
    return out


def configs(workload: str, epochs: int, pts: list[dict[str, Any]]) -> list[Any]:
    from rdlab.config import trial_config
    from rdlab.config_io import set_path

    cfgs = []
    for pt in pts:
        data = base_trial(workload, epochs)
        for path, value in pt.items():
            data = set_path(data, path, value)
        cfgs.append(trial_config(data))
    return cfgs


# ----------------------------------------------------------------------------- worker side
def worker(job: dict[str, Any]) -> None:
    """Train ``job["points"]`` unpacked one after another, or as one pack; print seconds."""
    import torch

    torch.set_num_threads(job["threads"])
    from rdlab.trial import Trial, run_trial

    cfgs = configs(job["workload"], job["epochs"], job["points"])
    out = Path(job["out"])
    t0 = time.perf_counter()
    if job["packed"]:
        results = Trial(cfgs, out).run(resume=False)
    else:
        results = [run_trial(c, out / f"t{k}", resume=False) for k, c in enumerate(cfgs)]
    wall = time.perf_counter() - t0
    assert all(r.status == "ok" for r in results), [r.status for r in results]
    print(json.dumps({"wall_s": wall, "trial_epochs": sum(r.epochs_done for r in results)}))


def launch(jobs: list[dict[str, Any]]) -> float:
    """Run the jobs as concurrent processes; the wall time until the last one ends."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "bench_pack.py"), "--worker", json.dumps(j)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": str(j["threads"])},
        )
        for j in jobs
    ]
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({p.returncode})")
        json.loads(out.strip().splitlines()[-1])
    return time.perf_counter() - t0


def arrangements(workload: str, epochs: int, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    pts = points()
    common = {"workload": workload, "epochs": epochs}
    halves = [pts[0::2], pts[1::2]]  # each half: 4 policies, one β each

    def job(name: str, part: list[dict[str, Any]], packed: bool, threads: int) -> dict[str, Any]:
        return {**common, "points": part, "packed": packed, "threads": threads,
                "out": str(tmp / name)}  # fmt: skip

    return {
        "unpacked_2x4_seq": [job(f"u{i}", h, False, 1) for i, h in enumerate(halves)],
        "packed_2x4": [job(f"p{i}", h, True, 1) for i, h in enumerate(halves)],
        "packed_1x8_2threads": [job("p8", pts, True, 2)],
    }


def trainer_level(workload: str, epochs: int, rounds: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_pack_") as tmp:
        for r in range(rounds):
            arr = arrangements(workload, epochs, Path(tmp) / f"r{r}")
            names = list(arr)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                walls.setdefault(name, []).append(launch(arr[name]))
    n = 8 * epochs
    thr = {k: n / median(v) for k, v in walls.items()}
    base = thr["unpacked_2x4_seq"]
    return {
        "workload": base_trial(workload, epochs),
        "points": points(),
        "wall_s": walls,
        "trial_epochs_per_s": thr,
        "speedup_vs_unpacked": {k: v / base for k, v in thr.items()},
    }


# ----------------------------------------------------------------------------- study level
def study_level(workload: str, epochs: int) -> dict[str, Any]:
    """The same 8 as a grid study through the driver, pack 1 / 4 / 8, one after another."""
    import io

    from rdlab.driver.runner import run_study

    out: dict[str, Any] = {}
    space = {
        "objective.sigma.policy": {"choice": list(POLICIES)},
        "objective.beta": {"choice": list(BETAS)},
        "objective.sigma.value": {"choice": [0.7071], "when": {"objective.sigma.policy": "fixed"}},
    }
    for pack in (1, 8, 4):
        spec = {
            "study": f"bench-pack-{pack}",
            **base_trial(workload, epochs),
            "search": {"algorithm": "grid", "space": space},
            "resources": {"cpu": 1 if pack < 8 else 2},
            "max_concurrent": 2 if pack < 8 else 1,
            "pack": pack,
        }
        with tempfile.TemporaryDirectory(prefix="bench_pack_study_") as tmp:
            t0 = time.perf_counter()
            log = io.StringIO()
            rc = run_study(spec, Path(tmp), out=log)
            wall = time.perf_counter() - t0
            if rc != 0:
                raise RuntimeError(log.getvalue()[-3000:])
        out[f"pack_{pack}"] = {"wall_s": wall, "trials_per_hour": 8 * 3600 / wall}
    base = out["pack_1"]["wall_s"]
    for v in out.values():
        v["speedup"] = base / v["wall_s"]
    return out


def step_profile(workload: str, k: int, same_policy: bool) -> dict[str, Any]:
    """One process, one thread: a packed step of k members against their k unpacked steps
    (median of 30 each), then torch.profiler's top ops of 20 packed and 20 single steps —
    the profile behind the README's account of the packing gap."""
    import statistics
    import tempfile

    import torch
    from rdlab.config import trial_config
    from rdlab.train.packed import PackedEngine
    from rdlab.train.single import SingleEngine
    from rdlab.trial import Trial
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    base = base_trial(workload, 3)
    pairs = [(p, b) for p in POLICIES for b in BETAS]
    if same_policy:
        pairs = [("optimal_sample", b) for b in (0.1, 0.3, 1.0, 3.0, 10.0, 0.2, 2.0, 5.0)]
    cfgs = [
        trial_config(
            {
                **base,
                "objective": {"beta": b, "sigma": {"policy": pol}},
                "train": {**base["train"], "seed": i},
            }
        )
        for i, (pol, b) in enumerate(pairs[:k])
    ]
    with tempfile.TemporaryDirectory(prefix="bench_pack_profile_") as tmp:
        pack = Trial(cfgs, Path(tmp) / "pack").loop.engine
        assert isinstance(pack, PackedEngine)
        singles = []
        for i, c in enumerate(cfgs):
            engine = Trial(c, Path(tmp) / f"s{i}").loop.engine
            assert isinstance(engine, SingleEngine)
            singles.append((engine, engine.members[0], engine.slots[0]))
        x = pack.data.split("train")[: base["train"]["batch_size"]]

        def ms(fn: Any, n: int = 30) -> float:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return 1e3 * statistics.median(times)

        for _ in range(5):  # warm-up (vmap tracing, allocator)
            pack._step(x)
            for e, m, s in singles:
                e._step(m, s, x)
        packed = ms(lambda: pack._step(x))
        unpacked = ms(lambda: [e._step(m, s, x) for e, m, s in singles])
        tables = {}
        e0, m0, s0 = singles[0]
        for name, fn in (
            ("packed", lambda: pack._step(x)),
            ("single", lambda: e0._step(m0, s0, x)),
        ):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(20):
                    fn()
            tables[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    return {
        "k": k,
        "same_policy": same_policy,
        "packed_step_ms": packed,
        "unpacked_steps_ms": unpacked,
        "step_speedup": unpacked / packed,
        "tables": tables,
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return 0
    p = parser("bench_pack", __doc__)
    p.add_argument("--workload", choices=["toy", "digits", "both"], default="both")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--study", action="store_true", help="also through the study driver")
    p.add_argument(
        "--profile", action="store_true", help="only the per-step timing and torch.profiler tables"
    )
    args = p.parse_args(argv)
    if args.profile:
        for same in (True, False):
            r = step_profile("toy" if args.workload == "both" else args.workload, 8, same)
            for name, table in r["tables"].items():
                print(f"== {name} step(s), 20 of them ==\n{table}")
            print(
                f"K=8 {'one σ policy' if same else 'mixed σ policies'}: packed step "
                f"{r['packed_step_ms']:.2f} ms, 8 unpacked steps {r['unpacked_steps_ms']:.2f} ms "
                f"→ {r['step_speedup']:.2f}× per step"
            )
        return 0
    loads = ["toy", "digits"] if args.workload == "both" else [args.workload]
    record: dict[str, Any] = {"benchmark": "pack", "trainer_level": {}, "study_level": {}}
    for w in loads:
        record["trainer_level"][w] = trainer_level(w, args.epochs, args.rounds)
        if args.study:
            record["study_level"][w] = study_level(w, args.epochs)
    write_record(args.json, record)
    lines = []
    for w, r in record["trainer_level"].items():
        print(
            f"{w}: trial-epochs/s "
            + "  ".join(f"{k} {v:.2f}" for k, v in r["trial_epochs_per_s"].items())
        )
        for k, v in r["speedup_vs_unpacked"].items():
            if k != "unpacked_2x4_seq":
                lines.append((f"{w}: {k} / unpacked", v, "target ≥ 3"))
    for w, r in record["study_level"].items():
        print(f"{w} study: " + "  ".join(f"{k} {v['wall_s']:.0f}s" for k, v in r.items()))
        for k, v in r.items():
            if k != "pack_1":
                lines.append((f"{w} study: {k} / pack_1", v["speedup"], "target ≥ 3"))
    print(f"record: {args.json}")
    print_ratios("trial packing (aggregate throughput, 8 trials on 2 cores)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
