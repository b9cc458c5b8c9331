"""Benchmark: Optuna TPE's time per proposal as a study grows, multivariate or not (issue 16
item 2; the ``search.options.multivariate`` knob of ``optuna-tpe``). Not a timed test.

The space is ``studies/specs/default.yaml``'s (β, σ policy, a conditional σ value), asked
through rdlab's own domains as the study asks it; two objectives as in the default study,
told synthetic values. Optuna keeps the study in memory, so only the sampler is timed (a
study's sqlite store adds its own cost on top). Both modes are measured in one run.

    python studies/benchmarks/bench_tpe.py [--trials 100,1000,3000] [--repeats 10] [--json OUT]
"""

from __future__ import annotations

import math
import random
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from _common import median, parser, write_record
from rdlab.study.space import Param, parse_space

ROOT = Path(__file__).resolve().parents[2]


def ask(study: optuna.Study, params: list[Param]) -> tuple[optuna.Trial, dict[str, Any]]:
    trial = study.ask()
    point: dict[str, Any] = {}
    for p in params:
        if p.active(point):
            point[p.path] = p.domain.suggest(trial, p.path)
    return trial, point


def values(point: dict[str, Any], rng: random.Random) -> tuple[float, float]:
    """A made-up RD trade-off: a larger β, a lower rate and a higher distortion."""
    rate = 10.0 / (1.0 + point["objective.beta"]) + rng.random()
    return rate, 100.0 / (1.0 + rate) + math.log(point.get("objective.sigma.value", 1.0))


def per_proposal_ms(multivariate: bool, sizes: list[int], repeats: int) -> dict[int, float]:
    spec = yaml.safe_load((ROOT / "studies/specs/default.yaml").read_text())
    params = parse_space(spec["search"]["space"])
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=multivariate)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    rng = random.Random(0)
    out = {}
    for n in sizes:
        while len(study.trials) < n:
            trial, point = ask(study, params)
            study.tell(trial, values(point, rng))
        times = []
        for _ in range(repeats):  # asked, timed and failed: the finished trials stay n
            t0 = time.perf_counter()
            trial, _ = ask(study, params)
            times.append(time.perf_counter() - t0)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        out[n] = round(1000 * median(times), 2)
    return out


def main() -> int:
    p = parser("bench_tpe", __doc__)
    p.add_argument("--trials", default="100,1000,3000", help="finished trials to time at")
    p.add_argument("--repeats", type=int, default=10, help="proposals timed at each size")
    args = p.parse_args()
    sizes = sorted(int(s) for s in args.trials.split(","))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*sampled independently.*")
    rows = {mode: per_proposal_ms(mode == "multivariate", sizes, args.repeats)
            for mode in ("multivariate", "independent")}  # fmt: skip
    print("ms per proposal (median) at", ", ".join(f"{n} trials" for n in sizes))
    for mode, ms in rows.items():
        print(f"  {mode:<13}" + "".join(f"{ms[n]:>10.2f}" for n in sizes))
    write_record(args.json, {"ms_per_proposal": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
