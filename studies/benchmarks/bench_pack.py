"""Benchmark 5, trial packing: 8 configurations that share a model shape (different β,
σ policy and seed), run as whole trials — build, training, per-epoch validation,
checkpoints and the end-of-trial evaluation — (a) unpacked: 8 trials, two worker processes
of one thread each, four trials apiece, as a study with ``max_concurrent: 2`` runs them;
(b) packed (``rdlab.train.packed``): two packs of 4 in two one-thread processes (grouped
GEMMs, and vmap for comparison), and one pack of 8 in one process with two threads. Same
2 cores, same trials, same epochs.

    python studies/benchmarks/bench_pack.py [--workload toy|digits|both] [--epochs 8]
        [--eval light|iwae] [--rounds 3]
    python studies/benchmarks/bench_pack.py --profile   # per-step times and matmul bound
    python studies/benchmarks/bench_pack.py --study     # also through rdlab studies (Ray)

Aggregate throughput = trials per second of wall time over the whole batch of 8. A
worker process imports torch and rdlab, says it is ready, and starts its trials when every
worker of the arrangement is ready: ``trial wall`` is from that start to the last worker's
end (what a Ray worker that is already up spends), ``process wall`` adds interpreter start
and imports. The arrangements alternate for ``--rounds`` rounds so load falls on all alike.
``--eval light``: split ``val``, no IWAE; ``iwae`` (default): also the IWAE bound
(K = 100 on 512 examples, the study default); Fréchet distances and pictures are off in
both (per-member CPU work in sklearn/matplotlib that packing does not batch).
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
EVALS: dict[str, dict[str, Any]] = {
    "light": {"splits": ["val"], "iwae_k": 0, "frechet": False, "pictures": False},
    "iwae": {"splits": ["val"], "iwae_k": 100, "frechet": False, "pictures": False},
}
EVAL = dict(EVALS["iwae"])


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
    """Train ``job["points"]`` unpacked one after another, or as one pack, once told to go
    (stdin); print the seconds from go to the end."""
    import torch

    torch.set_num_threads(job["threads"])
    # Imports every trial triggers once per process, not trial work: sklearn (evaluation)
    # and torch._dynamo (torch.optim's first Adam imports it: ~1.3 s on this machine).
    import sklearn.mixture  # noqa: F401
    import torch._dynamo
    from rdlab.trial import Trial, run_trial

    EVAL.clear()
    EVAL.update(EVALS[job["eval"]])
    cfgs = configs(job["workload"], job["epochs"], job["points"])
    out = Path(job["out"])
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    if job["packed"]:
        results = Trial(cfgs, out, grouped=job["grouped"]).run(resume=False)
    else:
        results = [run_trial(c, out / f"t{k}", resume=False) for k, c in enumerate(cfgs)]
    wall = time.perf_counter() - t0
    assert all(r.status == "ok" for r in results), [r.status for r in results]
    train = sum(r.wall_s for r in results) if not job["packed"] else results[0].wall_s
    print(
        json.dumps(
            {"wall_s": wall, "train_s": train, "eval_s": sum(r.eval_wall_s for r in results)}
        )
    )


def launch(jobs: list[dict[str, Any]]) -> dict[str, float]:
    """Run the jobs as concurrent processes, started together once all have imported;
    the wall time until the last one ends, from the start (``trial``) and from the spawn
    (``process``), and the workers' own sums of training and evaluation seconds."""
    t_spawn = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "bench_pack.py"), "--worker", json.dumps(j)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": str(j["threads"])},
        )
        for j in jobs
    ]
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("worker failed before its trials")
    t0 = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    reports = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"worker failed ({p.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    t1 = time.perf_counter()
    return {
        "trial": t1 - t0,
        "process": t1 - t_spawn,
        "train_s": sum(r["train_s"] for r in reports),
        "eval_s": sum(r["eval_s"] for r in reports),
    }


