"""Issue 4's budget: what the end-of-trial evaluation adds to one default digits trial.

    python studies/benchmarks/bench_eval.py [--rounds 3] [--epochs 30] [--json OUT]

Each run is a fresh Python process (as a Ray worker's first trial, or ``rdlab train``)
training the embedded default study's trial (digits, mlp_resnet 4×200, 30 epochs, batch
128, σ optimal_sample, one thread) once with the default evaluation (IWAE K=100, active
units, per-dimension rate, GMM agg_kl, three Fréchet distances, pictures) and once with
those off (``iwae_k: 0, frechet: false, pictures: false``: the split metrics the trainer
reports anyway). The two alternate, round by round. The Fréchet classifier is trained once
per storage root and cached; the first run trains it (reported as ``cold``), the rounds
find it cached. Trial wall = ``Trial.run()``; process start-up and imports are reported
apart. Prints ``evaluation / trial wall without it`` last.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, median, parser, print_ratios, ratio, write_record

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from pathlib import Path
from rdlab.config import trial_config
from rdlab.evaluate import CachedClassifier
from rdlab.trial import Trial
torch.set_num_threads(1)
data, out = json.loads(sys.argv[1]), Path(sys.argv[2])
cache = CachedClassifier(out.parent / ".cache" / "frechet")
trial = Trial(trial_config(data), out, classifier=cache)
t1 = time.perf_counter()
(result,) = trial.run()
t2 = time.perf_counter()
print(json.dumps({"startup_s": t1 - t0, "trial_s": t2 - t1, "status": result.status,
                  "eval_s": result.eval_wall_s, "artifacts": result.artifacts}))
"""

OFF = {"iwae_k": 0, "frechet": False, "pictures": False}


def trial_data(epochs: int, evaluation: bool) -> dict[str, Any]:
    import yaml

    spec = yaml.safe_load((ROOT / "studies" / "specs" / "default.yaml").read_text())
    data = {k: spec[k] for k in ("dataset", "model", "train", "objective", "eval")}
    data["train"] = {**data["train"], "epochs": epochs, "device": "cpu"}
    if not evaluation:
        data["eval"] = {**data["eval"], **OFF}
    return data


def run_child(data: dict[str, Any], out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(data), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    rec: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec["status"] == "ok", rec
    return rec


def main() -> int:
    p = parser("bench_eval", __doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    on, off = trial_data(args.epochs, True), trial_data(args.epochs, False)
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="rdlab-bench-eval-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        cold = run_child(on, root / "cold")
        print(
            f"cold (trains the Fréchet classifier): trial {cold['trial_s']:.2f} s, "
            f"evaluation {cold['eval_s']:.2f} s",
            flush=True,
        )
        for r in range(args.rounds):
            for side, data in (("off", off), ("on", on)):
                rec = run_child(data, root / f"{side}{r}")
                runs[side].append(rec)
                print(
                    f"round {r + 1} eval {side:<3}: trial {rec['trial_s']:.2f} s "
                    f"(evaluation {rec['eval_s']:.2f} s, start-up {rec['startup_s']:.2f} s)",
                    flush=True,
                )
        wall = time.perf_counter() - t0
    t_on = median([r["trial_s"] for r in runs["on"]])
    t_off = median([r["trial_s"] for r in runs["off"]])
    e_on = median([r["eval_s"] for r in runs["on"]])
    e_off = median([r["eval_s"] for r in runs["off"]])
    ratios = {
        "evaluation added / trial wall without it": ratio(t_on - t_off, t_off),
        "evaluation timer / trial wall without it": ratio(e_on - e_off, t_off),
        "cold: evaluation added / trial wall without it": ratio(cold["trial_s"] - t_off, t_off),
    }
    write_record(
        args.json,
        {
            "benchmark": "eval",
            "epochs": args.epochs,
            "rounds": args.rounds,
            "trial_s": {"on": t_on, "off": t_off, "cold": cold["trial_s"]},
            "eval_timer_s": {"on": e_on, "off": e_off, "cold": cold["eval_s"]},
            "startup_s": median([r["startup_s"] for r in runs["on"] + runs["off"]]),
            "artifacts": runs["on"][0]["artifacts"] if runs["on"] else [],
            "runs": runs,
            "wall_s": wall,
            "ratios": ratios,
        },
    )
    print(
        f"trial wall (median of {args.rounds}): {t_on:.2f} s with evaluation, "
        f"{t_off:.2f} s without; record in {args.json}"
    )
    print_ratios(
        "evaluation cost",
        [
            (k, v, "target < 0.20" if k.startswith("evaluation added") else "")
            for k, v in ratios.items()
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
