"""The study driver: validate → storage → cluster checks → MLflow parent run → Tune search →
RD dataset → frontier and report.

Used by ``studies/rd_frontier.py`` and ``rdlab study run``. Nothing is written before the
spec, the command line and the cluster's fitness for them are checked; a finished trial's
rows reach the RD dataset as soon as it ends. See the README's exit-status table.
"""

from __future__ import annotations

import copy
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rdlab.config_io import flatten, set_path
from rdlab.driver.lease import Lease
from rdlab.driver.preflight import Plan, check_cluster, estimate_bytes, plan_study
from rdlab.errors import SpecError
from rdlab.evaluate.classifier import ShippedClassifier, dataset_key, to_bytes, warm_cache
from rdlab.storage import StorageUnavailable, human_bytes, is_no_space
from rdlab.study.spec import StudySpec, describe
from rdlab.track import StudyTracker, TrackingRefused, TrackingUnavailable, redact_uri
from rdlab.tune.outcome import TrialOutcome
from rdlab.tune.runner import (
    NoSpaceLeft,
    StudyInterrupted,
    init_ray,
    replicate_points,
    run_search,
    summary_line,
)
from rdlab.tune.trainable import STUDY_MARKER, StudyContext
from rdlab.version import code_version, git_commit

SMOKE = {  # tiny and fast: CI runs every study script with --smoke-test
    "train.epochs": 2,
    "search.num_samples": 2,
    "max_concurrent": 2,
    "eval.iwae_k": 8,
    "eval.iwae_examples": 64,
    "eval.gmm_components": 4,
}

WRITER_CLOSE_S = 60.0  # on an interrupt or error: the RD rows still queued get this long

# Exit statuses (README "Exit status"): 0 finished; 2 bad input, nothing written.
EXIT_TRIALS_FAILED = 3  # some trials failed after their retries; the others are results
EXIT_NOTHING_FINISHED = 4  # no trial finished (all failed, or none ran)
# sysexits' EX_TEMPFAIL: nothing is wrong with the input, try again later (--resume).
EXIT_UNAVAILABLE = 75
EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C'ed command
EXIT_TERMINATED = 143  # 128 + SIGTERM, what Kubernetes sends to stop a pod


class Terminated(BaseException):
    """SIGTERM outside the search (the search hands it to Tune, as Ctrl-C)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def _watch_sigterm() -> None:
    """SIGTERM stops the driver cleanly (exit 143, one line) instead of Ray's default,
    which aborts with a C++ stack dump. Installed again after ``ray.init``, which puts
    Ray's own handler in place."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


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


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    data: dict[str, Any]
    storage: str = "runs"
    tracking_uri: str | None = None
    resume: bool | str = False  # False, True (must exist) or "auto" (resume if it exists)
    optuna_storage: str | None = None