def arrangements(workload: str, epochs: int, ev: str, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    pts = points()
    common = {"workload": workload, "epochs": epochs, "eval": ev}
    halves = [pts[0::2], pts[1::2]]  # each half: 4 policies, one β each

    def job(
        name: str, part: list[dict[str, Any]], packed: bool, threads: int, grouped: bool = True
    ) -> dict[str, Any]:
        return {**common, "points": part, "packed": packed, "threads": threads,
                "grouped": grouped, "out": str(tmp / name)}  # fmt: skip

    return {
        "unpacked_2x4_seq": [job(f"u{i}", h, False, 1) for i, h in enumerate(halves)],
        "packed_2x4": [job(f"p{i}", h, True, 1) for i, h in enumerate(halves)],
        "packed_2x4_vmap": [job(f"v{i}", h, True, 1, grouped=False) for i, h in enumerate(halves)],
        "packed_1x8_2threads": [job("p8", pts, True, 2)],
    }


# One pack of 8 on two intra-op threads loses to everything on these small ops (measured
# 0.4–0.7× of unpacked); opt-in with --with-1x8.
DEFAULT_ARRANGEMENTS = ("unpacked_2x4_seq", "packed_2x4", "packed_2x4_vmap")


def trainer_level(
    workload: str, epochs: int, rounds: int, ev: str, names: tuple[str, ...]
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {}
    loads = []
    with tempfile.TemporaryDirectory(prefix="bench_pack_") as tmp:
        for r in range(rounds):
            arr = arrangements(workload, epochs, ev, Path(tmp) / f"r{r}")
            for name in names[r % len(names) :] + names[: r % len(names)]:
                runs.setdefault(name, []).append(launch(arr[name]))
                loads.append(os.getloadavg()[0])
    med = {
        k: {f: median([x[f] for x in v]) for f in ("trial", "process", "train_s", "eval_s")}
        for k, v in runs.items()
    }
    best = {k: min(x["trial"] for x in v) for k, v in runs.items()}
    base = med["unpacked_2x4_seq"]
    return {
        "best_trial_wall": best,
        "speedup_best_of_rounds": {k: best["unpacked_2x4_seq"] / v for k, v in best.items()},
        "workload": base_trial(workload, epochs),
        "eval": EVALS[ev],
        "points": points(),
        "runs": runs,
        "median": med,
        "trials_per_s": {k: 8 / v["trial"] for k, v in med.items()},
        "speedup_vs_unpacked": {k: base["trial"] / v["trial"] for k, v in med.items()},
        "speedup_with_process_start": {k: base["process"] / v["process"] for k, v in med.items()},
        "load_1min": {"min": min(loads), "max": max(loads)},
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


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def step_profile(workload: str, k: int, same_policy: bool) -> dict[str, Any]:
    """One process, one thread: a packed step of k members — grouped GEMMs and vmap — against
    their k unpacked steps (median of 30 each), and torch.profiler's view of 20 of each:
    the top ops, and the time in matmul kernels per step. The matmul time of a packed step is
    its bound: what a step would cost if everything but the GEMMs were free."""
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
        packs = {}
        for name, grouped in (("grouped", True), ("vmap", False)):
            engine = Trial(cfgs, Path(tmp) / name, grouped=grouped).loop.engine
            assert isinstance(engine, PackedEngine)
            packs[name] = engine
        singles = []
        for i, c in enumerate(cfgs):
            engine = Trial(c, Path(tmp) / f"s{i}").loop.engine
            assert isinstance(engine, SingleEngine)
            singles.append((engine, engine.members[0], engine.slots[0]))
        x = packs["grouped"].data.split("train")[: base["train"]["batch_size"]]
        steps = {
            "packed_grouped": lambda: packs["grouped"]._step(x),
            "packed_vmap": lambda: packs["vmap"]._step(x),
            "unpacked": lambda: [e._step(m, s, x) for e, m, s in singles],
        }

        def ms(fn: Any, n: int = 30) -> float:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return 1e3 * statistics.median(times)

        for _ in range(5):  # warm-up (allocator, first calls)
            for fn in steps.values():
                fn()
        step_ms: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(3):  # interleaved, so load falls on all alike
            for name, fn in steps.items():
                step_ms[name].append(ms(fn))
        tables, matmul_ms = {}, {}
        for name, fn in steps.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(20):
                    fn()
            avg = prof.key_averages()
            matmul_ms[name] = sum(e.self_cpu_time_total for e in avg if e.key in MATMUL_OPS) / 20e3
            tables[name] = avg.table(sort_by="self_cpu_time_total", row_limit=10)
    med = {name: statistics.median(v) for name, v in step_ms.items()}
    return {
        "k": k,
        "same_policy": same_policy,
        "step_ms": med,
        "matmul_ms": matmul_ms,
        "step_speedup": {n: med["unpacked"] / med[n] for n in ("packed_grouped", "packed_vmap")},
        "matmul_bound": med["unpacked"] / matmul_ms["packed_grouped"],
        "tables": tables,
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return 0
    p = parser("bench_pack", __doc__)
    p.add_argument("--workload", choices=["toy", "digits", "both"], default="both")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--eval", choices=list(EVALS), default="iwae", help="end-of-trial evaluation")
    p.add_argument("--tables", action="store_true", help="with --profile: the profiler tables")
    p.add_argument("--study", action="store_true", help="also through the study driver")
    p.add_argument("--with-1x8", action="store_true", help="also one pack of 8 on 2 threads")
    p.add_argument(
        "--profile", action="store_true", help="only the per-step timing and torch.profiler tables"
    )
    args = p.parse_args(argv)
    if args.profile:
        record: dict[str, Any] = {"benchmark": "pack-profile", "profiles": []}
        for same in (True, False):
            r = step_profile("toy" if args.workload == "both" else args.workload, 8, same)
            record["profiles"].append(r)
            if args.tables:
                for name, table in r["tables"].items():
                    print(f"== {name} step(s), 20 of them ==\n{table}")
            st, mm = r["step_ms"], r["matmul_ms"]
            print(
                f"K=8 {'one σ policy' if same else 'mixed σ policies'}: "
                f"packed step {st['packed_grouped']:.2f} ms grouped / "
                f"{st['packed_vmap']:.2f} ms vmap (matmul {mm['packed_grouped']:.2f} / "
                f"{mm['packed_vmap']:.2f} ms); 8 unpacked steps {st['unpacked']:.2f} ms "
                f"(matmul {mm['unpacked']:.2f} ms) → per step "
                f"{r['step_speedup']['packed_grouped']:.2f}× grouped, "
                f"{r['step_speedup']['packed_vmap']:.2f}× vmap; matmul bound "
                f"{r['matmul_bound']:.2f}×  [load {os.getloadavg()[0]:.2f}]"
            )
        write_record(args.json.with_name("bench_pack_profile.json"), record)
        return 0
    loads = ["toy", "digits"] if args.workload == "both" else [args.workload]
    record = {"benchmark": "pack", "trainer_level": {}, "study_level": {}}
    for w in loads:
        names = DEFAULT_ARRANGEMENTS + (("packed_1x8_2threads",) if args.with_1x8 else ())
        record["trainer_level"][w] = trainer_level(w, args.epochs, args.rounds, args.eval, names)
        if args.study:
            record["study_level"][w] = study_level(w, args.epochs)
    write_record(args.json, record)
    lines = []
    for w, r in record["trainer_level"].items():
        print(f"{w} (eval {args.eval}), load {r['load_1min']}:")
        for k, m in r["median"].items():
            print(
                f"  {k:<22} trial wall {m['trial']:6.2f} s  process wall {m['process']:6.2f} s  "
                f"(Σ train {m['train_s']:.2f} s, Σ eval {m['eval_s']:.2f} s)  "
                f"{r['trials_per_s'][k]:.2f} trials/s"
            )
        for k, v in r["speedup_vs_unpacked"].items():
            if k != "unpacked_2x4_seq":
                lines.append((f"{w}: {k} / unpacked", v, "target ≥ 2.5 (medians)"))
                lines.append((f"{w}: {k} best of rounds", r["speedup_best_of_rounds"][k], ""))
                lines.append(
                    (f"{w}: {k} incl. process start", r["speedup_with_process_start"][k], "")
                )
    for w, r in record["study_level"].items():
        print(f"{w} study: " + "  ".join(f"{k} {v['wall_s']:.0f}s" for k, v in r.items()))
        for k, v in r.items():
            if k != "pack_1":
                lines.append((f"{w} study: {k} / pack_1", v["speedup"], "target ≥ 2.5"))
    print(f"record: {args.json}")
    print_ratios("trial packing (aggregate throughput, 8 trials on 2 cores)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
