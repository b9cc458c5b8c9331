"""Run the seed papers' reproductions through the real study driver, check each claim
against the measured numbers, and write ``reproductions.md`` with tables, plots, verdicts.

    python studies/reproductions/run_all.py                   # 1–5 (`make reproduce`)
    python studies/reproductions/run_all.py --only bsvae      # one (or a comma list)
    python studies/reproductions/run_all.py --only multirate  # the multi-rate VAE (6)
    python studies/reproductions/run_all.py --smoke-test      # tiny: CI checks the path
    python studies/reproductions/run_all.py --report-only     # re-render from stored results

Every spec runs as a study (``rdlab.driver.runner.run_study``: Ray Tune locally, MLflow,
``<storage>/<study>/rd_points/``). A study whose RD points already exist in the
storage, run from the same spec, is reused unless ``--rerun``; so an interrupted ``make
reproduce`` continues where it stopped. The report covers every reproduction with results
in the storage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # `python studies/reproductions/run_all.py` from anywhere
    sys.path.insert(0, str(ROOT))
# The specs name a trial callback in this tree (studies.reproductions.selection); the local
# Ray cluster's workers inherit the environment, not sys.path.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

import pandas as pd  # noqa: E402

from studies.reproductions import budget  # noqa: E402
from studies.reproductions.catalog import BY_NAME, REPRODUCTIONS, Phase, Reproduction  # noqa: E402
from studies.reproductions.report import Outcome, PhaseRun, render  # noqa: E402
from studies.reproductions.selection import CALLBACK  # noqa: E402

META = "reproduction.json"
DEFAULT_STORAGE = ROOT / "runs" / "reproductions"
DEFAULT_OUT = ROOT / "docs" / "reproductions.md"
BASELINE = HERE / "baseline.json"  # the previous report's verdicts and what changed since
# Packing K grid points into one batched computation (spec `pack`, rdlab.train.packed) saves
# K − 1 process start-ups and, vmapped, ~1.3–3× per step (README "Packing"); each phase of
# the catalog names its own K, this is the default for a phase that does not.
DEFAULT_PACK = 8


class Tee:
    """Write the study driver's output to the terminal and to a per-study log file."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = ", ".join(r.name for r in REPRODUCTIONS)
    p.add_argument("--only", default=None, help=f"comma-separated names ({names}) or 'all'")
    p.add_argument("--smoke-test", action="store_true", help="2 tiny trials per spec, 1 seed")
    p.add_argument("--storage", default=None, help=f"storage root (default {DEFAULT_STORAGE})")
    p.add_argument("--out", default=None, help=f"report path (default {DEFAULT_OUT})")
    p.add_argument("--rerun", action="store_true", help="rerun studies that already have results")
    p.add_argument("--report-only", action="store_true", help="run nothing; re-render the report")
    p.add_argument(
        "--pack",
        type=int,
        default=DEFAULT_PACK,
        help=f"train up to K grid points per process as one batched computation where the "
        f"spec allows it (default {DEFAULT_PACK}; 1 turns packing off)",
    )
    return p.parse_args(argv)