def run_study(
    data: dict[str, Any],
    storage: str | Any = "runs",
    tracking_uri: str | None = None,
    resume: bool | str = False,
    out: Any = None,
    optuna_storage: str | None = None,
) -> int:
    """Run a study; returns the exit status (README). Bad input raises SpecError before
    anything is written (the command line prints it and exits 2)."""
    out = out or sys.stdout

    def say(msg: str) -> None:
        print(msg, file=out, flush=True)

    _watch_sigterm()
    req = Request(data, str(storage), tracking_uri, resume, optuna_storage)
    plan = plan_study(req.data, req.storage, req.tracking_uri, req.resume, req.optuna_storage)
    lease = Lease(plan.study)
    lease.check_free()  # another driver holds the study: refused, nothing written
    try:
        return _run(req, plan, lease, say)
    except StudyInterrupted as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return EXIT_TERMINATED if err.signum == signal.SIGTERM else EXIT_INTERRUPTED
    except Terminated:
        print(
            "error: the study was terminated (SIGTERM); finished trials are kept, rerun "
            "with --resume to continue the others",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_TERMINATED
    except NoSpaceLeft as err:
        return _no_space(plan, str(err))
    except OSError as err:
        if is_no_space(err):
            return _no_space(plan, str(err))
        raise
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the search
        print(
            "error: interrupted; finished trials are kept, rerun with --resume to continue",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED
    except StorageUnavailable as err:
        print(
            f"error: --storage: {err}; check the endpoint (AWS_ENDPOINT_URL) and "
            "credentials, then rerun (with --resume if trials ran)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_UNAVAILABLE
    except TrackingUnavailable as err:
        # A tracking outage longer than the retry window: one clear line, resumable state.
        if plan.outputs.started():
            then = (
                "finished trials are kept (RD points, trial checkpoints); rerun "
                "with --resume once the server is back"
            )
        else:
            then = "no trial has run; rerun once the server is back"
        print(f"error: {err}; {then}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    except TrackingRefused as err:
        print(f"error: --tracking-uri: {err}", file=sys.stderr, flush=True)
        return 2
    except Exception as err:
        if is_no_space(err) or _disk_full(plan):
            # sqlite, Optuna, MLflow: a full disk under another name; or an error that is
            # only its echo, e.g. Ray's EOFError on a trial's error file cut off at 0 bytes
            return _no_space(plan, f"{type(err).__name__}: {err}")
        raise
    finally:
        # The writer's thread finishes its file before another driver may take the study.
        plan.outputs.close(timeout=WRITER_CLOSE_S)
        lease.release()


DISK_FULL_BYTES = 1 << 20  # below this, a local study's disk counts as full


def _disk_full(plan: Plan) -> bool:
    free = plan.study.free_bytes()
    return free is not None and free < DISK_FULL_BYTES


def _no_space(plan: Plan, detail: str) -> int:
    """A full disk, named: where, how much is free, what to do. Exit 75 (try again)."""
    free = plan.study.free_bytes()
    where = plan.study.uri
    for word in detail.replace("'", " ").split():
        if word.startswith("/") and len(word) > 1:
            where = word.rstrip(":,)")
            break
    room = f" ({human_bytes(free)} free)" if free is not None else ""
    print(
        f"error: no space left on {where}{room}; finished trials are kept; free space and "
        "rerun with --resume",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_UNAVAILABLE


def _run(req: Request, plan: Plan, lease: Lease, say: Callable[[str], None]) -> int:
    spec, study = plan.spec, plan.study
    plan.outputs.probe()  # an object store that cannot be reached fails here, in one line
    say(describe(spec))
    t0 = time.perf_counter()
    init_ray()
    _watch_sigterm()  # after ray.init, which installs Ray's own
    cluster = check_cluster(plan)  # refuses what cannot work on this cluster (exit 2)
    for note in cluster.notes:
        say(note)
    lease.acquire()  # one driver per study, from here to the end
    free, need = study.free_bytes(), estimate_bytes(spec)
    if free is not None and free < need:
        say(
            f"warning: {study.uri} has {human_bytes(free)} free, and this study needs about "
            f"{human_bytes(need)} (checkpoints, pictures, RD points)"
        )
    study.makedirs()
    study.write_bytes(STUDY_MARKER, f"{spec.name}\n".encode())
    tracker = StudyTracker(plan.tracking_uri, spec.name, artifact_dir=plan.artifact_dir)
    version = code_version()
    tags = {"rdlab.code_version": version, "rdlab.storage": study.uri}
    commit = git_commit()
    if commit:
        tags["rdlab.git_commit"] = commit
    parent = tracker.start_parent(flatten({"spec": req.data}), resume=plan.resume, tags=tags)
    classifier = ship_frechet_classifier(spec, plan, say)
    ctx = StudyContext(
        study=spec.name,
        base=spec.base,
        storage=study,
        tracking_uri=plan.tracking_uri,
        experiment_id=tracker.experiment_id,
        parent_run_id=parent,
        threads=max(1, int(spec.model.resources.cpu)),
        splits=tuple(spec.base_config.eval.splits),
        classifier=classifier,
        log_checkpoint=spec.model.log_checkpoint,
        callbacks=tuple(spec.model.callbacks),
        gpu=spec.model.resources.gpu,
    )
    outputs = plan.outputs
    outputs.open(resume=plan.resume)
    sink = outputs.sink(spec)
    search = dict(progress=say, optuna_url=plan.optuna_url)
    outcomes = run_search(spec, study, ctx, sink, plan.resume, **search)  # type: ignore[arg-type]
    if spec.model.seeds and spec.algorithm.adaptive:
        reps = replicate_points(spec, outcomes)
        if reps:
            say(f"replicating {len(reps)} runs for seeds {list(spec.model.seeds)[1:]}")
            outcomes += run_search(
                spec,
                study,
                ctx,
                sink,
                plan.resume,
                experiment="replicates",
                points=reps,
                **search,  # type: ignore[arg-type]
            )
    outputs.finish(spec, outcomes, say)
    failed = [o for o in outcomes if o.status == "failed"]
    tracker.mark_failed([(o.trial_id, o.run_id, o.failure or "error") for o in failed])
    wall = time.perf_counter() - t0
    say(f"{len(outcomes)} trials ({summary_line(outcomes)}) in {wall:.0f}s")
    versions = sorted({o.code_version for o in outcomes if o.code_version})
    if versions and versions != [version]:
        say(f"warning: trials ran code {', '.join(versions)}; the driver runs {version}")
    report_files = outputs.report(spec, say)
    tracker.log_artifacts(report_files)
    tracker.log_metrics({"study_wall_s": wall, "trials": float(len(outcomes))})
    tracker.finish("FAILED" if failed else "FINISHED")
    say(f"RD points : {outputs.points_uri}")
    say(f"frontier  : {study.uri_of('frontier.parquet')}")
    say(f"report    : {study.uri_of('report.html')}")
    uri = plan.tracking_uri
    hint = f"  (mlflow ui --backend-store-uri {uri})" if uri.startswith("sqlite:") else ""
    say(f"MLflow    : {redact_uri(uri)}{hint}")  # never print a password from the URI
    if plan.optuna_url:
        say(f"Optuna    : optuna-dashboard {redact_uri(plan.optuna_url)}")
    return exit_status(outcomes, say)


def exit_status(outcomes: list[TrialOutcome], say: Callable[[str], None]) -> int:
    """0 when every trial ended with a result (ok, diverged, stopped early); 3 when some
    failed after their retries; 4 when none finished."""
    failed = [o for o in outcomes if o.status == "failed"]
    if not outcomes or len(failed) == len(outcomes):
        print(
            f"error: no trial finished ({len(failed)} failed); see the errors above, fix, "
            "and rerun with --resume",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_NOTHING_FINISHED
    if failed:
        ids = ", ".join(o.trial_id for o in failed[:10]) + (" …" if len(failed) > 10 else "")
        print(
            f"error: {len(failed)} of {len(outcomes)} trials failed ({ids}); the others are "
            "kept, rerun with --resume to retry the failed ones",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_TRIALS_FAILED
    return 0


def ship_frechet_classifier(
    spec: StudySpec, plan: Plan, say: Callable[[str], None]
) -> ShippedClassifier | None:
    """Train the Fréchet classifier of the study's dataset once, on the driver, and ship it
    to every trial (Ray's object store carries it with the trial's context): trials on
    different nodes then measure distances in one feature space. Cached in the study's
    ``trials/.cache/frechet/`` so a resumed study reuses it."""
    cfg = spec.base_config
    if not cfg.eval.frechet or any(p.path.startswith("dataset.") for p in spec.params):
        return None
    cache = plan.local_cache / "frechet"
    t0 = time.perf_counter()
    cached = plan.outputs.fetch_classifier(cache, cfg)
    clf = warm_cache(cfg, cache)
    if clf is None:
        return None
    raw = to_bytes(clf.net, clf.test_acc, cfg.dataset.flat())
    if clf.trained or not cached:
        plan.outputs.store_classifier(cfg, raw)
    if clf.trained:
        say(
            f"Fréchet classifier for {cfg.dataset.name}: test accuracy {clf.test_acc:.3f} "
            f"({time.perf_counter() - t0:.1f}s, shipped to every trial)"
        )
    return ShippedClassifier(raw=raw, key=dataset_key(cfg.dataset.flat()))


def _spec_error(field: str, message: str) -> SpecError:
    return SpecError(field, message)
