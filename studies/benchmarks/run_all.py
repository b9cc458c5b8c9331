"""``make bench``: issue 8's benchmarks 1–4 and 6 at a size that takes under 10 minutes on
this project's 2-core machine, each in its own process, then one table of their ratios.

    python studies/benchmarks/run_all.py [--out runs/bench] [--with-pack] [--with-frontier]

1 trial overhead (bench_overhead) · 2 data path (bench_data) · 3 tracking cost
(bench_tracking) · 4 study throughput (bench_study) · 6 time to frontier (bench_ttf).
``--with-pack`` adds 5 (trial packing, bench_pack; ~4 min), ``--with-frontier`` the
frontier computation on 1,000,000 RD points (bench_frontier). Each writes its JSON record
to ``<out>/<name>.json``; this script writes ``<out>/summary.json`` and prints the ratios
last. Benchmarks are measurements, not tests: a missed target does not fail the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# name → (script, extra arguments at make-bench size)
BENCHES: dict[str, tuple[str, list[str]]] = {
    "overhead": ("bench_overhead.py", ["--epochs", "24", "--warmup", "3"]),
    "data": ("bench_data.py", ["--epochs", "6"]),
    "tracking": ("bench_tracking.py", ["--epochs", "30", "--rounds", "2"]),
    "study": ("bench_study.py", ["--trials", "6", "--epochs", "5"]),
    "ttf": ("bench_ttf.py", ["--betas", "8", "--epochs", "5", "--seeds", "20"]),
}
OPTIONAL = {
    "pack": ("bench_pack.py", ["--epochs", "8", "--rounds", "1"]),
    "frontier": ("bench_frontier.py", []),
}


def ratios_of(record: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of one record (every benchmark keeps them under ``ratios``)."""
    if "ratios" in record:
        return {k: float(v) for k, v in record["ratios"].items()}
    if record.get("benchmark") == "tracking":
        return {
            "rdlab tracking / trial wall": record["share_of_trial_wall"]["rdlab"],
            "naive tracking / trial wall": record["share_of_trial_wall"]["naive"],
        }
    if record.get("benchmark") == "pack":
        return {
            f"{w}: {k} / unpacked": v
            for w, r in record["trainer_level"].items()
            for k, v in r["speedup_vs_unpacked"].items()
            if k != "unpacked_2x4_seq"
        }
    if "ratio_to_target" in record:
        return {"frontier 1M rows: measured / 3 s target": record["ratio_to_target"]}
    return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    p.add_argument("--with-pack", action="store_true")
    p.add_argument("--with-frontier", action="store_true")
    args = p.parse_args(argv)
    todo = dict(BENCHES)
    if args.with_pack:
        todo["pack"] = OPTIONAL["pack"]
    if args.with_frontier:
        todo["frontier"] = OPTIONAL["frontier"]
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    t_all = time.perf_counter()
    for name, (script, extra) in todo.items():
        out = args.out / f"{Path(script).stem}.json"
        cmd = [sys.executable, str(HERE / script), *extra, "--json", str(out)]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - t0
        tail = [ln for ln in proc.stdout.splitlines() if ln.strip()][-12:]
        print("\n".join("   " + ln for ln in tail), flush=True)
        if proc.returncode != 0 or not out.exists():
            print(f"   FAILED ({proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
            summary[name] = {"failed": True, "seconds": took}
            continue
        record = json.loads(out.read_text())
        summary[name] = {"seconds": round(took, 1), "json": str(out), "ratios": ratios_of(record)}
    total = time.perf_counter() - t_all
    (args.out / "summary.json").write_text(
        json.dumps({"total_s": round(total, 1), "benchmarks": summary}, indent=2) + "\n"
    )
    print(f"\n== all benchmarks: {total / 60:.1f} min; records in {args.out}")
    print(f"{'benchmark':<10} {'ratio':<52} {'value':>8}")
    for name, s in summary.items():
        if s.get("failed"):
            print(f"{name:<10} {'FAILED':<52}")
            continue
        for k, v in s["ratios"].items():
            print(f"{name:<10} {k:<52} {v:8.3f}")
    return 1 if any(s.get("failed") for s in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