def selected(only: str | None) -> list[Reproduction]:
    from rdlab.errors import SpecError

    if only is None:
        return [r for r in REPRODUCTIONS if r.default]
    if only == "all":
        return list(REPRODUCTIONS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    bad = [n for n in names if n not in BY_NAME]
    if bad or not names:
        raise SpecError("--only", f"unknown reproduction {bad or only!r}; known: {list(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def smoke(data: dict[str, Any]) -> dict[str, Any]:
    from rdlab.config_io import set_path
    from rdlab.driver.runner import smoke_spec

    out = smoke_spec(data)
    if not out.get("search", {}).get("space"):  # one configuration: nothing to sample
        out["search"]["algorithm"] = "grid"
    for path, value in (("eval.iwae_k", 0), ("eval.frechet", False)):
        out = set_path(out, path, value)
    tiny = {"batches_per_epoch": 5, "n_eval": 200}  # generated data: a few small batches
    for path, dom in out.get("search", {}).get("space", {}).items():
        if path == "train.epochs" and "choice" in dom:  # per-setting budgets: smoke-sized too
            dom["choice"] = sorted({min(int(e), 2) for e in dom["choice"]})
    if "batches_per_epoch" in out.get("dataset", {}):
        out["dataset"] = {**out["dataset"], **tiny}
    choices = out.get("search", {}).get("space", {}).get("dataset", {}).get("choice", [])
    for i, ds in enumerate(choices):
        if isinstance(ds, dict) and "batches_per_epoch" in ds:
            choices[i] = {**ds, **tiny}
    return out


def with_pack(data: dict[str, Any], pack: int) -> dict[str, Any]:
    """``data`` with ``pack: K`` when the spec has none and accepts one. A pack's members
    that cannot be vmapped (a PatchGAN term, a β-conditioned model) train one after
    another in one process (rdlab.train.packed): still one process start-up, not K."""
    from rdlab.errors import SpecError
    from rdlab.study.spec import parse_spec

    if pack <= 1 or "pack" in data:
        return data
    try:
        parse_spec({**data, "pack": pack})
    except SpecError:
        return data  # e.g. an adaptive search, which proposes one trial at a time
    return {**data, "pack": pack}


def run_phase(
    phase: Phase, points: pd.DataFrame, storage: Path, args: argparse.Namespace
) -> tuple[PhaseRun, pd.DataFrame]:
    """Run (or reuse) one spec; its RD points, or an empty table when it was skipped."""
    from rdlab.config import DatasetConfig
    from rdlab.config_io import load_yaml
    from rdlab.data import build_dataset
    from rdlab.driver.runner import run_study
    from rdlab.errors import DataNotFoundError
    from rdlab.frontier.dataset import RDDataset
    from rdlab.storage import Storage

    data = load_yaml(str(phase.path))
    if args.smoke_test:
        data = smoke(data)
    if phase.derive is not None:
        data = phase.derive(points, data)
    data = with_pack(data, args.pack if phase.pack is None else phase.pack)
    study = str(data["study"])
    root = storage / study
    meta_path = root / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    rd = RDDataset(Storage.parse(root))
    if rd.exists() and meta.get("data") == data and not args.rerun:  # same spec: reuse
        status, wall = "reused", float(meta.get("wall_s", math.nan))
        print(f"[{study}] reusing {root}", flush=True)
    else:
        try:  # the dataset's files, before anything is written (MNIST may be absent here)
            build_dataset(DatasetConfig.model_validate(data.get("dataset", {})))
        except DataNotFoundError as err:
            if not phase.optional:
                raise
            print(f"[{study}] skipped: {err}", flush=True)
            return PhaseRun(study, phase.spec, "skipped", note=str(err)), pd.DataFrame()
        if args.report_only:
            note = "no results stored"
            return PhaseRun(study, phase.spec, "skipped", note=note), pd.DataFrame()
        if root.exists():
            shutil.rmtree(root)  # incomplete or --rerun: start clean
        root.mkdir(parents=True)
        t0 = time.perf_counter()
        with open(storage / f"{study}.log", "w", encoding="utf-8") as log:
            rc = run_study(data, storage, out=Tee(sys.stdout, log))
        wall = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(rc)
        meta_path.write_text(json.dumps({"spec": phase.spec, "wall_s": wall, "data": data}))
        status = "ran"
    table = rd.read()
    run = _phase_run(study, phase.spec, status, wall, table)
    run.selected = CALLBACK in data.get("callbacks", [])
    return run, table


def _phase_run(study: str, spec: str, status: str, wall: float, table: pd.DataFrame) -> PhaseRun:
    ep = table[table["epoch"].notna() & (table["split"] == "val")]
    trials = int(table["trial_id"].nunique())
    return PhaseRun(study, spec, status, wall, trials, len(ep))


def run_reproduction(repro: Reproduction, storage: Path, args: argparse.Namespace) -> Outcome:
    from studies.reproductions.probes import run_probes

    runs: list[PhaseRun] = []
    tables: list[pd.DataFrame] = []
    for phase in repro.phases:
        if phase.derive is not None and not tables:
            runs.append(
                PhaseRun("", phase.spec, "skipped", note="the phase it builds on has no results")
            )
            continue
        points = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        run, table = run_phase(phase, points, storage, args)
        runs.append(run)
        if table.empty:
            continue
        if repro.probes:
            probes = run_probes(storage / run.study, repro.probes)
            if not probes.empty:
                table = table.merge(probes, on="params", how="left")
        tables.append(table)
    if not tables:
        return Outcome(repro, None, runs)
    points = pd.concat(tables, ignore_index=True)
    selected = any(r.selected for r in runs)
    lines = budget.describe(points, selected)
    return Outcome(repro, repro.check().verdict(points), runs, lines)


def main(argv: list[str] | None = None) -> int:
    from rdlab.cli import run_guarded

    args = parse_args(argv)

    def go() -> int:
        default_storage = DEFAULT_STORAGE.with_name("reproductions-smoke")
        storage = Path(args.storage or (default_storage if args.smoke_test else DEFAULT_STORAGE))
        storage = storage.resolve()
        storage.mkdir(parents=True, exist_ok=True)
        out = (
            Path(args.out)
            if args.out
            else (storage / "reproductions.md" if args.smoke_test else DEFAULT_OUT)
        )
        chosen = {r.name for r in selected(args.only)}
        outcomes = []
        for repro in REPRODUCTIONS:  # the report lists every reproduction with stored results
            run_it = repro.name in chosen and not args.report_only
            # The others are only rendered from their stored results: --rerun is not theirs.
            only_render = {"report_only": True, "rerun": False}
            sub = args if run_it else argparse.Namespace(**{**vars(args), **only_render})
            t0 = time.perf_counter()
            outcome = run_reproduction(repro, storage, sub)
            if run_it:
                print(f"== {repro.name}: {_status(outcome)} ({time.perf_counter() - t0:.0f}s)")
            if outcome.verdict is not None or run_it:
                outcomes.append(outcome)
        command = "python studies/reproductions/run_all.py" + (
            f" {' '.join(sys.argv[1:])}" if argv is None and sys.argv[1:] else ""
        )
        baseline = json.loads(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else {}
        md = render(outcomes, out, out.parent / "reproductions", command, baseline)
        for o in outcomes:
            print(f"{o.repro.name:<12} {_status(o)}")
        print(f"report  : {md}\nverdicts: {md.with_suffix('.json')}")
        return 0

    return run_guarded(go)


def _status(o: Outcome) -> str:
    return "no results" if o.verdict is None else o.verdict.status


if __name__ == "__main__":
    sys.exit(main())
