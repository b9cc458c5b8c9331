"""The study driver: validate → MLflow parent run → Tune search → RD Parquet → frontier.

Used by ``studies/rd_frontier.py`` and ``rdlab study run``. Nothing is written before the
spec is valid; a finished trial's rows reach ``rd_points.parquet`` as soon as it ends.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdlab.config import flatten, set_path
from rdlab.errors import SpecError
from rdlab.study.spec import StudySpec, describe, parse_spec

SMOKE = {  # tiny and fast: CI runs every study script with --smoke-test
    "train.epochs": 2,
    "search.num_samples": 2,
    "max_concurrent": 2,
    "eval.iwae_k": 8,
    "eval.iwae_examples": 64,
    "eval.gmm_components": 4,
}


def smoke_spec(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for path, value in SMOKE.items():
        out = set_path(out, path, value)
    if out.get("search", {}).get("algorithm") == "grid":
        out["search"]["algorithm"] = "random"  # two random points of the same choices
    out["seeds"] = list(out.get("seeds", []))[:1]
    if out.get("model", {}).get("name", "mlp_resnet") == "mlp_resnet":
        out = set_path(out, "model.hidden", 64)
        out = set_path(out, "model.blocks", 2)
    return out


@dataclass
class StudyPaths:
    root: Path

    @property
    def points(self) -> Path:
        return self.root / "rd_points.parquet"

    @property
    def frontier(self) -> Path:
        return self.root / "frontier.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report.html"


def prepare(data: dict[str, Any], storage: Path, resume: bool) -> tuple[StudySpec, StudyPaths]:
    """Validate everything that can be checked before Ray starts; write nothing."""
    spec = parse_spec(data)
    paths = StudyPaths(Path(storage).resolve() / spec.name)
    if not resume and (paths.root / "tune").exists():
        raise SpecError(
            "--storage",
            f"{paths.root} already holds this study; pass --resume "
            "to continue it, or use another --storage or study name",
        )
    if resume and not (paths.root / "tune").exists():
        raise SpecError("--resume", f"nothing to resume at {paths.root}")
    return spec, paths


class PointsSink:
    """Merges each finished trial's rows into rd_points.parquet (atomic rewrite)."""

    def __init__(self, spec: StudySpec, paths: StudyPaths) -> None:
        self.spec = spec
        self.paths = paths
        self.lock = threading.Lock()

    def __call__(self, outcome: Any) -> None:
        from rdlab.frontier.io import merge_rd_points
        from rdlab.tune.runner import outcome_rows

        with self.lock:
            merge_rd_points(self.paths.points, outcome_rows(self.spec, outcome))


def run_study(
    data: dict[str, Any],
    storage: Path,
    tracking_uri: str | None = None,
    resume: bool = False,
    out: Any = None,
) -> int:
    out = out or sys.stdout

    def say(msg: str) -> None:
        print(msg, file=out, flush=True)

    spec, paths = prepare(data, storage, resume)
    from rdlab.track import StudyTracker, default_tracking_uri
    from rdlab.tune.runner import (
        init_ray,
        outcome_rows,
        replicate_points,
        run_search,
        summary_line,
    )
    from rdlab.tune.trainable import StudyContext

    paths.root.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(paths.root)
    say(describe(spec))
    t0 = time.perf_counter()
    tracker = StudyTracker(uri, spec.name, artifact_dir=paths.root / "mlartifacts")
    parent = tracker.start_parent(flatten({"spec": data}), resume=resume)
    init_ray()
    ctx = StudyContext(
        study=spec.name,
        base=spec.base,
        tracking_uri=uri,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent,
        threads=max(1, int(spec.model.resources.cpu)),
        fail_if=os.environ.get("RDLAB_FAIL_IF", ""),
    )
    sink = PointsSink(spec, paths)
    outcomes = run_search(spec, paths.root, ctx, sink, resume, progress=say)
    if spec.model.seeds and spec.search.algorithm.startswith("optuna"):
        reps = replicate_points(spec, outcomes)
        if reps:
            say(f"replicating {len(reps)} runs for seeds {list(spec.model.seeds)[1:]}")
            outcomes += run_search(
                spec,
                paths.root,
                ctx,
                sink,
                resume,
                progress=say,
                experiment="replicates",
                points=reps,
            )
    from rdlab.frontier.io import write_rd_points

    rows = [r for o in outcomes for r in outcome_rows(spec, o)]
    write_rd_points(rows, paths.points)
    tracker.mark_failed_trials({o.trial_id for o in outcomes if o.status == "failed"})
    wall = time.perf_counter() - t0
    say(f"{len(outcomes)} trials ({summary_line(outcomes)}) in {wall:.0f}s")
    report_paths = finish_report(spec, paths, say)
    tracker.log_artifacts([paths.points, *report_paths])
    tracker.log_metrics({"study_wall_s": wall, "trials": float(len(outcomes))})
    tracker.finish()
    say(f"RD points : {paths.points}")
    say(f"frontier  : {paths.frontier}")
    say(f"report    : {paths.report}")
    say(f"MLflow    : {uri}  (mlflow ui --backend-store-uri {uri})")
    say(f"Optuna    : optuna-dashboard sqlite:///{paths.root / 'optuna.db'}")
    return 0


def finish_report(spec: StudySpec, paths: StudyPaths, say: Any) -> list[Path]:
    """Frontier table, frontier.parquet, report.html and PNGs (issue 5's library)."""
    from rdlab.frontier.cli import study_report

    return list(study_report(paths.points, paths.root, title=spec.name, say=say))
