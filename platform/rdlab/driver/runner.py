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

from rdlab.config_io import flatten, set_path
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
        # A grid ignores num_samples: two random points of the same choices instead.
        out["search"]["algorithm"] = "random"
    # Sections of the wrong type are left as they are, for parse_spec to refuse by name.
    if isinstance(out.get("seeds"), list):
        out["seeds"] = out["seeds"][:1]
    model = out.get("model", {})
    if isinstance(model, dict) and model.get("name", "mlp_resnet") == "mlp_resnet":
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


def prepare(
    data: dict[str, Any], storage: Path, resume: bool, tracking_uri: str | None = None
) -> tuple[StudySpec, StudyPaths]:
    """Validate everything that can be checked before Ray starts; write nothing."""
    from rdlab.track import check_tracking_uri  # lazy: MLflow, only once the spec is valid

    spec = parse_spec(data)
    if tracking_uri is not None:
        check_tracking_uri(tracking_uri)
    for parent in (Path(storage), *Path(storage).parents):
        if parent.exists():  # the nearest existing ancestor must be a folder we can fill
            if not parent.is_dir():
                raise SpecError("--storage", f"{parent} exists and is not a directory")
            break
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
        from rdlab.frontier.io import merge_rd_points  # lazy: pyarrow
        from rdlab.tune.runner import outcome_rows  # lazy: Ray Tune

        with self.lock:
            try:
                merge_rd_points(self.paths.points, outcome_rows(self.spec, outcome))
            except (OSError, ValueError) as err:  # RDPointsError is a ValueError
                # Raised inside a Tune callback it would end a days-long study; every
                # trial's rows are written again, from Tune's results, when the study ends.
                print(
                    f"warning: could not add trial {outcome.trial_id} to "
                    f"{self.paths.points} ({err}); its rows are written when the study ends",
                    file=sys.stderr,
                    flush=True,
                )


# sysexits' EX_TEMPFAIL: nothing is wrong with the input, try again later (--resume).
EXIT_TRACKING_UNAVAILABLE = 75
EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C'ed command


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

    spec, paths = prepare(data, storage, resume, tracking_uri)
    from rdlab.track import TrackingUnavailable  # lazy: MLflow, only for a valid spec
    from rdlab.tune.runner import StudyInterrupted  # lazy: Ray Tune, only for a valid spec

    try:
        return _run(data, spec, paths, tracking_uri, resume, say)
    except StudyInterrupted as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the search
        print(
            "error: interrupted; finished trials are kept, rerun with --resume to continue",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    except TrackingUnavailable as err:
        # A tracking outage longer than the retry window: one clear line, resumable state.
        if (paths.root / "tune").exists():
            then = (
                "finished trials are kept (rd_points.parquet, trial checkpoints); rerun "
                "with --resume once the server is back"
            )
        else:
            then = "no trial has run; rerun once the server is back"
        print(f"error: {err}; {then}", file=sys.stderr, flush=True)
        return EXIT_TRACKING_UNAVAILABLE


def _run(
    data: dict[str, Any],
    spec: StudySpec,
    paths: StudyPaths,
    tracking_uri: str | None,
    resume: bool,
    say: Any,
) -> int:
    # MLflow, Ray Tune and torch load only once the spec is valid: bad input exits 2 fast.
    from rdlab.track import StudyTracker, default_tracking_uri, redact_uri  # lazy: MLflow
    from rdlab.tune.runner import (  # lazy: Ray Tune
        init_ray,
        outcome_rows,
        replicate_points,
        run_search,
        summary_line,
    )
    from rdlab.tune.trainable import StudyContext  # lazy: Ray Tune, torch

    paths.root.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or default_tracking_uri(paths.root)
    say(describe(spec))
    t0 = time.perf_counter()
    # Local sqlite store: artifacts beside it. A server picks its own (proxied) store.
    local_artifacts = paths.root / "mlartifacts" if tracking_uri is None else None
    tracker = StudyTracker(uri, spec.name, artifact_dir=local_artifacts)
    parent = tracker.start_parent(flatten({"spec": data}), resume=resume)
    warm_frechet_classifier(spec, paths, say)
    init_ray()
    ctx = StudyContext(
        study=spec.name,
        base=spec.base,
        tracking_uri=uri,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent,
        threads=max(1, int(spec.model.resources.cpu)),
        fail_if=os.environ.get("RDLAB_FAIL_IF", ""),
        study_dir=str(paths.root),
    )
    sink = PointsSink(spec, paths)
    outcomes = run_search(spec, paths.root, ctx, sink, resume, progress=say)
    if spec.model.seeds and spec.algorithm.adaptive:
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
    from rdlab.frontier.io import write_rd_points  # lazy: pyarrow

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
    hint = f"  (mlflow ui --backend-store-uri {uri})" if uri.startswith("sqlite:") else ""
    say(f"MLflow    : {redact_uri(uri)}{hint}")  # never print a password from the URI
    say(f"Optuna    : optuna-dashboard sqlite:///{paths.root / 'optuna.db'}")
    return 0


def warm_frechet_classifier(spec: StudySpec, paths: StudyPaths, say: Any) -> None:
    """Train the Fréchet classifier of the study's dataset once, where its trials look for
    it (``<study>/trials/.cache``), unless the search varies the dataset or the Fréchet
    switch (then each trial finds or trains its own)."""
    if any(p.path.startswith(("dataset.", "eval.frechet")) for p in spec.params):
        return
    from rdlab.evaluate import resolve_cache_dir  # lazy: torch, scikit-learn
    from rdlab.evaluate.classifier import warm_cache  # lazy: torch, scikit-learn

    cache = resolve_cache_dir(paths.root / "trials" / "any") / "frechet"
    t0 = time.perf_counter()
    clf = warm_cache(spec.base_config, cache)
    if clf is not None and clf.trained:
        say(
            f"Fréchet classifier for {spec.base_config.dataset.name}: test accuracy "
            f"{clf.test_acc:.3f} ({time.perf_counter() - t0:.1f}s, cached in {cache})"
        )


def finish_report(spec: StudySpec, paths: StudyPaths, say: Any) -> list[Path]:
    """Frontier table, frontier.parquet, report.html and PNGs (issue 5's library)."""
    from rdlab.dashboards.report import study_report  # lazy: pandas, plotly, matplotlib

    return list(study_report(paths.points, paths.root, title=spec.name, say=say))
